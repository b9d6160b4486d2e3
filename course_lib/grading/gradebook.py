"""A teacher's gradebook: grade every submission of a chapter, several at a time, into a CSV.

    python -m course_lib.grading SUBMISSIONS... --out grades.csv [--chapter NN] [--jobs N] [--notebook-timeout S]

SUBMISSIONS are notebooks and folders (searched recursively for ``*.ipynb``; hidden files and
folders such as ``.ipynb_checkpoints`` are skipped). Each submission's chapter is read from the
notebook (``course_lib.grading.chapter``), never from its file name; the class is graded as one
chapter: ``--chapter``, else the chapter most submissions name. Each gradable submission is
graded by ``grade_loaded`` in a kernel of its own, ``jobs`` at a time (each kernel's torch on
one thread), under a per-notebook time limit.

What cannot be graded does not stop the others; its row says why (``problem``): an empty,
cut-short or non-notebook file, another chapter's notebook, a notebook stopped at its time
limit or whose kernel died (the checks that passed before still count), a graded copy that
cannot be written.

Two files are written:

- ``grades.csv``: ``submission``, one column per exercise (``01-1`` ...: 1 passed, 0 not),
  ``total``, ``problem``; then a last row ``passed (of N)`` counting, per exercise, the
  submissions that passed it: where the class struggles.
- ``grades-reasons.csv``: the same rows and exercise columns, holding why each exercise failed
  (empty where it passed), the ``problem`` and the grader's ``notes`` (check cells restored,
  cells that reach into the checks and need reading by hand).
"""

from __future__ import annotations

import csv
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from course_lib.grading.chapter import ChapterInfo, chapter_from_file_name, find_solution, notebook_chapter
from course_lib.grading.grader import REPO_ROOT, GradingCancelled, check_title, grade_loaded
from course_lib.grading.merge import GradingError, reference_checks
from course_lib.grading.notebook_file import load_notebook, read_notebook

DEFAULT_NOTEBOOK_TIMEOUT_S = 900
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # parallelism comes from grading several notebooks
NOT_GRADED = "not graded"


@dataclass
class Submission:
    """A submitted file: its notebook and the chapter it names, or why it is not a notebook."""

    path: Path
    notebook: nbformat.NotebookNode | None
    chapter: ChapterInfo | None
    problem: str = ""


@dataclass
class ClassRow:
    """One submission's line of the gradebook."""

    submission: str
    passed: dict[str, bool]
    reasons: dict[str, str]
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def total(self) -> int:
        """Number of exercises passed."""
        return sum(self.passed.values())


@dataclass
class Gradebook:
    """A class graded on one chapter: its exercises ``(id, title)`` and a row per submission."""

    chapter: str
    solution: Path
    exercises: list[tuple[str, str]]
    rows: list[ClassRow]

    def passed_counts(self) -> dict[str, int]:
        """How many submissions passed each exercise."""
        return {exercise: sum(row.passed[exercise] for row in self.rows) for exercise, _ in self.exercises}

    def write(self, out: Path) -> Path:
        """Write ``out`` (scores) and ``reasons_path(out)`` (why); return the latter."""
        ids = [exercise for exercise, _ in self.exercises]
        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["submission", *ids, "total", "problem"])
            for row in self.rows:
                writer.writerow([row.submission, *(int(row.passed[e]) for e in ids), row.total, row.problem])
            counts = self.passed_counts()
            writer.writerow([f"passed (of {len(self.rows)})", *(counts[e] for e in ids), "", ""])
        reasons = reasons_path(out)
        with open(reasons, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["submission", *ids, "problem", "notes"])
            for row in self.rows:
                writer.writerow([row.submission, *(row.reasons[e] for e in ids), row.problem, " | ".join(row.notes)])
        return reasons

    def summary(self) -> str:
        """The printable end of a run: per exercise how many passed, the mean total, the problems."""
        n = len(self.rows)
        counts = self.passed_counts()
        width = max(len("exercise"), *(len(e) for e, _ in self.exercises))
        title_width = max(len("title"), *(len(t) for _, t in self.exercises))
        lines = [f"chapter {self.chapter}: {n} submission{'s' * (n != 1)} graded against {self.solution}",
                 f"{'exercise'.ljust(width)}  {'title'.ljust(title_width)}  passed"]
        lines += [f"{e.ljust(width)}  {t.ljust(title_width)}  {counts[e]}/{n}" for e, t in self.exercises]
        mean = sum(row.total for row in self.rows) / n
        lines.append(f"mean total: {mean:.1f}/{len(self.exercises)}")
        problems = [row for row in self.rows if row.problem]
        lines.append(f"problems: {len(problems)} (see the problem column)" if problems else "problems: none")
        return "\n".join(line.rstrip() for line in lines)


def reasons_path(out: Path) -> Path:
    """Where the reasons go for a gradebook written to ``out``: ``grades.csv`` -> ``grades-reasons.csv``."""
    return out.with_name(f"{out.stem}-reasons{out.suffix or '.csv'}")


def find_submissions(paths: list[Path]) -> list[Path]:
    """The notebooks to grade: each file given, and every ``*.ipynb`` under each folder given
    (hidden files and folders skipped), in order, each once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*.ipynb")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise GradingError(f"{path} does not exist: give notebooks or folders of notebooks")
    seen: set[Path] = set()
    unique = []
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    if not unique:
        raise GradingError(f"no notebooks (*.ipynb) in {', '.join(map(str, paths))}")
    return unique


def read_submission(path: Path) -> Submission:
    """Read ``path``; a file that is not a notebook becomes a submission with its problem."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return Submission(path, None, None, f"cannot read the file: {error.strerror}")
    nb, problem = load_notebook(data)
    if nb is None:
        return Submission(path, None, None, problem)
    return Submission(path, nb, notebook_chapter(nb))


def choose_chapter(submissions: list[Submission], chapter: str | None, solution: Path | None) -> tuple[str, Path]:
    """The class's chapter and its solution: from ``solution``, ``chapter``, else the most named chapter."""
    if solution is not None:
        info = notebook_chapter(read_notebook(solution, "solution notebook"))
        named = info.chapter or chapter_from_file_name(solution.name)
        if chapter is not None and named is not None and named != chapter:
            raise GradingError(f"--chapter {chapter} but the solution {solution} is chapter {named}: drop one of the two")
        if chapter is None and named is None:
            raise GradingError(f"cannot tell the chapter of the solution {solution} ({info.source}): pass --chapter NN")
        return chapter or named, solution
    if chapter is None:
        counts = Counter(sub.chapter.chapter for sub in submissions if sub.chapter and sub.chapter.chapter)
        if not counts:
            raise GradingError(
                f"none of the {len(submissions)} submissions names its chapter (course.chapter metadata or "
                "check-NN-K tags): pass --chapter NN"
            )
        ranked = counts.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            tied = ", ".join(f"{c} ({k})" for c, k in ranked)
            raise GradingError(f"the submissions are of chapters {tied}, none the most: pass --chapter NN")
        chapter = ranked[0][0]
    folder = REPO_ROOT / "solutions"
    found = find_solution(chapter, [folder])
    if found is None:
        raise GradingError(f"no solution notebook of chapter {chapter} ({chapter}_*.ipynb) in {folder}: pass --solution PATH")
    return chapter, found


def _chapter_problem(sub: Submission, chapter: str) -> tuple[bool, str]:
    """(whether to grade ``sub`` as ``chapter``, the problem to report)."""
    if sub.chapter is None:
        return False, sub.problem
    if sub.chapter.chapter is None:
        return True, f"the notebook does not name its chapter ({sub.chapter.source}): graded as chapter {chapter}"
    if sub.chapter.chapter != chapter:
        return False, (f"a chapter {sub.chapter.chapter} notebook (by its {sub.chapter.source}), not chapter "
                       f"{chapter}: grade it with --chapter {sub.chapter.chapter}")
    return True, ""


def _ungraded(sub: Submission, exercises: list[str], problem: str) -> ClassRow:
    return ClassRow(str(sub.path), dict.fromkeys(exercises, False), dict.fromkeys(exercises, NOT_GRADED), problem)


def _grade_one(sub: Submission, exercises: list[str], problem: str, reference: nbformat.NotebookNode,
               solution: Path, cancel: threading.Event, options: dict) -> ClassRow:
    try:
        result = grade_loaded(sub.notebook, sub.path, reference, solution, cancel=cancel, env_overrides=ONE_THREAD, **options)
    except GradingCancelled:
        raise
    except Exception as error:  # a GradingError, or a fault of this machine: either way, the others go on
        what = str(error) if isinstance(error, GradingError) else f"grading failed: {type(error).__name__}: {error}"
        return _ungraded(sub, exercises, "; ".join(filter(None, [problem, what])))
    return ClassRow(
        str(sub.path),
        {row.exercise: row.passed for row in result.rows},
        {row.exercise: row.reason for row in result.rows},
        "; ".join(filter(None, [problem, result.problem])),
        result.notes,
        result.duration_s,
    )


def default_jobs() -> int:
    """The number of CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def grade_class(
    paths: list[Path],
    *,
    chapter: str | None = None,
    solution: Path | None = None,
    jobs: int | None = None,
    notebook_timeout: float | None = DEFAULT_NOTEBOOK_TIMEOUT_S,
    progress: Callable[[str], None] = lambda line: None,
    **options,
) -> Gradebook:
    """Grade every submission under ``paths`` as one chapter; ``progress`` receives a line per step.

    ``options`` go to ``grade_loaded`` (``timeout`` per cell, ``workdir``, ``sanitizer``).
    Raises ``GradingError`` when nothing can be graded (no notebooks, no chapter, no solution).
    On KeyboardInterrupt every running grading is stopped and cleaned up before it propagates.
    """
    submissions = [read_submission(path) for path in find_submissions(paths)]
    chapter, solution = choose_chapter(submissions, chapter, solution)
    reference = read_notebook(solution, "solution notebook")
    checks = reference_checks(reference)
    exercises = [(key.removeprefix("check-"), check_title(cell, key.removeprefix("check-"))) for key, cell in checks.items()]
    ids = [exercise for exercise, _ in exercises]
    jobs = max(1, jobs or default_jobs())
    n = len(submissions)
    limit = f"time limit {notebook_timeout:g} s per notebook" if notebook_timeout else "no time limit per notebook"
    progress(f"grading {n} submission{'s' * (n != 1)} as chapter {chapter} against {solution}, {jobs} at a time, {limit}")

    rows: list[ClassRow | None] = [None] * n
    done = 0

    def finished(index: int, row: ClassRow) -> None:
        nonlocal done
        rows[index], done = row, done + 1
        took = f" in {row.duration_s:.1f} s" if row.duration_s else ""
        trouble = f" ({row.problem})" if row.problem else ""
        progress(f"[{done}/{n}] {row.submission}: {row.total}/{len(ids)}{took}{trouble}")

    to_grade = []
    for index, sub in enumerate(submissions):
        gradable, problem = _chapter_problem(sub, chapter)
        if gradable:
            to_grade.append((index, sub, problem))
        else:
            finished(index, _ungraded(sub, ids, problem))
    cancel = threading.Event()
    options = dict(options, notebook_timeout=notebook_timeout)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grading") as pool:
        futures = {
            pool.submit(_grade_one, sub, ids, problem, reference, solution, cancel, options): index
            for index, sub, problem in to_grade
        }
        try:
            for future in as_completed(futures):
                finished(futures[future], future.result())
        except BaseException:
            cancel.set()  # each running grading kills its kernel and deletes its copy, then the pool closes
            for future in futures:
                future.cancel()
            raise
    return Gradebook(chapter, solution, exercises, [row for row in rows if row is not None])
