"""pytest plugin used by the grader: records what happened to every cell nbval ran.

Loaded with ``-p course_lib.grading.nbval_report --course-grading-report OUT.json``; writes
one record per notebook cell: its id, whether it passed, and the reason when it did not
(the exception's first line, or nbval's output mismatch). The file is rewritten (atomically)
as each cell starts and ends, so that a grader that stops the run (a time limit, a dead
kernel) knows which cells passed and which cell was ``running`` when it stopped.
"""

from __future__ import annotations

import json
import os

import pytest

_records: dict[str, dict] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--course-grading-report PATH``: where to write the per-cell JSON records."""
    parser.addoption("--course-grading-report", default=None, help="write per-cell grading results to this JSON file")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _text_of(outputs: list) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def failure_reason(message: str, outputs: list) -> str:
    """One line saying why a cell failed, from nbval's error message and the cell's new outputs."""
    if message.startswith("Timeout"):
        return _first_line(message)
    for out in outputs:
        if out.get("output_type") == "error":
            detail = _first_line(out.get("evalue", ""))
            return f"{out.get('ename', 'Error')}: {detail}" if detail else out.get("ename", "Error")
    if message.startswith("Cell outputs differ"):
        got = _first_line(_text_of(outputs))
        return f"output differs from the reference (got {got!r})" if got else "output differs from the reference (no output)"
    return _first_line(message) or "failed"


def _key(item: pytest.Item) -> str:
    return item.cell.get("id") or f"cell-{item.cell_num}"


def _write(config: pytest.Config) -> None:
    path = config.getoption("--course-grading-report")
    if path:
        partial = f"{path}.partial"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(_records, f, indent=1)
        os.replace(partial, path)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Record that a cell is running, before nbval sends it to the kernel."""
    if getattr(item, "cell", None) is not None:
        _records[_key(item)] = {"cell_num": item.cell_num, "outcome": "running", "reason": "", "duration_s": 0.0}
        _write(item.config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Record the outcome of each nbval cell item (its call phase, or a failed/skipped setup)."""
    outcome = yield
    report = outcome.get_result()
    cell = getattr(item, "cell", None)
    if cell is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    if report.passed:
        reason = ""
    elif report.skipped:
        reason = "not run: " + (getattr(report, "wasxfail", "") or "skipped")
    else:
        message = str(call.excinfo.value) if call.excinfo else ""
        reason = failure_reason(message, getattr(item, "test_outputs", None) or [])
    _records[_key(item)] = {
        "cell_num": item.cell_num,
        "outcome": report.outcome,
        "reason": reason,
        "duration_s": round(report.duration, 3),
    }
    _write(item.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the records collected during the session (also when no cell ran)."""
    _write(session.config)
