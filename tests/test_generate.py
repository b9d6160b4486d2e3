"""The learner-notebook generator: solution regions, stripped outputs, clean metadata, sync."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib.authoring import generate
from course_lib.authoring.execute import execute_solution
from course_lib.authoring.generate import (
    SolutionMarkerError,
    clean_solution,
    learner_text,
    make_learner_notebook,
    strip_solution_code,
    strip_solution_markdown,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def test_regions_are_replaced_at_the_begin_lines_indentation():
    source = "\n".join([
        "def f(x):",
        "    y = 1",
        "    ### BEGIN SOLUTION",
        "    if x:",
        "        return x + y",
        "    ### END SOLUTION",
        "",
        "### BEGIN SOLUTION",
        "z = 3",
        "### END SOLUTION",
        "print('kept')",
    ])
    assert strip_solution_code(source) == "\n".join([
        "def f(x):",
        "    y = 1",
        "    # YOUR CODE HERE",
        "    raise NotImplementedError()",
        "",
        "# YOUR CODE HERE",
        "raise NotImplementedError()",
        "print('kept')",
    ])


def test_source_without_regions_is_unchanged():
    assert strip_solution_code("x = 1\n") == "x = 1\n"


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ("### BEGIN SOLUTION  # the answer\nx = 1\n### END SOLUTION", "looks like a solution marker"),
])
def test_malformed_regions_are_errors(source, problem):
    with pytest.raises(SolutionMarkerError, match=problem):
        strip_solution_code(source)


def test_markdown_regions_are_removed():
    source = "Question?\n\n<!-- BEGIN SOLUTION -->\nThe answer.\n<!-- END SOLUTION -->\n\nNext."
    assert strip_solution_markdown(source) == "Question?\n\nNext."


def _solution_notebook() -> nbformat.NotebookNode:
    code = new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", id="exercise-00-1",
                         execution_count=3, outputs=[new_output("stream", name="stdout", text="hi\n")])
    code.metadata.update({"tags": ["exercise", "exercise-00-1"], "colab": {"base_uri": "x"}, "execution": {"iopub.execute_input": "2024-04-11T10:00:00.000Z"},
                          "scrolled": True})
    check = new_code_cell("# NBVAL_CHECK_OUTPUT\ncheck(f)", id="check-00-1", execution_count=4,
                          outputs=[new_output("stream", name="stdout", text="✅ 00-1 f: correct\n")])
    check.metadata["tags"] = ["check", "check-00-1"]
    nb = new_notebook(cells=[new_markdown_cell("# Title\n\nText.", id="title"), code, check])
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                        "colab": {"provenance": []}, "widgets": {"application/vnd.jupyter.widget-state+json": {}},
                        "accelerator": "GPU"})
    return nb


def test_learner_notebook_has_no_outputs_and_clean_metadata():
    learner = make_learner_notebook(_solution_notebook(), "notebooks/00_x.ipynb")
    assert set(learner.metadata) == {"kernelspec", "course"}
    assert learner.metadata["course"] == {"chapter": "00"}  # from the file name: the grader reads it, not the name
    code_cells = [cell for cell in learner.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells)
    exercise = next(cell for cell in learner.cells if cell.id == "exercise-00-1")
    assert exercise.metadata == {"tags": ["exercise", "exercise-00-1"]}
    assert "return 1" not in exercise.source and "raise NotImplementedError()" in exercise.source
    check = next(cell for cell in learner.cells if cell.id == "check-00-1")
    assert check.metadata == {"tags": ["check", "check-00-1"], "editable": False, "deletable": False}
    assert [cell.id for cell in learner.cells] == ["title", "colab-setup", "exercise-00-1", "check-00-1"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.name)
def test_notebooks_name_their_chapter_in_metadata(solution):
    learner = nbformat.read(REPO_ROOT / "notebooks" / solution.name, as_version=4)
    chapter = solution.name[:2]
    assert learner.metadata.get("course") == {"chapter": chapter}, "the grader finds the solution by this, not by the file name"
    assert nbformat.read(solution, as_version=4).metadata.get("course") == {"chapter": chapter}


def test_output_is_deterministic_and_canonical(tmp_path):
    path = tmp_path / "solutions" / "00_x.ipynb"
    path.parent.mkdir()
    nbformat.write(_solution_notebook(), path)
    first = learner_text(path, tmp_path / "notebooks" / "00_x.ipynb")
    assert first == learner_text(path, tmp_path / "notebooks" / "00_x.ipynb")
    assert first.endswith("}\n") and first.startswith('{\n "cells": [\n  {\n')


def test_generate_then_check(tmp_path, capsys):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    nbformat.write(_solution_notebook(), solutions / "00_x.ipynb")
    args = ["--solutions", str(solutions), "--notebooks", str(notebooks), "--readme", str(tmp_path / "README.md")]
    assert generate.main(args + ["--check"]) == 1
    assert generate.main(args) == 0
    assert generate.main(args + ["--check"]) == 0
    (notebooks / "00_x.ipynb").write_text((notebooks / "00_x.ipynb").read_text().replace("YOUR CODE", "MY CODE"))
    assert generate.main(args + ["--check"]) == 1
    assert "out of date" in capsys.readouterr().out


def test_clean_solution_keeps_outputs_and_drops_noise(tmp_path):
    path = tmp_path / "00_x.ipynb"
    nbformat.write(_solution_notebook(), path)
    assert clean_solution(path) is True
    nb = nbformat.read(path, as_version=4)
    assert set(nb.metadata) == {"kernelspec", "course"} and nb.metadata["course"] == {"chapter": "00"}
    exercise = next(cell for cell in nb.cells if cell.id == "exercise-00-1")
    assert exercise.execution_count == 3 and exercise.outputs[0]["text"] == "hi\n"
    assert "return 1" in exercise.source and exercise.metadata == {"tags": ["exercise", "exercise-00-1"]}
    assert clean_solution(path) is False  # idempotent


def test_fixture_learner_notebook_is_in_sync():
    """tests/fixtures: regenerate with `python -m course_lib.authoring.generate --solutions
    tests/fixtures/solutions --notebooks tests/fixtures/notebooks`."""
    solution = FIXTURES / "solutions" / "00_fixture.ipynb"
    learner = FIXTURES / "notebooks" / "00_fixture.ipynb"
    assert learner.read_text(encoding="utf-8") == learner_text(solution, learner)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.name)
def test_learner_notebook_in_sync_with_solution(solution):
    learner = REPO_ROOT / "notebooks" / solution.name
    assert learner.exists(), f"{learner} is missing: run `python -m course_lib.authoring.generate`"
    assert learner.read_text(encoding="utf-8") == learner_text(solution, learner), (
        f"{learner} is not what the generator makes from {solution}: run `python -m course_lib.authoring.generate`"
    )


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.name)
def test_solution_notebook_is_stored_clean(solution):
    assert generate.solution_is_clean(solution), (
        f"{solution} carries metadata noise or stale badges: run `python -m course_lib.authoring.generate --clean-solutions`"
    )


def test_no_learner_notebook_without_solution():
    assert not generate.orphan_notebooks(REPO_ROOT / "solutions", REPO_ROOT / "notebooks")


def test_execute_solution_stores_the_same_outputs(tmp_path):
    """`python -m course_lib.authoring.execute` re-runs a solution in its folder; outputs are reproducible."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "numbers.txt").write_bytes((FIXTURES / "data" / "numbers.txt").read_bytes())
    path = tmp_path / "solutions" / "00_fixture.ipynb"
    path.parent.mkdir()
    stored = nbformat.read(FIXTURES / "solutions" / "00_fixture.ipynb", as_version=4)
    for cell in stored.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(stored, path)
    execute_solution(path, timeout=60)
    executed = nbformat.read(path, as_version=4)
    expected = nbformat.read(FIXTURES / "solutions" / "00_fixture.ipynb", as_version=4)
    assert [(c.get("execution_count"), c.get("outputs")) for c in executed.cells] == [
        (c.get("execution_count"), c.get("outputs")) for c in expected.cells
    ]
