"""Which chapter a notebook is (metadata, then tags, never the file name), and what is wrong with a file
that is not a notebook: no kernel runs here."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib.grading.chapter import find_solution, notebook_chapter
from course_lib.grading.grader import default_solution
from course_lib.grading.merge import GradingError
from course_lib.grading.notebook_file import notebook_problem, read_notebook

FIXTURES = Path(__file__).parent / "fixtures"
LEARNER = FIXTURES / "notebooks" / "00_fixture.ipynb"


def _tagged(*tags: str) -> nbformat.NotebookNode:
    cells = []
    for index, tag in enumerate(tags):
        cell = new_code_cell("pass", id=f"c{index}")
        cell.metadata["tags"] = ["check", tag]
        cells.append(cell)
    return new_notebook(cells=cells)


def test_chapter_comes_from_metadata_first():
    nb = _tagged("check-02-1")
    nb.metadata["course"] = {"chapter": "01"}
    assert notebook_chapter(nb).chapter == "01"
    assert notebook_chapter(nb).source == "course.chapter metadata"


def test_without_metadata_the_tags_name_the_chapter():
    info = notebook_chapter(_tagged("check-03-1", "check-03-2", "exercise-03-2", "check-99-1"))
    assert (info.chapter, info.source) == ("03", "its check and exercise tags")


@pytest.mark.parametrize("nb, words", [
    (new_notebook(cells=[new_code_cell("x = 1")]), "no course.chapter metadata and no check-NN-K"),
    (_tagged("check-01-1", "check-02-1"), "name chapters 01 (1) and 02 (1) equally often"),
])
def test_a_notebook_that_names_no_single_chapter_says_why(nb, words):
    info = notebook_chapter(nb)
    assert info.chapter is None and words in info.source


def test_malformed_metadata_falls_back_to_the_tags():
    nb = _tagged("check-01-1")
    nb.metadata["course"] = {"chapter": 1}
    assert notebook_chapter(nb).chapter == "01"


def test_the_solution_is_found_by_chapter_whatever_the_learner_named_the_file(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    for name in ("00_fixture.ipynb", "01_other.ipynb"):
        (solutions / name).write_text("{}")
    renamed = tmp_path / "class" / "alice final (1).ipynb"
    renamed.parent.mkdir()
    learner = nbformat.read(LEARNER, as_version=4)
    assert default_solution(renamed, learner) == solutions / "00_fixture.ipynb"
    assert find_solution("02", [solutions]) is None
    del learner.metadata["course"]  # an older copy: the check tags still say 00
    assert default_solution(renamed, learner) == solutions / "00_fixture.ipynb"


def test_a_renamed_notebook_without_any_chapter_gets_a_clear_error(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    with pytest.raises(GradingError, match=r"cannot tell which chapter .*alice\.ipynb belongs to .*pass --solution PATH"):
        default_solution(tmp_path / "alice.ipynb", nb)


_CUT = '{\n "cells": [\n  {\n'


@pytest.mark.parametrize("data, problem", [
    (b"", "the file is empty (0 bytes): ask for the notebook again"),
    (b"\n  \n", "the file is empty (4 bytes): ask for the notebook again"),
    (b"\xff\xfe{\x00", "the file is not text (not UTF-8): it is not a notebook"),
    (_CUT.encode(), "the file is not valid JSON (Expecting property name enclosed in double quotes: line 4, column 1): "
                    "it is cut short or not a notebook"),
    (b"[1, 2]", "the file is JSON but not a Jupyter notebook (no 'cells' list or no 'nbformat' version)"),
    (json.dumps({"cells": 3, "nbformat": 4}).encode(), "the file is JSON but not a Jupyter notebook"),
])
def test_broken_files_are_named_for_what_they_are(data, problem):
    assert notebook_problem(data).startswith(problem)


def test_a_real_notebook_has_no_problem_and_reads():
    assert notebook_problem(LEARNER.read_bytes()) == ""
    assert read_notebook(LEARNER).metadata["course"] == {"chapter": "00"}


def test_read_notebook_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "bob.ipynb"
    path.write_text(_CUT)
    with pytest.raises(GradingError, match=r"cannot read notebook .*bob\.ipynb: the file is not valid JSON"):
        read_notebook(path)
