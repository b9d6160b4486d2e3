"""Run course_lib's bridges on the learner's own functions (chapter 04).

The MEQ-Former, the Q-Formers and the VLM call five functions of ``course_lib.vlm``:
``cross_attention``, ``qformer_layer``, ``concat_encoder_features``, ``encoder_keep_mask`` and
``build_lm_inputs``. Inside ``with your_functions(...)`` they call the given implementations
instead, so that the chapter's experiment — training and evaluating every bridge — runs on the
code the learner wrote; on leaving, course_lib's own functions are back.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

from course_lib.swap import swapped
from course_lib.vlm import model, qformer

PLACES = {
    "cross_attention": [(qformer, "cross_attention")],
    "qformer_layer": [(qformer, "qformer_layer")],
    "concat_encoder_features": [(qformer, "concat_encoder_features")],
    "encoder_keep_mask": [(qformer, "encoder_keep_mask")],
    "build_lm_inputs": [(qformer, "build_lm_inputs"), (model, "build_lm_inputs")],
}


def your_functions(**functions: Callable) -> AbstractContextManager[None]:
    """Within the block, course_lib's bridges call ``functions`` (names from ``PLACES``)."""
    return swapped(PLACES, **functions)
