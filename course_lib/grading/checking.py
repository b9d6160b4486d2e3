"""The checker toolkit: compare a learner's function with the reference and say what is wrong in words.

A chapter's checker (``checks_NN.py``) calls :func:`call` to run the learner's code,
:func:`expect_close` to compare a result with the reference, and :func:`diagnose` to turn a
mismatch into a sentence by testing it against known wrong variants (a missing
normaliser, a non-causal mask...). On success it calls :func:`passed`, which prints the one
stable line that nbval compares; on failure it raises :class:`CheckFailed`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch


class CheckFailed(AssertionError):
    """A learner's exercise is not right yet; the message says what is wrong and what to look at."""


def passed(check_id: str, title: str) -> None:
    print(f"✅ {check_id} {title}: correct")


def call(fn: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
    """Run the learner's ``fn``; an exception becomes a CheckFailed naming ``what`` was called."""
    if not callable(fn):
        raise CheckFailed(f"{what}: expected a function or class, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(f"{what} is not implemented yet: replace `raise NotImplementedError()` with your code") from None
    except CheckFailed:
        raise
    except Exception as err:  # the learner's bug: report it in words, not as a traceback in the checker
        raise CheckFailed(f"{what} raised {type(err).__name__}: {err}") from err


def expect_tensor(x: Any, what: str, shape: Iterable[int] | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The value must be a finite tensor of the given shape (and dtype)."""
    if not isinstance(x, torch.Tensor):
        raise CheckFailed(f"{what} should be a torch.Tensor, got {type(x).__name__}")
    if shape is not None and tuple(x.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    if dtype is not None and x.dtype != dtype:
        raise CheckFailed(f"{what} has dtype {x.dtype}, expected {dtype}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise CheckFailed(f"{what} has {bad} NaN/inf entries (a division by zero, or a log/exp overflow?)")
    return x


def is_close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=rtol)


def diagnose(actual: torch.Tensor, wrong_variants: dict[str, torch.Tensor], atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """The explanation of the first known wrong variant that ``actual`` reproduces, or None."""
    for explanation, value in wrong_variants.items():
        if is_close(actual, value, atol, rtol):
            return explanation
    return None


def expect_close(
    actual: Any,
    expected: torch.Tensor,
    what: str,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    wrong_variants: dict[str, torch.Tensor] | None = None,
) -> None:
    """``actual`` must match ``expected``; if it matches a known wrong variant, say which."""
    expect_tensor(actual, what, shape=expected.shape)
    if is_close(actual, expected, atol, rtol):
        return
    hint = diagnose(actual, wrong_variants or {}, atol, rtol)
    if hint:
        raise CheckFailed(f"{what} is wrong: {hint}")
    err = (actual.float() - expected.float()).abs().max().item()
    raise CheckFailed(f"{what} differs from the reference (max abs error {err:.3g})")


def run(check_id: str, title: str, body: Callable[[], None]) -> None:
    """Run a checker body; print the success line or raise CheckFailed with the id and title in front."""
    try:
        body()
    except CheckFailed as err:
        raise CheckFailed(f"❌ {check_id} {title}: {err}") from None
    passed(check_id, title)
