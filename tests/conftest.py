"""Shared test helpers: grade a notebook and report every notebook's run time at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from course_lib.grading.grader import GradeResult, grade

REPO_ROOT = Path(__file__).resolve().parents[1]

# (label, seconds) of every notebook run by the suite, printed in the terminal summary.
NOTEBOOK_DURATIONS: list[tuple[str, float]] = []


@pytest.fixture
def record_notebook_duration() -> Callable[[str, float], None]:
    """Record that a notebook run labelled ``label`` took ``seconds``."""
    return lambda label, seconds: NOTEBOOK_DURATIONS.append((label, seconds))


@pytest.fixture
def grade_notebook(record_notebook_duration) -> Callable[..., GradeResult]:
    """``grade(...)`` that also records the run's duration, labelled with ``label``."""

    def run(notebook: Path, solution: Path | None = None, *, label: str, **kwargs) -> GradeResult:
        result = grade(notebook, solution, **kwargs)
        record_notebook_duration(label, result.duration_s)
        return result

    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how long each notebook executed by the suite took."""
    if not NOTEBOOK_DURATIONS:
        return
    terminalreporter.ensure_newline()
    terminalreporter.section("notebook run times")
    width = max(len(label) for label, _ in NOTEBOOK_DURATIONS)
    for label, seconds in NOTEBOOK_DURATIONS:
        terminalreporter.write_line(f"{label.ljust(width)}  {seconds:7.1f} s")
    total = sum(seconds for _, seconds in NOTEBOOK_DURATIONS)
    terminalreporter.write_line(f"{'total'.ljust(width)}  {total:7.1f} s")
