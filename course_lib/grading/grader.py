"""Grade a learner's notebook against its solution: the reference check cells, run by nbval.

    python -m course_lib.grading notebooks/01_infini_attention.ipynb [--solution PATH] [--timeout S]

1. The check cells of the solution notebook (``solutions/<same name>`` by default) are put
   into a copy of the learner's notebook, matched by their ``check-NN-K`` tag or cell id
   (see ``course_lib.grading.merge``): edited, deleted or faked check cells are restored.
2. The copy is saved next to the learner's notebook under a hidden name (so relative paths
   such as ``../data/...`` resolve as they do for the learner) and run by nbval; the copy is
   deleted afterwards. The equivalent plain command is::

       python -m pytest --nbval-lax --nbval-current-env \\
           --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 300 \\
           -p no:cacheprovider notebooks/.grading-COPY.ipynb

   ``--nbval-lax`` runs every cell and compares the output only of cells marked
   ``# NBVAL_CHECK_OUTPUT`` (the check cells) with the stored reference output.
3. Each check cell passed or failed, with the reason (the checker's message, the exception,
   or an output mismatch); the score is the number of check cells that passed. The report
   also says how many other cells failed (an experiment's assert, say).

The solution is found by the chapter the notebook names (``course.chapter`` metadata, else
its check tags; see ``course_lib.grading.chapter``), not by its file name. pytest, nbval and
the kernel run under watch (``course_lib.grading.watch``): a kernel that dies mid-cell, or a
notebook over its time limit (``notebook_timeout``), stops the run, and the checks that passed
before still count; an interrupted grader leaves no graded copy and no kernel behind.
``python -m course_lib.grading SUBMISSIONS... --out grades.csv`` grades a whole class
(``course_lib.grading.gradebook``).

What it cannot stop: the learner's code runs in the same kernel as the checks, so a cell
that patches a checker, the reference functions or IPython's input handling before the
checks run could fake a pass. The grader names every learner cell that reaches for such
things (``note: cell ... could change what the checks see``) so that a teacher reads it, and
a checker refuses course_lib's own reference passed in place of the learner's code.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib.grading.chapter import find_solution, notebook_chapter
from course_lib.grading.merge import GradingError, merge_checks, reference_checks
from course_lib.grading.notebook_file import read_notebook
from course_lib.grading.watch import CANCELLED, KERNEL_DIED, TIME_LIMIT, run_watched

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SANITIZER = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
DEFAULT_CELL_TIMEOUT_S = 300


class GradingCancelled(Exception):
    """Grading was stopped on request (``cancel`` was set); nothing of the run is left."""


@dataclass
class CellResult:
    """What happened to one code cell of the graded copy."""

    cell_id: str
    passed: bool
    outcome: str
    reason: str
    duration_s: float


@dataclass
class GradeRow:
    """One exercise: its check cell passed or failed, and why."""

    exercise: str
    title: str
    passed: bool
    reason: str
    cell_id: str


@dataclass
class GradeResult:
    """The grade of one notebook: a row per reference check cell, plus every cell's outcome."""

    notebook: Path
    solution: Path
    rows: list[GradeRow]
    cells: list[CellResult]
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    pytest_output: str = ""
    problem: str = ""

    @property
    def score(self) -> int:
        """Number of exercises whose check cell passed."""
        return sum(row.passed for row in self.rows)

    @property
    def total(self) -> int:
        """Number of exercises (reference check cells)."""
        return len(self.rows)

    def table(self) -> str:
        """The printable report: notes, one line per exercise, the time, and ``score: P/N``."""
        header = ("exercise", "title", "result", "reason")
        lines = [(row.exercise, row.title, "passed" if row.passed else "FAILED", row.reason) for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(3)]
        out = [f"note: {note}" for note in self.notes]
        for line in [header, *lines]:
            out.append("  ".join(text.ljust(width) for text, width in zip(line[:3], widths)) + "  " + line[3])
        check_ids = {row.cell_id for row in self.rows}
        others = [cell for cell in self.cells if cell.cell_id not in check_ids]
        failed = [cell for cell in others if not cell.passed]
        if failed:
            out.append(f"other cells: {len(failed)} of {len(others)} failed (first: {failed[0].cell_id}: {failed[0].reason})")
        else:
            out.append(f"other cells: all {len(others)} ran")
        if self.problem:
            out.append(f"stopped: {self.problem}")
        out.append(f"graded {self.notebook} against {self.solution} in {self.duration_s:.1f} s")
        out.append(f"score: {self.score}/{self.total}")
        return "\n".join(line.rstrip() for line in out)


def default_solution(notebook: Path, nb: nbformat.NotebookNode) -> Path:
    """The solution of the chapter ``nb`` names, in ``solutions/`` beside the notebook's folder, else
    in the repository of course_lib; for a notebook that names no chapter, ``solutions/<same name>``."""
    folders = [notebook.resolve().parent.parent / "solutions", REPO_ROOT / "solutions"]
    info = notebook_chapter(nb)
    if info.chapter is not None:
        found = find_solution(info.chapter, folders, prefer_name=notebook.name)
        if found is None:
            raise GradingError(
                f"{notebook} is a chapter {info.chapter} notebook (by {info.source}), but there is no "
                f"{info.chapter}_*.ipynb in {' or '.join(map(str, folders))}; pass --solution PATH"
            )
        return found
    for candidate in (folder / notebook.name for folder in folders):
        if candidate.exists():
            return candidate
    raise GradingError(
        f"cannot tell which chapter {notebook} belongs to ({info.source}), and there is no "
        f"solution notebook of the same name in {' or '.join(map(str, folders))}; pass --solution PATH"
    )


def check_title(cell: nbformat.NotebookNode, exercise: str) -> str:
    """The exercise's title, from the reference check output ``✅ 01-3 delta-rule memory update: correct``."""
    text = "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = re.sub(r"^[^\w]*", "", line)
    line = line.removeprefix(exercise).strip()
    return re.sub(r":\s*(correct|ok|passed)\W*$", "", line, flags=re.IGNORECASE).strip()


def _load_records(report: Path) -> dict:
    try:
        return json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _running_cell(records: dict) -> str | None:
    return next((cell_id for cell_id, rec in records.items() if rec["outcome"] == "running"), None)


def _run_nbval(
    copy_path: Path,
    timeout: float,
    sanitizer: Path | None,
    *,
    notebook_timeout: float | None = None,
    cancel: threading.Event | None = None,
    env_overrides: dict[str, str] | None = None,
) -> tuple[dict, str, str | None]:
    """Run nbval on ``copy_path`` in a watched subprocess.

    Returns the per-cell records (a cell still ``running`` when the run was stopped among
    them), pytest's output, and why the run was stopped (``None`` when it ran to its end).
    """
    with tempfile.TemporaryDirectory(prefix="course-grading-") as tmp:
        report = Path(tmp) / "report.json"
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        cmd = [
            sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
            "--nbval-cell-timeout", str(timeout), "-p", "no:cacheprovider",
            "-p", "course_lib.grading.nbval_report", "--course-grading-report", str(report),
            "-c", str(ini), "--rootdir", tmp, "--noconftest", "--color=no", "-q",
        ]
        if sanitizer is not None:
            cmd += ["--nbval-sanitize-with", str(sanitizer)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.setdefault("COURSE_WIDGETS", "static")  # no frontend renders widgets here: draw static figures
        env["PYTHONIOENCODING"] = "utf-8"  # the check lines hold emoji: never the locale's codec
        env["TMPDIR"] = tmp  # the kernel's connection file (and the notebook's temporary files) go with tmp
        env.update(env_overrides or {})
        run = run_watched(
            cmd + [str(copy_path)], cwd=Path(tmp), env=env, log_path=Path(tmp) / "pytest.log",
            time_limit=notebook_timeout, cancel=cancel,
            cell_running=lambda: _running_cell(_load_records(report)) is not None,
        )
        if run.stopped == CANCELLED:
            raise GradingCancelled(f"grading {copy_path.name} was cancelled")
        if run.stopped is None and (run.returncode not in (0, 1) or not report.exists()):
            raise GradingError(f"nbval did not run (pytest exit code {run.returncode}):\n{run.output[-3000:]}")
        return _load_records(report), run.output, run.stopped


def _stop_reasons(stopped: str | None, running: str | None, notebook_timeout: float | None) -> tuple[str, str]:
    """(the notebook's problem, the running cell's reason) for a run stopped by the watch."""
    if stopped == TIME_LIMIT:
        where = f" in cell {running!r}" if running else ""
        return (f"stopped at the notebook's time limit of {notebook_timeout:g} s{where}",
                f"stopped here: the notebook's time limit of {notebook_timeout:g} s ran out")
    if stopped == KERNEL_DIED:
        return (f"the kernel died in cell {running!r} (a crash, os._exit, or out of memory)",
                "the kernel died while this cell ran (a crash, os._exit, or out of memory)")
    return "", ""


def grade(
    notebook: str | Path,
    solution: str | Path | None = None,
    *,
    timeout: float = DEFAULT_CELL_TIMEOUT_S,
    workdir: str | Path | None = None,
    sanitizer: str | Path | None = None,
    notebook_timeout: float | None = None,
) -> GradeResult:
    """Grade ``notebook`` against ``solution`` (default: the solution of the chapter it names).

    ``timeout`` is nbval's per-cell limit in seconds and ``notebook_timeout`` the whole run's
    (default: none); ``workdir`` is the folder the graded copy runs in (default: the
    notebook's own folder, so relative paths work); ``sanitizer`` is an nbval sanitizer file
    (default: ``tests/nbval_sanitize.cfg`` when it exists). Raises ``GradingError`` when
    grading cannot start (missing or broken file, no check cells, ...).
    """
    notebook = Path(notebook)
    learner_nb = read_notebook(notebook, "notebook")
    solution = Path(solution) if solution is not None else default_solution(notebook, learner_nb)
    reference_nb = read_notebook(solution, "solution notebook")
    return grade_loaded(
        learner_nb, notebook, reference_nb, solution, timeout=timeout, workdir=workdir, sanitizer=sanitizer,
        notebook_timeout=notebook_timeout,
    )


def grade_loaded(
    learner_nb: nbformat.NotebookNode,
    notebook: Path,
    reference_nb: nbformat.NotebookNode,
    solution: Path,
    *,
    timeout: float = DEFAULT_CELL_TIMEOUT_S,
    workdir: str | Path | None = None,
    sanitizer: str | Path | None = None,
    notebook_timeout: float | None = None,
    cancel: threading.Event | None = None,
    env_overrides: dict[str, str] | None = None,
) -> GradeResult:
    """``grade`` for notebooks already read; ``cancel`` stops the run (``GradingCancelled``) when set,
    ``env_overrides`` are environment variables for the kernel (the gradebook's one-thread torch)."""
    checks = reference_checks(reference_nb)
    merged, notes = merge_checks(learner_nb, reference_nb)
    if sanitizer is None and DEFAULT_SANITIZER.exists():
        sanitizer = DEFAULT_SANITIZER
    folder = (Path(workdir) if workdir is not None else notebook.parent).resolve()
    copy_path = folder / f".grading-{uuid.uuid4().hex[:8]}-{notebook.name}"
    start = time.perf_counter()
    try:
        nbformat.write(merged, copy_path)
    except OSError as error:
        raise GradingError(f"cannot write the graded copy into {folder}: {error}; pass a writable workdir") from error
    try:
        records, output, stopped = _run_nbval(
            copy_path, timeout, Path(sanitizer) if sanitizer else None,
            notebook_timeout=notebook_timeout, cancel=cancel, env_overrides=env_overrides,
        )
    finally:
        copy_path.unlink(missing_ok=True)
    duration = time.perf_counter() - start

    running = _running_cell(records)
    problem, running_reason = _stop_reasons(stopped, running, notebook_timeout)
    cells = [
        CellResult(cell_id, rec["outcome"] == "passed", rec["outcome"],
                   running_reason if rec["outcome"] == "running" else rec["reason"], rec["duration_s"])
        for cell_id, rec in records.items()
    ]
    not_run = f"not run: {problem}" if problem else "not run"
    rows = []
    for key, ref_cell in checks.items():
        exercise = key.removeprefix("check-")
        rec = records.get(ref_cell.get("id"))
        passed = rec is not None and rec["outcome"] == "passed"
        if passed:
            reason = ""
        elif rec is None:
            reason = not_run
        else:
            reason = running_reason if rec["outcome"] == "running" else rec["reason"]
        rows.append(GradeRow(exercise, check_title(ref_cell, exercise), passed, reason, ref_cell.get("id")))
    return GradeResult(notebook, solution, rows, cells, notes, duration, output, problem)


def main(argv: list[str] | None = None) -> int:
    """The command line ``python -m course_lib.grading`` (see ``course_lib.grading.cli``)."""
    from course_lib.grading.cli import main as cli_main

    return cli_main(argv)
