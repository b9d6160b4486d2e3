"""The last check of a chapter prints which exercises are still open; the grader's sanitizer
masks that line, so it never decides whether the last check passes."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from course_lib.grading import checking, checks_01, checks_02, checks_03, checks_04, checks_06, checks_07
from course_lib.grading.checking import CheckFailed, progress_line, run

SANITIZER = Path(__file__).resolve().parent / "nbval_sanitize.cfg"


def _sanitize(text: str) -> str:
    config = configparser.ConfigParser(interpolation=None)
    config.read(SANITIZER, encoding="utf-8")
    for section in config.sections():
        text = re.sub(config[section]["regex"], config[section]["replace"], text)
    return text


@pytest.mark.parametrize("module", [checks_01, checks_02, checks_03, checks_04, checks_06, checks_07], ids=lambda m: m.__name__[-2:])
def test_every_chapter_lists_its_exercises(module):
    chapter = module.__name__[-2:]
    assert len(module.EXERCISES) >= 4
    assert all(check_id.startswith(f"{chapter}-") for check_id in module.EXERCISES)


def test_progress_names_the_open_exercises_and_is_masked(monkeypatch):
    monkeypatch.setattr(checking, "_PASSED", {"01-1", "01-2"})
    exercises = {"01-1": "a", "01-2": "b", "01-3": "c"}
    line = progress_line("01", exercises)
    assert "1 of 3 exercises still open" in line and "01-3 c" in line
    monkeypatch.setattr(checking, "_PASSED", set(exercises))
    solved = progress_line("01", exercises)
    assert solved == "progress of chapter 01: all 3 exercises pass in this kernel"
    assert _sanitize(line) == _sanitize(solved) == "EXERCISE-PROGRESS"


def test_the_last_check_reports_progress_even_when_it_fails(monkeypatch, capsys):
    monkeypatch.setattr(checking, "_PASSED", set())

    def wrong():
        raise CheckFailed("wrong")

    with pytest.raises(CheckFailed):
        run("09-2", "last", wrong, chapter_exercises={"09-1": "first", "09-2": "last"})
    assert "2 of 2 exercises still open" in capsys.readouterr().out


def test_an_experiment_on_open_exercises_fails_with_their_names(monkeypatch):
    monkeypatch.setattr(checking, "_PASSED", {"03-1"})
    with pytest.raises(CheckFailed, match=r"exercise 03-2 \(SwiGLU and its hidden size\)"):
        checks_03.require("03-1", "03-2", what="Table 17")
    monkeypatch.setattr(checking, "_PASSED", {"03-1", "03-2"})
    checks_03.require("03-1", "03-2")
