"""The command line ``python -m course_lib.grading``: one notebook, or a whole class with ``--out``.

    python -m course_lib.grading NOTEBOOK [--solution PATH] [--timeout S] [--workdir DIR] [--show-log]
    python -m course_lib.grading SUBMISSIONS... --out grades.csv [--chapter NN] [--jobs N] [--notebook-timeout S]

The first prints the table of ``course_lib.grading.grader``; the second writes the gradebook
of ``course_lib.grading.gradebook`` and prints its progress (stderr) and summary (stdout).
SIGTERM and SIGHUP are turned into KeyboardInterrupt so that, as with Ctrl-C, the graded
copies are deleted and the kernels killed before the command exits (code 130).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from course_lib.grading.chapter import find_solution
from course_lib.grading.grader import DEFAULT_CELL_TIMEOUT_S, REPO_ROOT, grade
from course_lib.grading.merge import GradingError


def _chapter(text: str) -> str:
    if not text.isdigit() or len(text) > 2:
        raise argparse.ArgumentTypeError(f"expected a chapter number such as 01, got {text!r}")
    return text.zfill(2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading",
        description="Grade a learner's notebook: restore the reference check cells, run nbval, print a score. "
                    "With --out, grade a class: every submission given, into a CSV gradebook.",
    )
    parser.add_argument("notebooks", type=Path, nargs="+", metavar="NOTEBOOK",
                        help="the learner's notebook; with --out, the submissions: notebooks and folders of notebooks")
    parser.add_argument("--solution", type=Path, default=None,
                        help="reference notebook (default: the solution of the chapter the notebook names)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S, help="per-cell time limit in seconds (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder to run the notebook in (default: its own folder)")
    parser.add_argument("--show-log", action="store_true", help="also print pytest/nbval's output (one notebook)")
    parser.add_argument("--out", type=Path, default=None,
                        help="grade a class: write the gradebook CSV here, and the reasons beside it (NAME-reasons.csv)")
    parser.add_argument("--chapter", type=_chapter, default=None,
                        help="chapter to grade against (default: the one the notebook names; for a class, the most named)")
    parser.add_argument("--jobs", type=int, default=None, help="with --out: notebooks graded at once (default: the CPU cores)")
    parser.add_argument("--notebook-timeout", type=float, default=None,
                        help="time limit per notebook in seconds (default: none for one notebook, 900 with --out)")
    return parser


@contextmanager
def _interrupt_on_termination():
    """Raise KeyboardInterrupt on SIGTERM and SIGHUP too, so that cleanup runs (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    names = [name for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {name: signal.signal(getattr(signal, name), interrupt) for name in names}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


def _grade_notebook(args: argparse.Namespace) -> int:
    notebook = args.notebooks[0]
    solution = args.solution
    if solution is None and args.chapter is not None:
        folders = [notebook.resolve().parent.parent / "solutions", REPO_ROOT / "solutions"]
        solution = find_solution(args.chapter, folders)
        if solution is None:
            raise GradingError(f"no solution notebook of chapter {args.chapter} in {' or '.join(map(str, folders))}; pass --solution PATH")
    result = grade(notebook, solution, timeout=args.timeout, workdir=args.workdir, notebook_timeout=args.notebook_timeout)
    if args.show_log:
        print(result.pytest_output)
    print(result.table())
    return 0


def _grade_class(args: argparse.Namespace) -> int:
    from course_lib.grading.gradebook import DEFAULT_NOTEBOOK_TIMEOUT_S, grade_class, reasons_path

    out = args.out
    if not out.parent.is_dir():
        raise GradingError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.suffix.lower() == ".ipynb":
        raise GradingError(f"--out {out} would overwrite a notebook: give a .csv file")
    book = grade_class(
        args.notebooks, chapter=args.chapter, solution=args.solution, jobs=args.jobs,
        notebook_timeout=args.notebook_timeout or DEFAULT_NOTEBOOK_TIMEOUT_S,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        timeout=args.timeout, workdir=args.workdir,
    )
    book.write(out)
    print(book.summary())
    print(f"wrote {out} and {reasons_path(out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 once grading ran, 2 when it could not start, 130 when interrupted."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.out is None:
        if len(args.notebooks) > 1 or args.notebooks[0].is_dir():
            parser.error("several notebooks or a folder are a class: add --out grades.csv")
        if args.jobs is not None:
            parser.error("--jobs grades several notebooks at once: it needs --out")
    elif args.show_log:
        parser.error("--show-log prints one notebook's nbval log: it does not go with --out")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    for name in ("timeout", "notebook_timeout"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive number of seconds")
    try:
        with _interrupt_on_termination():
            return _grade_class(args) if args.out is not None else _grade_notebook(args)
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: graded copies deleted and kernels stopped; nothing written", file=sys.stderr)
        return 130
