"""Read a notebook file, saying in words what is wrong with one that is not a notebook.

A class's submissions hold every kind of broken file: an empty upload, a download cut
short, a notebook saved by another program. Each gets one sentence naming the problem and
what to do, instead of nbformat's exception.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from course_lib.grading.merge import GradingError

_RESEND = "ask for the notebook again (saved in Jupyter, downloaded as .ipynb)"


def notebook_problem(data: bytes) -> str:
    """Why ``data`` is not a notebook file, or ``""`` when it looks like one (JSON with cells)."""
    if not data.strip():
        return f"the file is empty ({len(data)} bytes): {_RESEND}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"the file is not text (not UTF-8): it is not a notebook; {_RESEND}"
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        return (f"the file is not valid JSON ({error.msg}: line {error.lineno}, column {error.colno}): "
                f"it is cut short or not a notebook; {_RESEND}")
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list) or "nbformat" not in content:
        return f"the file is JSON but not a Jupyter notebook (no 'cells' list or no 'nbformat' version): {_RESEND}"
    return ""


def load_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """``(notebook as nbformat 4, "")`` for a notebook file's bytes, else ``(None, why it is not one)``."""
    problem = notebook_problem(data)
    if problem:
        return None, problem
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4), ""
    except Exception as error:  # nbformat raises several unrelated types for malformed notebooks
        detail = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        return None, f"the file is not a notebook nbformat can read ({detail}): {_RESEND}"


def read_notebook(path: Path, what: str = "notebook") -> nbformat.NotebookNode:
    """The notebook at ``path`` (as nbformat 4); ``GradingError`` saying what is wrong when it is not one."""
    if not path.is_file():
        raise GradingError(f"{what} {path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise GradingError(f"cannot read {what} {path}: {error.strerror}") from error
    nb, problem = load_notebook(data)
    if nb is None:
        raise GradingError(f"cannot read {what} {path}: {problem}")
    return nb
