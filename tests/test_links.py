"""Badges and Colab set-up cells are generated from course_lib/links.py, everywhere."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import links
from course_lib.authoring.badges import apply_links, link_problems
from course_lib.authoring.readme import CHAPTERS, chapter_table

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    path
    for folder in ("notebooks", "solutions", "tests/fixtures/notebooks", "tests/fixtures/solutions")
    for path in (REPO_ROOT / folder).glob("[0-9][0-9]_*.ipynb")
)
FIX = "run `python -m course_lib.authoring.generate --clean-solutions`"


def test_badges_point_at_the_repository():
    path = "notebooks/01_infini_attention.ipynb"
    assert links.colab_badge(path) == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/ml-paper-rebuilds/course/blob/main/notebooks/01_infini_attention.ipynb)"
    )
    assert links.binder_badge(path).endswith(
        "(https://mybinder.org/v2/gh/ml-paper-rebuilds/course/main?urlpath=lab/tree/notebooks/01_infini_attention.ipynb)"
    )


def test_colab_setup_does_nothing_outside_colab():
    assert "google.colab" not in sys.modules
    source = links.colab_setup_source()
    assert links.REPO_URL in source and "--no-deps" in source
    namespace: dict = {}
    exec(compile(source, "colab-setup", "exec"), namespace)
    assert "repo_dir" not in namespace


def test_apply_links_inserts_then_rewrites():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\nText.", id="t")])
    apply_links(nb, "notebooks/00_x.ipynb")
    assert link_problems(nb, "notebooks/00_x.ipynb") == []
    assert nb.cells[0].source.startswith("# Title\n\n<!-- badges -->\n[![Open In Colab]")
    assert nb.cells[1].metadata["tags"] == ["colab-setup"]
    nb.cells[0].source = nb.cells[0].source.replace("ml-paper-rebuilds", "someone-else")
    nb.cells[1].source = "print('hand-written')"
    assert len(link_problems(nb, "notebooks/00_x.ipynb")) == 2
    apply_links(nb, "notebooks/00_x.ipynb")
    assert link_problems(nb, "notebooks/00_x.ipynb") == [] and len(nb.cells) == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_notebook_badges_and_colab_cell_come_from_links(path):
    nb = nbformat.read(path, as_version=4)
    problems = link_problems(nb, path.relative_to(REPO_ROOT).as_posix())
    assert not problems, f"{path}: {'; '.join(problems)}; {FIX}"


def test_readme_chapter_table_is_generated():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert chapter_table() in readme, "README.md's chapter table is out of date: run `python -m course_lib.authoring.generate`"


def test_readme_badges_are_the_generated_ones():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)", readme)
    expected = [badge for ch in CHAPTERS if ch.released for badge in (links.colab_badge(ch.path), links.binder_badge(ch.path))]
    assert found == expected


def test_released_chapters_have_notebooks():
    for chapter in CHAPTERS:
        if chapter.released:
            assert (REPO_ROOT / "solutions" / chapter.notebook).exists(), f"chapter {chapter.number} is released but has no solution"
            assert (REPO_ROOT / chapter.path).exists(), f"chapter {chapter.number} is released but {chapter.path} is missing"


def test_colab_cell_installs_the_course_once_and_leaves_torch_alone(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys
    import types

    from course_lib import links

    repo_dir, marker, constraints = tmp_path / "course", tmp_path / "installed", tmp_path / "constraints.txt"
    source = (
        links.colab_setup_source()
        .replace("/content/course", str(repo_dir))
        .replace("/tmp/course_installed", str(marker))
        .replace("/tmp/colab_constraints.txt", str(constraints))
    )
    commands, moves = [], []

    def fake_run(cmd, check=False):
        commands.append(cmd)
        if cmd[:2] == ["git", "clone"]:
            (repo_dir / "notebooks").mkdir(parents=True)
            (repo_dir / "requirements.txt").write_text((REPO_ROOT / "requirements.txt").read_text())

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(os, "chdir", moves.append)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(source, {})
    pip_calls = [cmd for cmd in commands if "pip" in cmd]
    assert len(pip_calls) == 2 and any(cmd[:2] == ["git", "clone"] for cmd in commands)
    requirements = pip_calls[0][pip_calls[0].index(str(constraints)) + 1 :]
    assert requirements and not any(req.split(">")[0].split("=")[0] in ("torch", "torchvision", "torchaudio") for req in requirements)
    assert "torch==" in constraints.read_text()  # this environment's torch pinned as a constraint
    assert pip_calls[1][-3:] == ["--no-deps", "-e", str(repo_dir)]
    assert moves == [str(repo_dir / "notebooks")]
    commands.clear()
    exec(source, {})  # a second run: nothing cloned or installed again
    assert commands == []


def test_colab_cell_does_nothing_elsewhere(monkeypatch):
    import subprocess
    import sys

    from course_lib import links

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran a command")))
    exec(links.colab_setup_source(), {})
