"""The class gradebook on the tiny fixture chapter (tests/fixtures): which files are submissions, which
chapter the class is, the two CSV files, and submissions that cannot be graded or stop mid-way."""

from __future__ import annotations

import csv
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from course_lib.grading.chapter import notebook_chapter
from course_lib.grading.cli import main
from course_lib.grading.gradebook import (
    ClassRow,
    Gradebook,
    Submission,
    choose_chapter,
    default_jobs,
    find_submissions,
    read_submission,
)
from course_lib.grading.grader import grade
from course_lib.grading.merge import GradingError

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SOLUTION = FIXTURES / "solutions" / "00_fixture.ipynb"
LEARNER = FIXTURES / "notebooks" / "00_fixture.ipynb"
PLACEHOLDER = "# YOUR CODE HERE\n    raise NotImplementedError()"
SQUARE, MEAN = "return x * x", "return sum(values) / len(values)"


def learner(square: str | None = None, mean: str | None = None) -> nbformat.NotebookNode:
    """The fixture learner notebook with the bodies of exercises 00-1 and 00-2 filled in."""
    nb = nbformat.read(LEARNER, as_version=4)
    for cell in nb.cells:
        body = {"exercise-00-1": square, "exercise-00-2": mean}.get(cell.id)
        if body is not None:
            cell.source = cell.source.replace(PLACEHOLDER, body)
    return nb


@pytest.fixture
def classroom(tmp_path, monkeypatch) -> Path:
    """A teacher's folder: ``subs/`` for the submissions, ``data/`` as the fixture notebooks expect it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "numbers.txt").write_bytes((FIXTURES / "data" / "numbers.txt").read_bytes())
    (tmp_path / "subs").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_a_class_of_fixture_submissions(classroom, capsys, record_notebook_duration):
    subs = classroom / "subs"
    nbformat.write(learner(), subs / "ann.ipynb")
    nbformat.write(learner(SQUARE, MEAN), subs / "ben.ipynb")
    nbformat.write(learner(SQUARE, "import os\n    os._exit(3)"), subs / "cat.ipynb")
    nameless = learner(SQUARE)
    del nameless.metadata["course"]
    for cell in nameless.cells:
        cell.metadata.pop("tags", None)  # saved by a tool that drops tags: the notebook names no chapter
    nbformat.write(nameless, subs / "dan.ipynb")
    (subs / "eve.ipynb").write_bytes(b"")
    (subs / "fay.ipynb").write_bytes((REPO_ROOT / "notebooks" / "02_ruler.ipynb").read_bytes())
    start = time.perf_counter()
    assert main(["subs", "--out", "grades.csv", "--solution", str(SOLUTION), "--jobs", "2"]) == 0
    record_notebook_duration("fixture class of 6 (gradebook)", time.perf_counter() - start)
    out, err = capsys.readouterr()

    assert _csv(classroom / "grades.csv") == [
        ["submission", "00-1", "00-2", "total", "problem"],
        ["subs/ann.ipynb", "0", "0", "0", ""],
        ["subs/ben.ipynb", "1", "1", "2", ""],
        ["subs/cat.ipynb", "1", "0", "1", "the kernel died in cell 'check-00-2' (a crash, os._exit, or out of memory)"],
        ["subs/dan.ipynb", "1", "0", "1", "the notebook does not name its chapter (no course.chapter metadata and no "
                                          "check-NN-K or exercise-NN-K tags): graded as chapter 00"],
        ["subs/eve.ipynb", "0", "0", "0", "the file is empty (0 bytes): ask for the notebook again (saved in Jupyter, "
                                          "downloaded as .ipynb)"],
        ["subs/fay.ipynb", "0", "0", "0", "a chapter 02 notebook (by its course.chapter metadata), not chapter 00: "
                                          "grade it with --chapter 02"],
        ["passed (of 6)", "3", "1", "", ""],
    ]
    reasons = {row[0]: row[1:] for row in _csv(classroom / "grades-reasons.csv")}
    assert reasons["submission"] == ["00-1", "00-2", "problem", "notes"]
    assert reasons["subs/ann.ipynb"][:2] == ["NotImplementedError", "NotImplementedError"]
    assert reasons["subs/ben.ipynb"] == ["", "", "", ""]
    assert reasons["subs/cat.ipynb"][1] == "the kernel died while this cell ran (a crash, os._exit, or out of memory)"
    assert reasons["subs/eve.ipynb"][:2] == ["not graded", "not graded"]
    assert reasons["subs/dan.ipynb"][:2] == ["", "NotImplementedError"], "dan's check cells are matched by cell id"

    assert out.splitlines()[1:5] == [
        "exercise  title             passed",
        "00-1      square            3/6",
        "00-2      mean of the data  1/6",
        "mean total: 0.7/2",
    ]
    assert "problems: 4 (see the problem column)" in out and "wrote grades.csv and grades-reasons.csv" in out
    assert "grading 6 submissions as chapter 00" in err and "2 at a time" in err
    assert re.search(r"^\[6/6\] subs/\w+\.ipynb: ", err, re.MULTILINE), err
    assert not list(subs.glob(".grading-*")), "graded copies must be deleted"


def test_a_kernel_that_dies_is_reported_at_once_not_after_the_cell_timeout(classroom):
    path = classroom / "subs" / "crash.ipynb"
    nbformat.write(learner(SQUARE, "import os\n    os._exit(3)"), path)
    result = grade(path, SOLUTION, timeout=120)
    assert result.duration_s < 60, f"nbval alone would wait the 120 s cell timeout; took {result.duration_s:.1f} s"
    assert [row.passed for row in result.rows] == [True, False]
    assert "stopped: the kernel died in cell 'check-00-2'" in result.table()


def test_the_time_limit_stops_a_notebook_and_keeps_what_passed(classroom):
    path = classroom / "subs" / "loop.ipynb"
    nbformat.write(learner(SQUARE, "while True:\n        pass"), path)
    result = grade(path, SOLUTION, notebook_timeout=8)
    assert result.duration_s < 8 + 10
    assert [(row.passed, row.reason) for row in result.rows] == [
        (True, ""), (False, "stopped here: the notebook's time limit of 8 s ran out"),
    ]
    assert result.problem == "stopped at the notebook's time limit of 8 s in cell 'check-00-2'"
    assert "experiment" not in [cell.cell_id for cell in result.cells], "nothing runs after the stop"


def test_submissions_are_the_notebooks_given_and_found_in_folders(tmp_path):
    (tmp_path / "a" / "nested").mkdir(parents=True)
    (tmp_path / "a" / ".ipynb_checkpoints").mkdir()
    for name in ("a/x.ipynb", "a/nested/y.ipynb", "a/.grading-1234-x.ipynb", "a/.ipynb_checkpoints/x-checkpoint.ipynb",
                 "a/notes.txt", "b.json"):
        (tmp_path / name).write_text("{}")
    found = find_submissions([tmp_path / "a", tmp_path / "b.json", tmp_path / "a" / "x.ipynb"])
    assert found == [tmp_path / "a" / "nested" / "y.ipynb", tmp_path / "a" / "x.ipynb", tmp_path / "b.json"]
    with pytest.raises(GradingError, match=r"missing does not exist: give notebooks or folders of notebooks"):
        find_submissions([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(GradingError, match=r"no notebooks \(\*\.ipynb\) in .*empty"):
        find_submissions([tmp_path / "empty"])


def _named(chapter: str | None, path: str = "x.ipynb") -> Submission:
    nb = learner()
    if chapter is None:
        nb.metadata.pop("course")
        for cell in nb.cells:
            cell.metadata.pop("tags", None)
    else:
        nb.metadata["course"]["chapter"] = chapter
    return Submission(Path(path), nb, notebook_chapter(nb))


def test_the_class_chapter_is_the_one_most_submissions_name():
    chapter, solution = choose_chapter([_named("01"), _named("01"), _named("02"), _named(None)], None, None)
    assert (chapter, solution) == ("01", REPO_ROOT / "solutions" / "01_infini_attention.ipynb")
    assert choose_chapter([_named("01")], "02", None)[1] == REPO_ROOT / "solutions" / "02_ruler.ipynb"


@pytest.mark.parametrize("submissions, chapter, solution, message", [
    ([_named("01"), _named("02")], None, None, r"chapters 01 \(1\), 02 \(1\), none the most: pass --chapter NN"),
    ([_named(None)], None, None, "none of the 1 submissions names its chapter"),
    ([_named("00")], "01", SOLUTION, "--chapter 01 but the solution .* is chapter 00: drop one of the two"),
    ([_named("08")], None, None, r"no solution notebook of chapter 08 \(08_\*\.ipynb\) in .*: pass --solution PATH"),
])
def test_an_unclear_chapter_is_an_error_before_any_grading(submissions, chapter, solution, message):
    with pytest.raises(GradingError, match=message):
        choose_chapter(submissions, chapter, solution)


def test_a_file_that_is_not_a_notebook_becomes_a_row_not_an_error(tmp_path):
    path = tmp_path / "cut.ipynb"
    path.write_text(LEARNER.read_text()[:200])
    sub = read_submission(path)
    assert sub.notebook is None and sub.problem.startswith("the file is not valid JSON")


def test_the_csv_files_hold_scores_reasons_and_the_summary_row(tmp_path):
    rows = [
        ClassRow("a.ipynb", {"01-1": True, "01-2": True}, {"01-1": "", "01-2": ""}),
        ClassRow("b, c.ipynb", {"01-1": True, "01-2": False}, {"01-1": "", "01-2": 'AssertionError: "x" wrong'},
                 notes=["check-01-2: the check cell was edited; the reference cell was restored", "n2"]),
        ClassRow("d.ipynb", {"01-1": False, "01-2": False}, {"01-1": "not graded", "01-2": "not graded"}, "the file is empty"),
    ]
    book = Gradebook("01", Path("s.ipynb"), [("01-1", "first"), ("01-2", "second")], rows)
    reasons = book.write(tmp_path / "grades.csv")
    assert reasons == tmp_path / "grades-reasons.csv"
    assert (tmp_path / "grades.csv").read_bytes().decode() == (  # csv: CRLF line ends, as spreadsheets expect
        "submission,01-1,01-2,total,problem\r\n"
        "a.ipynb,1,1,2,\r\n"
        '"b, c.ipynb",1,0,1,\r\n'
        "d.ipynb,0,0,0,the file is empty\r\n"
        "passed (of 3),2,1,,\r\n"
    )
    assert _csv(reasons) == [
        ["submission", "01-1", "01-2", "problem", "notes"],
        ["a.ipynb", "", "", "", ""],
        ["b, c.ipynb", "", 'AssertionError: "x" wrong', "", "check-01-2: the check cell was edited; the reference cell was restored | n2"],
        ["d.ipynb", "not graded", "not graded", "the file is empty", ""],
    ]
    assert book.summary().splitlines() == [
        "chapter 01: 3 submissions graded against s.ipynb",
        "exercise  title   passed",
        "01-1      first   2/3",
        "01-2      second  1/3",
        "mean total: 1.0/2",
        "problems: 1 (see the problem column)",
    ]


def test_by_default_one_notebook_per_usable_core():
    assert default_jobs() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("args, message", [
    (["a.ipynb", "b.ipynb"], "several notebooks or a folder are a class: add --out grades.csv"),
    ([".", "--jobs", "2"], "several notebooks or a folder are a class"),
    (["a.ipynb", "--jobs", "2"], "--jobs grades several notebooks at once: it needs --out"),
    (["a.ipynb", "--out", "g.csv", "--show-log"], "--show-log prints one notebook's nbval log"),
    (["a.ipynb", "--chapter", "one"], "expected a chapter number such as 01, got 'one'"),
    (["a.ipynb", "--out", "g.csv", "--notebook-timeout", "0"], "--notebook-timeout must be a positive number of seconds"),
])
def test_usage_errors_say_what_to_do(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["subs", "--out", "missing/grades.csv"], "error: cannot write missing/grades.csv: the folder missing does not exist"),
    (["subs", "--out", "grades.ipynb"], "would overwrite a notebook: give a .csv file"),
    (["nowhere", "--out", "grades.csv"], "error: nowhere does not exist: give notebooks or folders of notebooks"),
])
def test_a_class_that_cannot_be_graded_exits_2_with_a_message(args, message, capsys, classroom):
    nbformat.write(learner(), classroom / "subs" / "ann.ipynb")
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_renamed_notebook_is_graded_by_the_single_command(classroom, capsys):
    """The first wall of issue 18: ``alice_00.ipynb`` used to fail with 'no solution notebook'."""
    (classroom / "solutions").mkdir()
    (classroom / "solutions" / "00_fixture.ipynb").write_bytes(SOLUTION.read_bytes())
    path = classroom / "subs" / "alice_00.ipynb"
    nbformat.write(learner(SQUARE), path)
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert f"against {classroom / 'solutions' / '00_fixture.ipynb'} in" in out
    assert out.rstrip().endswith("score: 1/2")


def test_a_notebook_that_names_no_chapter_is_graded_with_the_chapter_option(classroom, capsys):
    (classroom / "solutions").mkdir()
    (classroom / "solutions" / "00_fixture.ipynb").write_bytes(SOLUTION.read_bytes())
    nb = learner(SQUARE)
    del nb.metadata["course"]
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    path = classroom / "subs" / "bob.ipynb"
    nbformat.write(nb, path)
    assert main([str(path)]) == 2
    assert "cannot tell which chapter" in capsys.readouterr().err
    assert main([str(path), "--chapter", "0"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("score: 1/2")
