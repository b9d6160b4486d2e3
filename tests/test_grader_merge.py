"""The grader's merge: reference check cells replace, restore or demote the learner's ones."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib.grading.grader import check_title
from course_lib.grading.merge import GradingError, merge_checks, reference_checks


def _code(source: str, cell_id: str, tags: list[str] | None = None, output: str | None = None) -> nbformat.NotebookNode:
    cell = new_code_cell(source, id=cell_id)
    if tags:
        cell.metadata["tags"] = tags
    if output is not None:
        cell.execution_count = 1
        cell.outputs = [new_output("stream", name="stdout", text=output)]
    return cell


def _reference() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_markdown_cell("# Chapter", id="title"),
        _code("import x", "setup", output=""),
        _code("def f(): return 1", "exercise-01-1", ["exercise", "exercise-01-1"], output=""),
        _code("# NBVAL_CHECK_OUTPUT\ncheck_f(f)", "check-01-1", ["check", "check-01-1"], output="✅ 01-1 the f: correct\n"),
        new_markdown_cell("## Next", id="next"),
        _code("def g(): return 2", "exercise-01-2", ["exercise", "exercise-01-2"], output=""),
        _code("# NBVAL_CHECK_OUTPUT\ncheck_g(g)", "check-01-2", ["check", "check-01-2"], output="✅ 01-2 the g: correct\n"),
        _code("print(f() + g())", "experiment", output="3\n"),
    ])


def _learner() -> nbformat.NotebookNode:
    nb = _reference()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells[2].source = nb.cells[5].source = "raise NotImplementedError()"
    return nb


def _ids(nb: nbformat.NotebookNode) -> list[str]:
    return [cell.id for cell in nb.cells]


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(cell for cell in nb.cells if cell.id == cell_id)


def test_untouched_learner_notebook_gets_the_reference_check_cells():
    reference = _reference()
    merged, _ = merge_checks(_learner(), reference)
    assert _ids(merged) == _ids(reference)
    assert _cell(merged, "check-01-1") == reference.cells[3]
    assert _cell(merged, "exercise-01-1").source == "raise NotImplementedError()"


def test_fake_output_is_replaced_by_the_reference_output():
    learner = _learner()
    learner.cells[3].outputs = [new_output("stream", name="stdout", text="✅ 01-1 the f: correct\n")]
    learner.cells[3].execution_count = 9
    learner.cells[3].source = "print('✅ 01-1 the f: correct')"
    merged, notes = merge_checks(learner, _reference())
    check = _cell(merged, "check-01-1")
    assert check.source == "# NBVAL_CHECK_OUTPUT\ncheck_f(f)" and check.execution_count == 1
    assert any("check-01-1" in note and "edited" in note for note in notes)


def test_edited_check_cell_is_restored_even_with_its_tags_removed():
    learner = _learner()
    learner.cells[6].source = "pass"
    learner.cells[6].metadata = {}
    merged, _ = merge_checks(learner, _reference())
    assert _cell(merged, "check-01-2").source == "# NBVAL_CHECK_OUTPUT\ncheck_g(g)"
    assert _ids(merged) == _ids(_reference())


def test_moved_check_cell_goes_back_after_its_exercise():
    learner = _learner()
    check = learner.cells.pop(3)
    check.id = "renamed"
    check.source = "print('fake')"
    learner.cells.append(check)
    merged, notes = merge_checks(learner, _reference())
    ids = _ids(merged)
    assert ids.count("check-01-1") == 1 and ids.index("check-01-1") == ids.index("exercise-01-1") + 1
    assert merged.cells[ids.index("check-01-1")].source == "# NBVAL_CHECK_OUTPUT\ncheck_f(f)"
    assert any("moved away from its exercise" in note for note in notes)


def test_deleted_check_cell_is_reinserted_after_its_exercise():
    learner = _learner()
    del learner.cells[3]
    learner.cells.insert(0, new_markdown_cell("an extra cell of the learner's", id="extra"))
    merged, notes = merge_checks(learner, _reference())
    ids = _ids(merged)
    assert ids.index("check-01-1") == ids.index("exercise-01-1") + 1
    assert any("re-inserted after its exercise" in note for note in notes)


def test_deleted_check_and_exercise_go_after_the_preceding_reference_cell():
    learner = _learner()
    del learner.cells[5:7]  # exercise-01-2 and check-01-2
    merged, _ = merge_checks(learner, _reference())
    ids = _ids(merged)
    assert ids.index("check-01-2") == ids.index("next") + 1


def test_everything_deleted_still_runs_every_check():
    learner = new_notebook(cells=[_code("print('hello')", "mine")])
    merged, _ = merge_checks(learner, _reference())
    assert _ids(merged) == ["mine", "check-01-1", "check-01-2"]


def test_fake_check_tag_is_demoted():
    learner = _learner()
    fake = _code("# NBVAL_CHECK_OUTPUT\nprint('✅ 01-9 bonus: correct')", "check-01-9", ["check", "check-01-9"],
                 output="✅ 01-9 bonus: correct\n")
    learner.cells.append(fake)
    duplicate = _code("print('✅ 01-1 the f: correct')", "dup", ["check", "check-01-1"])
    learner.cells.append(duplicate)
    merged, notes = merge_checks(learner, _reference())
    assert _cell(merged, "check-01-9").metadata["tags"] == []
    assert _cell(merged, "dup").metadata["tags"] == []
    assert [cell.id for cell in merged.cells if "check" in cell.metadata.get("tags", [])] == ["check-01-1", "check-01-2"]
    assert sum("counts for nothing" in note for note in notes) == 2


def test_learner_cell_squatting_a_reference_id_is_renamed():
    learner = _learner()
    del learner.cells[3]
    learner.cells.insert(1, new_markdown_cell("squatter", id="check-01-1"))
    merged, _ = merge_checks(learner, _reference())
    assert len(set(_ids(merged))) == len(merged.cells)
    assert _cell(merged, "check-01-1").cell_type == "code"


def test_reference_without_checks_or_outputs_is_an_error():
    with pytest.raises(GradingError, match="no check cells"):
        reference_checks(new_notebook(cells=[_code("x = 1", "a")]))
    reference = _reference()
    reference.cells[3].outputs, reference.cells[3].execution_count = [], None
    with pytest.raises(GradingError, match="check-01-1.*no stored output"):
        reference_checks(reference)


def test_title_comes_from_the_reference_check_line():
    assert check_title(_reference().cells[3], "01-1") == "the f"


def test_cells_that_reach_into_the_checks_are_named_for_the_teacher():
    learner = _learner()
    learner.cells.insert(2, _code("from course_lib.grading import checks_01\nsetattr(checks_01, 'check_f', print)", "sneaky"))
    learner.cells[3].source = "def f(): return 1  # my own"  # an ordinary edit of an exercise: not flagged
    _, notes = merge_checks(learner, _reference())
    flagged = [note for note in notes if "review it by hand" in note]
    assert len(flagged) == 1 and "'sneaky'" in flagged[0] and "setattr" in flagged[0]


def test_report_counts_failed_cells_outside_the_checks():
    from pathlib import Path

    from course_lib.grading.grader import CellResult, GradeResult, GradeRow

    result = GradeResult(
        Path("nb.ipynb"), Path("sol.ipynb"),
        rows=[GradeRow("01-1", "the f", True, "", "check-01-1")],
        cells=[
            CellResult("check-01-1", True, "passed", "", 0.1),
            CellResult("experiment", False, "failed", "AssertionError: claim", 0.1),
            CellResult("setup", True, "passed", "", 0.1),
        ],
    )
    assert "other cells: 1 of 2 failed (first: experiment: AssertionError: claim)" in result.table()
