"""The checker toolkit: compare a learner's function with the reference and say what is wrong in words.

A chapter's checker (``checks_NN.py``) calls :func:`call` to run the learner's code,
:func:`expect_close` to compare a result with the reference, and :func:`diagnose` to turn a
mismatch into a sentence by testing it against known wrong variants (a missing
normaliser, a non-causal mask...). On success it calls :func:`passed`, which prints the one
stable line that nbval compares; on failure it raises :class:`CheckFailed`.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

import torch


class CheckFailed(AssertionError):
    """A learner's exercise is not right yet; the message says what is wrong and what to look at."""


_PASSED: set[str] = set()  # the check ids that passed in this kernel (this Python process)
PROGRESS_MARK = "progress of chapter"  # the progress line starts with it; tests/nbval_sanitize.cfg masks that line


def passed(check_id: str, title: str) -> None:
    _PASSED.add(check_id)
    print(f"✅ {check_id} {title}: correct")


def open_exercises(exercises: dict[str, str]) -> list[str]:
    """The ids among ``exercises`` (id -> title) whose check has not passed in this kernel."""
    return [check_id for check_id in exercises if check_id not in _PASSED]


def require_passed(exercises: dict[str, str], *ids: str, what: str = "this experiment") -> None:
    """Stop ``what`` (an experiment that runs on the learner's code) when one of ``ids`` is still open.

    Raises CheckFailed naming every open exercise, so an unsolved notebook fails there with the
    exercise's name rather than deep inside a training loop.
    """
    still_open = [check_id for check_id in ids if check_id not in _PASSED]
    if still_open:
        named = "; ".join(f"exercise {check_id} ({exercises[check_id]})" for check_id in still_open)
        raise CheckFailed(f"{what} runs on your code, and {named} has not passed its check yet: solve it and run its check cell first")


def progress_line(chapter: str, exercises: dict[str, str]) -> str:
    """One line: every exercise of ``chapter`` passed in this kernel, or which are still open.

    The line's text depends on what the learner has solved, so the grader's sanitizer masks it
    (its output is never what a check is graded on); on the solution it is always the first form.
    """
    still_open = open_exercises(exercises)
    if not still_open:
        return f"{PROGRESS_MARK} {chapter}: all {len(exercises)} exercises pass in this kernel"
    named = "; ".join(f"{check_id} {exercises[check_id]}" for check_id in still_open)
    return f"{PROGRESS_MARK} {chapter}: {len(still_open)} of {len(exercises)} exercises still open (not passed in this kernel): {named}"


def _tensors_in(values: Iterable[Any]) -> list[torch.Tensor]:
    """The tensors among ``values`` and inside their attributes (e.g. a MemoryState's M and z)."""
    found = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif hasattr(value, "__dataclass_fields__"):
            found.extend(v for v in vars(value).values() if isinstance(v, torch.Tensor))
    return found


def _innermost_function(err: BaseException) -> str:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name if tb is not None else "?"


def call(fn: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
    """Run the learner's ``fn``; an exception becomes a CheckFailed naming ``what`` was called.

    The tensor arguments must come back unchanged: an in-place update (``M += ...``) breaks
    autograd when the function is trained, so it is reported here, in words.
    """
    if not callable(fn):
        raise CheckFailed(f"{what}: expected a function or class, got {type(fn).__name__}")
    if getattr(fn, "__module__", "").startswith("course_lib."):
        raise CheckFailed(f"{what} is course_lib's reference ({fn.__module__}), imported rather than written: write your own")
    inputs = _tensors_in(list(args) + list(kwargs.values()))
    originals = [t.detach().clone() for t in inputs]
    try:
        with warnings.catch_warnings():  # a warning would print to stderr and spoil the compared output
            warnings.simplefilter("ignore")
            result = fn(*args, **kwargs)
    except NotImplementedError as err:
        inner = _innermost_function(err)
        own = getattr(fn, "__name__", None)
        if inner in (own, "forward", "__init__"):
            raise CheckFailed(f"{what} is not implemented yet: replace `raise NotImplementedError()` with your code") from None
        raise CheckFailed(f"{what} calls `{inner}`, which is not implemented yet: finish that exercise first") from None
    except CheckFailed:
        raise
    except Exception as err:  # the learner's bug: report it in words, not as a traceback in the checker
        raise CheckFailed(f"{what} raised {type(err).__name__}: {err}") from err
    for number, (tensor, original) in enumerate(zip(inputs, originals)):
        if not torch.equal(tensor.detach(), original):
            raise CheckFailed(
                f"{what} changed its input tensor #{number + 1} in place (e.g. `M += ...` or `q.div_(...)`): "
                "autograd needs inputs unchanged, so build a new tensor instead (`M_new = M + ...`)"
            )
    return result


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


def run(check_id: str, title: str, body: Callable[[], None], chapter_exercises: dict[str, str] | None = None) -> None:
    """Run a checker body; print the success line or raise CheckFailed with the id and title in front.

    The chapter's last checker passes ``chapter_exercises`` (id -> title): after its own
    verdict it prints :func:`progress_line`, which exercises of the chapter are still open.
    """
    try:
        try:
            with torch.random.fork_rng():  # a check must not change the random numbers of the cells after it
                body()
        except CheckFailed as err:
            raise CheckFailed(f"❌ {check_id} {title}: {err}") from None
        passed(check_id, title)
    finally:
        if chapter_exercises is not None:
            print(progress_line(check_id.split("-")[0], chapter_exercises))
