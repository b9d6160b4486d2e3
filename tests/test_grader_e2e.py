"""The real grader (merge + nbval) on the tiny fixture chapter in tests/fixtures/.

The fixture's checkers are inline code, so these tests exercise the grader, not course_lib.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest

from course_lib.grading.grader import main

FIXTURES = Path(__file__).parent / "fixtures"
SOLUTION = FIXTURES / "solutions" / "00_fixture.ipynb"
LEARNER = FIXTURES / "notebooks" / "00_fixture.ipynb"
WORKDIR = FIXTURES / "notebooks"  # where ../data/numbers.txt resolves
SUCCESS = {"check-00-1": "✅ 00-1 square: correct\n", "check-00-2": "✅ 00-2 mean of the data: correct\n"}


def _variant(tmp_path: Path, name: str, edit) -> Path:
    """A copy of the fixture learner notebook, changed by ``edit(cells_by_id)``, saved in tmp_path."""
    nb = nbformat.read(LEARNER, as_version=4)
    edit({cell.id: cell for cell in nb.cells}, nb)
    path = tmp_path / name / LEARNER.name
    path.parent.mkdir()
    nbformat.write(nb, path)
    return path


def _fake_outputs(cells, nb) -> None:
    solution = {cell.id: cell for cell in nbformat.read(SOLUTION, as_version=4).cells}
    for cell_id in SUCCESS:
        cells[cell_id].outputs = copy.deepcopy(solution[cell_id].outputs)
        cells[cell_id].execution_count = solution[cell_id].execution_count


def _solve(cell, solution_body: str) -> None:
    cell.source = cell.source.replace("# YOUR CODE HERE\n    raise NotImplementedError()", solution_body)


def _reasons(result) -> list[str]:
    return [row.reason for row in result.rows]


def test_learner_notebook_scores_zero(grade_notebook):
    result = grade_notebook(LEARNER, label="fixture learner")
    assert (result.score, result.total) == (0, 2)
    assert all(reason.startswith("NotImplementedError") for reason in _reasons(result)), result.table()
    setup = next(cell for cell in result.cells if cell.cell_id == "setup")
    assert setup.passed, "the setup cell reads ../data/numbers.txt: the kernel must run in the notebook's folder"
    assert not list(WORKDIR.glob(".grading-*")), "the graded copy must be deleted"


def test_solution_scores_full_marks(grade_notebook):
    result = grade_notebook(SOLUTION, SOLUTION, label="fixture solution")
    assert (result.score, result.total) == (2, 2), result.table()
    assert all(cell.passed for cell in result.cells)
    assert [(row.exercise, row.title) for row in result.rows] == [("00-1", "square"), ("00-2", "mean of the data")]


def test_faked_check_outputs_score_zero(grade_notebook, tmp_path):
    path = _variant(tmp_path, "faked", _fake_outputs)
    result = grade_notebook(path, SOLUTION, workdir=WORKDIR, label="fixture learner, faked outputs")
    assert result.score == 0 and all(reason.startswith("NotImplementedError") for reason in _reasons(result))


def test_edited_and_deleted_check_cells_score_zero(tmp_path, capsys, record_notebook_duration):
    def edit(cells, nb):
        _fake_outputs(cells, nb)
        cells["check-00-1"].source = f"# NBVAL_CHECK_OUTPUT\nprint({SUCCESS['check-00-1'].strip()!r})"
        nb.cells.remove(cells["check-00-2"])

    path = _variant(tmp_path, "edited", edit)
    assert main([str(path), "--solution", str(SOLUTION), "--workdir", str(WORKDIR)]) == 0
    out = capsys.readouterr().out
    record_notebook_duration("fixture learner, edited/deleted checks (CLI)", float(re.search(r" in ([0-9.]+) s\n", out).group(1)))
    assert out.rstrip().endswith("score: 0/2")
    assert "check-00-1: the check cell was edited" in out and "check-00-2: the check cell was missing; re-inserted after its exercise" in out
    assert out.count("FAILED  NotImplementedError") == 2


def test_one_exercise_solved_scores_one(grade_notebook, tmp_path):
    path = _variant(tmp_path, "partial", lambda cells, nb: _solve(cells["exercise-00-1"], "return x * x"))
    result = grade_notebook(path, SOLUTION, workdir=WORKDIR, label="fixture learner, exercise 1 solved")
    assert (result.score, result.total) == (1, 2)
    assert [row.passed for row in result.rows] == [True, False]


def test_wrong_answers_fail_with_the_checkers_reason(grade_notebook, tmp_path):
    def edit(cells, nb):
        _solve(cells["exercise-00-1"], "print('debugging')\n    return x * x")  # right value, extra output
        _solve(cells["exercise-00-2"], "return sum(values)")  # wrong value

    path = _variant(tmp_path, "wrong", edit)
    result = grade_notebook(path, SOLUTION, workdir=WORKDIR, label="fixture learner, wrong answers")
    assert result.score == 0
    assert _reasons(result)[0].startswith("output differs from the reference (got 'debugging')")
    assert _reasons(result)[1] == "AssertionError: the mean of the data is 4.0, got 20.0: divide the sum by the count"


@pytest.mark.parametrize("args, message", [
    (["missing.ipynb", "--solution", str(SOLUTION)], "notebook missing.ipynb does not exist"),
    ([str(LEARNER), "--solution", "nope.ipynb"], "solution notebook nope.ipynb does not exist"),
    ([str(LEARNER), "--solution", str(LEARNER)], "check-00-1' has no stored output"),
])
def test_usage_errors_exit_non_zero_with_a_message(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err
