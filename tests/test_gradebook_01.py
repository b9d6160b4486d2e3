"""Issue 18's acceptance: a class of chapter-01 submissions graded by one command, as a teacher runs it.

Ten submissions are made here from the learner and solution notebooks of chapter 01: unsolved,
solved, one exercise right, faked check outputs, renamed with a check cell deleted and no
chapter metadata (an older copy), cut short, empty, another chapter's notebook, one that
loops forever and one that crashes its kernel. grades.csv must be exactly what each deserves.

Cost: the solved variant has the seven exercise cells of the solution and ends after the last
check cell. Its experiment section would train and evaluate on the learner's (solved) code for
about 100-140 s; the exercise part runs in about 4 s, and the gradebook reads only the check
cells. The other variants keep the experiment, which fails at once on unsolved code (about 10 s
a notebook). With two at a time the run takes about the hanging notebook's time limit (60 s)
plus a few notebooks' time.
"""

from __future__ import annotations

import copy
import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LEARNER = REPO_ROOT / "notebooks" / "01_infini_attention.ipynb"
SOLUTION = REPO_ROOT / "solutions" / "01_infini_attention.ipynb"
PLACEHOLDER = "# YOUR CODE HERE\n    raise NotImplementedError()"
EXERCISES = [f"01-{k}" for k in range(1, 8)]
TIME_LIMIT_S = 60
RESEND = "ask for the notebook again (saved in Jupyter, downloaded as .ipynb)"


def _learner() -> nbformat.NotebookNode:
    return nbformat.read(LEARNER, as_version=4)


def _cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {cell.id: cell for cell in nb.cells}


def _solve(nb: nbformat.NotebookNode, *exercises: str) -> nbformat.NotebookNode:
    """Paste the solution's exercise cells for ``exercises`` into ``nb``."""
    solution = _cells(nbformat.read(SOLUTION, as_version=4))
    for exercise in exercises:
        _cells(nb)[f"exercise-{exercise}"].source = solution[f"exercise-{exercise}"].source
    return nb


def _body(nb: nbformat.NotebookNode, exercise: str, body: str) -> nbformat.NotebookNode:
    cell = _cells(nb)[f"exercise-{exercise}"]
    assert PLACEHOLDER in cell.source
    cell.source = cell.source.replace(PLACEHOLDER, body)
    return nb


def _without_experiment(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    last_check = max(index for index, cell in enumerate(nb.cells) if cell.id == f"check-{EXERCISES[-1]}")
    nb.cells = nb.cells[: last_check + 1]
    return nb


def _faked(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Every check cell saved with the solution's success output."""
    solution = _cells(nbformat.read(SOLUTION, as_version=4))
    for exercise in EXERCISES:
        cell = _cells(nb)[f"check-{exercise}"]
        cell.outputs = copy.deepcopy(solution[f"check-{exercise}"].outputs)
        cell.execution_count = solution[f"check-{exercise}"].execution_count
    return nb


def _renamed_older_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Exercises 1-3 solved, check 01-2 deleted, and no course metadata: the check tags name the chapter."""
    _solve(nb, "01-1", "01-2", "01-3")
    nb.cells.remove(_cells(nb)["check-01-2"])
    del nb.metadata["course"]
    return nb


@pytest.fixture
def class01(tmp_path: Path) -> Path:
    folder = tmp_path / "class01"
    folder.mkdir()
    notebooks = {
        "unsolved": _learner(),
        "solved": _without_experiment(_solve(_learner(), *EXERCISES)),
        "one_right": _solve(_learner(), "01-1"),
        "faked_outputs": _faked(_learner()),
        "alice_01 (1)": _renamed_older_copy(_learner()),
        "hangs": _body(_solve(_learner(), "01-1"), "01-2", "while True:\n        pass"),
        "crashes": _body(_solve(_learner(), "01-1"), "01-2", "import ctypes\n    ctypes.string_at(0)  # segfault"),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    text = LEARNER.read_text(encoding="utf-8")
    (folder / "cut_short.ipynb").write_text(text[: text.index("\n", text.index("\n", text.index("\n") + 1) + 1) + 1])
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "other_chapter.ipynb").write_bytes((REPO_ROOT / "notebooks" / "02_ruler.ipynb").read_bytes())
    return folder


def _row(name: str, passed: list[int], problem: str = "") -> list[str]:
    return [f"class01/{name}.ipynb", *map(str, passed), str(sum(passed)), problem]


def test_a_class_of_chapter_01_submissions(class01, record_notebook_duration):
    tmp = class01.parent
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "course_lib.grading", "class01", "--out", "grades.csv", "--jobs", "2",
         "--notebook-timeout", str(TIME_LIMIT_S)],
        cwd=tmp, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600,
    )
    wall = time.perf_counter() - start
    record_notebook_duration("chapter 01 class of 10 (gradebook, 2 at a time)", wall)
    assert run.returncode == 0, run.stdout + run.stderr
    with open(tmp / "grades.csv", newline="", encoding="utf-8") as f:
        grades = list(csv.reader(f))
    none, first = [0] * 7, [1] + [0] * 6
    assert grades == [
        ["submission", *EXERCISES, "total", "problem"],
        _row("alice_01 (1)", [1, 1, 1, 0, 0, 0, 0]),
        _row("crashes", first, "the kernel died in cell 'check-01-2' (a crash, os._exit, or out of memory)"),
        _row("cut_short", none, "the file is not valid JSON (Expecting property name enclosed in double quotes: "
                                f"line 4, column 1): it is cut short or not a notebook; {RESEND}"),
        _row("empty", none, f"the file is empty (0 bytes): {RESEND}"),
        _row("faked_outputs", none),
        _row("hangs", first, f"stopped at the notebook's time limit of {TIME_LIMIT_S} s in cell 'check-01-2'"),
        _row("one_right", first),
        _row("other_chapter", none, "a chapter 02 notebook (by its course.chapter metadata), not chapter 01: "
                                    "grade it with --chapter 02"),
        _row("solved", [1] * 7),
        _row("unsolved", none),
        ["passed (of 10)", "5", "2", "2", "1", "1", "1", "1", "", ""],
    ]

    with open(tmp / "grades-reasons.csv", newline="", encoding="utf-8") as f:
        reasons = {row[0].removeprefix("class01/").removesuffix(".ipynb"): row[1:] for row in csv.reader(f)}
    for name in ("unsolved", "faked_outputs"):
        assert all("is not implemented yet" in reason for reason in reasons[name][:7]), reasons[name]
    assert reasons["solved"] == [""] * 7 + ["", ""]
    assert reasons["alice_01 (1)"][8] == "check-01-2: the check cell was missing; re-inserted after its exercise cell 'exercise-01-2'"
    assert reasons["hangs"][1] == f"stopped here: the notebook's time limit of {TIME_LIMIT_S} s ran out"
    assert reasons["hangs"][2] == f"not run: stopped at the notebook's time limit of {TIME_LIMIT_S} s in cell 'check-01-2'"
    assert reasons["crashes"][1] == "the kernel died while this cell ran (a crash, os._exit, or out of memory)"
    assert reasons["empty"][:7] == ["not graded"] * 7

    took = {name: float(seconds) for name, seconds in re.findall(r"\] class01/(.+?)\.ipynb: \d/7 in ([0-9.]+) s", run.stderr)}
    assert len(took) == 7, run.stderr  # the seven notebooks that ran, each in a kernel of its own
    assert TIME_LIMIT_S <= took["hangs"] < TIME_LIMIT_S + 15, "the hanging notebook is stopped at its limit"
    assert sum(took.values()) > 1.3 * wall, f"two at a time: {sum(took.values()):.0f} s of grading in {wall:.0f} s"
    assert "grading 10 submissions as chapter 01" in run.stderr and "[10/10]" in run.stderr
    assert "01-1      causal scaled dot-product attention          5/10" in run.stdout
    assert not list(class01.glob(".grading-*"))
