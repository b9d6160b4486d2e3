"""What a released chapter must have: the contributor's checklist of the README, as code (all chapters).

Adding a chapter NN touches these places (the README's "Adding a chapter" lists them in order):

1. ``course_lib/config.py``: ``CHAPTER_NN`` (reduced and full side by side) in ``CHAPTERS``;
2. ``course_lib/authoring/readme.py``: the chapter's row in ``CHAPTERS``, ``released=True``;
3. ``course_lib/assets.py``: a ``Recipe`` for each shipped asset named ``chNN_*`` (none if it ships none), built
   into ``data/`` and recorded in ``data/MANIFEST.json``;
4. ``course_lib/grading/checks_NN.py``: the checkers its check cells call;
5. ``solutions/NN_*.ipynb``: the executed solution notebook (and ``notebooks/NN_*.ipynb`` generated from it);
6. ``tests/test_checks_NN.py``: tests that each checker rejects wrong learner code.

:func:`missing_pieces` lists what a chapter lacks; ``tests/test_chapters.py`` asserts it is empty for every
released chapter.
"""

from __future__ import annotations

import json
from pathlib import Path

from course_lib import assets, config
from course_lib.authoring import readme

REPO_ROOT = Path(__file__).resolve().parents[2]


def missing_pieces(number: str, root: Path = REPO_ROOT, chapters: tuple[readme.Chapter, ...] = readme.CHAPTERS,
                   settings: dict | None = None, recipes: dict | None = None) -> list[str]:
    """The checklist items chapter ``number`` lacks under ``root`` (empty when it has all six)."""
    settings = config.CHAPTERS if settings is None else settings
    recipes = assets.RECIPES if recipes is None else recipes
    missing = []
    if number not in settings:
        missing.append(f"course_lib/config.py: no CHAPTER_{number} in CHAPTERS")
    row = next((ch for ch in chapters if ch.number == number), None)
    if row is None:
        missing.append(f"course_lib/authoring/readme.py: no row for chapter {number} in CHAPTERS")
    elif not row.released:
        missing.append(f"course_lib/authoring/readme.py: chapter {number} is not marked released=True")
    manifest = root / "data" / assets.MANIFEST_NAME
    shipped = json.loads(manifest.read_text(encoding="utf-8"))["assets"] if manifest.exists() else {}
    for name in sorted(n for n in recipes if n.startswith(f"ch{number}_")):
        if name not in shipped:
            missing.append(f"data/MANIFEST.json: recipe {name!r} is not built (python -m course_lib.assets build {name})")
    if not (root / "course_lib" / "grading" / f"checks_{number}.py").exists():
        missing.append(f"course_lib/grading/checks_{number}.py: no checkers")
    notebook = row.notebook if row else f"{number}_*.ipynb"
    for folder in ("solutions", "notebooks"):
        if not list((root / folder).glob(notebook)):
            missing.append(f"{folder}/{notebook}: no notebook")
    if not (root / "tests" / f"test_checks_{number}.py").exists():
        missing.append(f"tests/test_checks_{number}.py: no tests of the checkers")
    return missing
