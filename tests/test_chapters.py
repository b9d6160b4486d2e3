"""Every released chapter has the six pieces of the README's "Adding a chapter" checklist."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from course_lib import assets, config
from course_lib.authoring import readme
from course_lib.authoring.checklist import REPO_ROOT, missing_pieces

RELEASED = [ch.number for ch in readme.CHAPTERS if ch.released]


@pytest.mark.parametrize("number", RELEASED)
def test_released_chapter_has_every_piece(number):
    assert missing_pieces(number) == []


def _copy_of_chapter_01(tmp_path):
    """A minimal repository holding chapter 01's pieces (the files the checklist looks for)."""
    for rel in ("data/MANIFEST.json", "course_lib/grading/checks_01.py", "solutions/01_infini_attention.ipynb",
                "notebooks/01_infini_attention.ipynb", "tests/test_checks_01.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / rel, tmp_path / rel)
    return tmp_path


def test_checklist_finds_each_planted_gap(tmp_path):
    root = _copy_of_chapter_01(tmp_path)
    assert missing_pieces("01", root) == []
    (root / "tests" / "test_checks_01.py").unlink()
    (root / "notebooks" / "01_infini_attention.ipynb").unlink()
    gaps = missing_pieces("01", root)
    assert any("tests/test_checks_01.py" in gap for gap in gaps) and any(gap.startswith("notebooks/") for gap in gaps)
    (root / "course_lib" / "grading" / "checks_01.py").unlink()
    assert any("checks_01.py" in gap for gap in missing_pieces("01", root))


def test_checklist_finds_missing_settings_row_and_asset(tmp_path):
    root = _copy_of_chapter_01(tmp_path)
    no_settings = {k: v for k, v in config.CHAPTERS.items() if k != "01"}
    assert any("CHAPTER_01" in gap for gap in missing_pieces("01", root, settings=no_settings))
    unreleased = tuple(dataclasses.replace(ch, released=False) if ch.number == "01" else ch for ch in readme.CHAPTERS)
    assert any("released=True" in gap for gap in missing_pieces("01", root, chapters=unreleased))
    extra = {**assets.RECIPES, "ch01_unbuilt": assets.Recipe("ch01_unbuilt", "x.safetensors", "m:f", 0, "never built")}
    assert any("ch01_unbuilt" in gap for gap in missing_pieces("01", root, recipes=extra))
