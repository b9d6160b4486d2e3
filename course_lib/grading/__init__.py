"""Checking and grading: the checkers called by check cells, and the notebook grader.

``grade``, ``GradeResult`` and ``GradingError`` come from ``course_lib.grading.grader``
(``python -m course_lib.grading NOTEBOOK``); a whole class is graded by
``course_lib.grading.gradebook`` (``python -m course_lib.grading SUBMISSIONS... --out
grades.csv``); the checker toolkit lives in
``course_lib.grading.checking``. Both are imported on first use, so that a check cell
importing a checker does not load the grader, and the other way round.
"""

from __future__ import annotations

import importlib
import importlib.util

_GRADER_NAMES = ("grade", "GradeResult", "GradeRow", "CellResult", "GradingError")


def __getattr__(name: str):
    if name in _GRADER_NAMES:
        return getattr(importlib.import_module("course_lib.grading.grader"), name)
    if not name.startswith("_") and importlib.util.find_spec("course_lib.grading.checking") is not None:
        checking = importlib.import_module("course_lib.grading.checking")
        if hasattr(checking, name):
            return getattr(checking, name)
    raise AttributeError(f"module 'course_lib.grading' has no attribute {name!r}")
