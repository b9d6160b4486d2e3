"""Run the RULER generators and scoring on the learner's own functions (chapter 02).

Inside ``with your_functions(...)`` the sample generators insert needles with the learner's
``insert_needles``, size haystacks with their ``haystack_size`` and count FWE words with their
``zeta_counts``, the rule-based oracle traces variable chains with their ``trace_variables``, and the harness
scores with their ``string_match_all``; on leaving, course_lib's own functions are back.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

from course_lib.longctx.ruler import models, scoring, tasks
from course_lib.swap import swapped

PLACES = {
    "insert_needles": [(tasks, "insert_at_depths")],
    "haystack_size": [(tasks, "largest_fitting")],
    "zeta_counts": [(tasks, "fwe_counts")],
    "trace_variables": [(models, "trace_variables")],
    "string_match_all": [(scoring.METRIC_FUNCTIONS, "string_match_all")],
}


def your_functions(**functions: Callable) -> AbstractContextManager[None]:
    """Within the block, the RULER generators and harness call ``functions`` (names from ``PLACES``)."""
    if "haystack_size" in functions:  # course_lib passes where its doubling starts: that changes the calls, not the answer
        haystack_size = functions["haystack_size"]
        functions["haystack_size"] = lambda fits, start=16: haystack_size(fits)
    return swapped(PLACES, **functions)
