"""Every chapter graded for real: the solution scores N/N, the learner notebook 0/N, and a
learner notebook with faked, edited, deleted or counterfeit check cells still 0/N.

Grading the solution is the nbval run of that notebook (every cell must pass), so each
solution notebook is executed once; learner notebooks fail fast at unimplemented exercises.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from course_lib.grading.merge import check_key

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
MIN_EXERCISES = 4


def _learner_of(solution: Path) -> Path:
    learner = REPO_ROOT / "notebooks" / solution.name
    assert learner.exists(), f"{learner} is missing: run `python -m course_lib.authoring.generate`"
    return learner


def test_there_are_solution_notebooks():
    assert SOLUTIONS, f"no solution notebooks in {REPO_ROOT / 'solutions'}: the grading tests would pass vacuously"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.stem)
def test_solution_scores_full_marks(solution, grade_notebook):
    result = grade_notebook(solution, solution, label=f"{solution.parent.name}/{solution.name}")
    failed_cells = [f"{cell.cell_id}: {cell.reason}" for cell in result.cells if not cell.passed]
    assert not failed_cells, f"{solution}: cells failed under nbval:\n" + "\n".join(failed_cells)
    assert result.total >= MIN_EXERCISES, f"{solution} has {result.total} check cells; a chapter needs at least {MIN_EXERCISES}"
    assert result.score == result.total, result.table()


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.stem)
def test_learner_notebook_scores_zero(solution, grade_notebook):
    learner = _learner_of(solution)
    result = grade_notebook(learner, solution, label=f"notebooks/{learner.name}")
    assert result.total >= MIN_EXERCISES
    assert result.score == 0, result.table()


def _tamper(learner: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Every trick on the check cells: fake outputs, prints of the success line, a deletion, a counterfeit."""
    nb = copy.deepcopy(learner)
    reference = {check_key(cell): cell for cell in solution.cells if check_key(cell)}
    checks = [cell for cell in nb.cells if check_key(cell) in reference]
    for number, cell in enumerate(checks):
        ref = reference[check_key(cell)]
        cell.outputs, cell.execution_count = copy.deepcopy(ref.outputs), ref.execution_count
        if number % 2 == 1:  # edited to print the success line, with the matching fake output
            success = "".join(out.get("text", "") for out in ref.outputs).strip()
            cell.source = f"# NBVAL_CHECK_OUTPUT\nprint({success!r})"
    nb.cells.remove(checks[-1])
    counterfeit = new_code_cell("# NBVAL_CHECK_OUTPUT\nprint('✅ 99-1 bonus: correct')", id="check-99-1")
    counterfeit.metadata["tags"] = ["check", "check-99-1"]
    nb.cells.append(counterfeit)
    return nb


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.stem)
def test_tampered_learner_notebook_scores_zero(solution, grade_notebook, tmp_path):
    learner_path = _learner_of(solution)
    solution_nb = nbformat.read(solution, as_version=4)
    path = tmp_path / learner_path.name
    nbformat.write(_tamper(nbformat.read(learner_path, as_version=4), solution_nb), path)
    result = grade_notebook(path, solution, workdir=learner_path.parent, label=f"notebooks/{learner_path.name} (tampered)")
    assert result.score == 0, result.table()
    assert result.total >= MIN_EXERCISES and "99-1" not in [row.exercise for row in result.rows]
