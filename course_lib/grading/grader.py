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

What it cannot stop: the learner's code runs in the same kernel as the checks, so a cell
that patches a checker, the reference functions or IPython's input handling before the
checks run could fake a pass. The grader names every learner cell that reaches for such
things (``note: cell ... could change what the checks see``) so that a teacher reads it, and
a checker refuses course_lib's own reference passed in place of the learner's code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib.grading.merge import GradingError, merge_checks, reference_checks

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SANITIZER = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
DEFAULT_CELL_TIMEOUT_S = 300


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
        out.append(f"graded {self.notebook} against {self.solution} in {self.duration_s:.1f} s")
        out.append(f"score: {self.score}/{self.total}")
        return "\n".join(line.rstrip() for line in out)


def default_solution(notebook: Path) -> Path:
    """``solutions/<name>`` beside the notebook's folder, else in the repository of course_lib."""
    candidates = [notebook.resolve().parent.parent / "solutions" / notebook.name, REPO_ROOT / "solutions" / notebook.name]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise GradingError(
        f"no solution notebook for {notebook}: looked for {' and '.join(map(str, candidates))}; pass --solution PATH"
    )


def check_title(cell: nbformat.NotebookNode, exercise: str) -> str:
    """The exercise's title, from the reference check output ``✅ 01-3 delta-rule memory update: correct``."""
    text = "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = re.sub(r"^[^\w]*", "", line)
    line = line.removeprefix(exercise).strip()
    return re.sub(r":\s*(correct|ok|passed)\W*$", "", line, flags=re.IGNORECASE).strip()


def _read(path: Path, what: str) -> nbformat.NotebookNode:
    if not path.is_file():
        raise GradingError(f"{what} {path} does not exist")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises several unrelated types for unreadable files
        raise GradingError(f"cannot read {what} {path}: {error}") from error


def _run_nbval(copy_path: Path, timeout: float, sanitizer: Path | None) -> tuple[dict, str]:
    """Run nbval on ``copy_path`` in a subprocess; return the per-cell records and pytest's output."""
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
        proc = subprocess.run(
            cmd + [str(copy_path)], cwd=tmp, env=env, capture_output=True, encoding="utf-8", errors="replace"
        )
        output = proc.stdout + proc.stderr
        if proc.returncode not in (0, 1) or not report.exists():
            raise GradingError(f"nbval did not run (pytest exit code {proc.returncode}):\n{output[-3000:]}")
        return json.loads(report.read_text(encoding="utf-8")), output


def grade(
    notebook: str | Path,
    solution: str | Path | None = None,
    *,
    timeout: float = DEFAULT_CELL_TIMEOUT_S,
    workdir: str | Path | None = None,
    sanitizer: str | Path | None = None,
) -> GradeResult:
    """Grade ``notebook`` against ``solution`` (default: ``solutions/<same name>``).

    ``timeout`` is nbval's per-cell limit in seconds; ``workdir`` is the folder the graded
    copy runs in (default: the notebook's own folder, so relative paths work); ``sanitizer``
    is an nbval sanitizer file (default: ``tests/nbval_sanitize.cfg`` when it exists).
    Raises ``GradingError`` when grading cannot start (missing file, no check cells, ...).
    """
    notebook = Path(notebook)
    solution = Path(solution) if solution is not None else default_solution(notebook)
    learner_nb = _read(notebook, "notebook")
    reference_nb = _read(solution, "solution notebook")
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
        records, output = _run_nbval(copy_path, timeout, Path(sanitizer) if sanitizer else None)
    finally:
        copy_path.unlink(missing_ok=True)
    duration = time.perf_counter() - start

    cells = [
        CellResult(cell_id, rec["outcome"] == "passed", rec["outcome"], rec["reason"], rec["duration_s"])
        for cell_id, rec in records.items()
    ]
    rows = []
    for key, ref_cell in checks.items():
        exercise = key.removeprefix("check-")
        rec = records.get(ref_cell.get("id"))
        passed = rec is not None and rec["outcome"] == "passed"
        reason = "" if passed else (rec["reason"] if rec else "not run")
        rows.append(GradeRow(exercise, check_title(ref_cell, exercise), passed, reason, ref_cell.get("id")))
    return GradeResult(notebook, solution, rows, cells, notes, duration, output)


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m course_lib.grading``: print the table; 0 once grading ran."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading",
        description="Grade a learner's notebook: restore the reference check cells, run nbval, print a score.",
    )
    parser.add_argument("notebook", type=Path, help="the learner's notebook")
    parser.add_argument("--solution", type=Path, default=None, help="reference notebook (default: solutions/<same name>)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S, help="per-cell time limit in seconds (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder to run the notebook in (default: its own folder)")
    parser.add_argument("--show-log", action="store_true", help="also print pytest/nbval's output")
    args = parser.parse_args(argv)
    try:
        result = grade(args.notebook, args.solution, timeout=args.timeout, workdir=args.workdir)
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.show_log:
        print(result.pytest_output)
    print(result.table())
    return 0
