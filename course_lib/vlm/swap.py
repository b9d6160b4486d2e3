"""Run course_lib's bridges on the learner's own functions (chapter 04).

The MEQ-Former, the Q-Formers and the VLM call five functions of ``course_lib.vlm``:
``cross_attention``, ``qformer_layer``, ``concat_encoder_features``, ``encoder_keep_mask`` and
``build_lm_inputs``. Inside ``with your_functions(...)`` they call the given implementations
instead, so that the chapter's experiment — training and evaluating every bridge — runs on the
code the learner wrote; on leaving, course_lib's own functions are back.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

SWAPPABLE = ("cross_attention", "qformer_layer", "concat_encoder_features", "encoder_keep_mask", "build_lm_inputs")


@contextmanager
def your_functions(**functions: Callable) -> Iterator[None]:
    """Within the block, course_lib's bridges call ``functions`` (names from ``SWAPPABLE``)."""
    from course_lib.vlm import model, qformer

    unknown = sorted(set(functions) - set(SWAPPABLE))
    if unknown:
        raise ValueError(f"{unknown}: only {SWAPPABLE} can be swapped")
    saved = []
    for module in (qformer, model):
        for name, fn in functions.items():
            if hasattr(module, name):
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, fn)
    try:
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)
