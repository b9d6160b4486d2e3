"""A paper's claims judged on this run's numbers, with their noise (chapters 01-04).

Every chapter ends with a table "paper claim | this run | verdict". A verdict is one of three
words: the claim **reproduces** (the interval of this run's effect lies on the paper's side of
the margin), it is a **tie** (the interval straddles the margin: this run cannot tell), or it
**does not reproduce** (the interval lies on the other side). Only claims that can fail are
asserted, and only when they reproduce; a tie is printed as a tie.

Intervals: a Wilson interval for one accuracy measured on ``n`` questions; a normal interval
for the difference of two independent accuracies; a Student-t interval over paired seeds
(two runs with the same seed differ only by the change under test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from scipy import stats

REPRODUCES = "reproduces"
TIE = "tie (within noise)"
FAILS = "does not reproduce"



def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of an accuracy ``successes / n``."""
    if n <= 0:
        raise ValueError(f"an accuracy needs at least one trial, got n={n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)  # exact at the ends (no rounding below a perfect score)
    return low, high


def difference_interval(p1: float, n1: int, p2: float, n2: int, z: float = 1.96) -> tuple[float, float, float]:
    """``(p1 - p2, low, high)``: the 95% normal interval of the difference of two independent accuracies
    (clipped to [-1, 1], the range a difference of accuracies can take).

    The variance of each accuracy is floored at that of one error in ``n`` (a perfect score
    measured on few questions is not certain).
    """
    var1 = max(p1 * (1 - p1), (n1 - 1) / n1**2) / n1
    var2 = max(p2 * (1 - p2), (n2 - 1) / n2**2) / n2
    half = z * math.sqrt(var1 + var2)
    return p1 - p2, max(-1.0, p1 - p2 - half), min(1.0, p1 - p2 + half)


def paired_interval(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the Student-t interval (95% by default) of the mean of paired differences
    (per seed, per sample, per tile: any pairs that differ only by the change under test)."""
    n = len(differences)
    if n < 2:
        raise ValueError("a paired interval needs at least two pairs")
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def verdict_greater(low: float, high: float, margin: float = 0.0) -> str:
    """The claim "the effect exceeds ``margin``", judged on the effect's interval ``[low, high]``."""
    if low > margin:
        return REPRODUCES
    if high < margin:
        return FAILS
    return TIE


def verdict_not_worse(low: float, high: float, margin: float) -> str:
    """The claim "A is at least as good as B, within ``margin``", on the interval of A - B.

    Reproduces when the whole interval lies above ``-margin``; does not when it lies below.
    """
    return verdict_greater(low, high, -margin)


def verdict_at_least(value: float, bound: float) -> str:
    """A claim with no noise to speak of (an exact count, a byte size): ``value >= bound``."""
    return REPRODUCES if value >= bound else FAILS


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's claims table; ``asserted`` claims must reproduce for the run to pass."""

    paper: str
    run: str
    verdict: str
    asserted: bool = True


def claims_table(claims: Sequence[Claim]) -> str:
    """The rows "paper claim | this run | verdict", as a Markdown table."""
    lines = ["| paper claim | this run | verdict |", "|---|---|---|"]
    lines += [f"| {c.paper} | {c.run} | {c.verdict}{'' if c.asserted else ' (not asserted)'} |" for c in claims]
    return "\n".join(lines)


def failed_claims(claims: Sequence[Claim]) -> list[str]:
    """The asserted claims that do not reproduce (a tie is not a reproduction either)."""
    return [f"{c.paper}: {c.run} -> {c.verdict}" for c in claims if c.asserted and c.verdict != REPRODUCES]


def choose_on_validation(validation: Sequence[Claim], test: Sequence[Claim],
                         may_assert: Callable[[Claim], bool] = lambda claim: True,
                         note: Callable[[Claim], str] = lambda claim: "") -> list[Claim]:
    """The test split's claims; a claim is asserted only if it reproduced on the validation split (chapters 03, 04).

    ``validation`` and ``test`` are the same claims judged on each split. The ``run`` column gives both:
    ``validation: ... -> verdict{note}; test: ...``; the verdict is the test split's. ``may_assert(claim)``
    (on the validation claim) can keep a claim from being asserted on test whatever its validation verdict.
    """
    if [c.paper for c in validation] != [c.paper for c in test]:
        raise ValueError("the validation and test claims must be the same claims, in the same order")
    return [replace(t, run=f"validation: {v.run} -> {v.verdict}{note(v)}; test: {t.run}",
                    asserted=v.verdict == REPRODUCES and may_assert(v))
            for v, t in zip(validation, test)]


def split_agreement(validation: Sequence[Claim], test: Sequence[Claim]) -> list[str]:
    """Lines saying how the validation and the test split agree: how many claims get the same verdict on
    both, then one line per claim whose verdict differs."""
    differ = [(v, t) for v, t in zip(validation, test) if v.verdict != t.verdict]
    lines = [f"the two splits give the same verdict on {len(validation) - len(differ)} of {len(validation)} claims"]
    lines += [f"  {v.paper}: validation {v.verdict}, test {t.verdict}" for v, t in differ]
    return lines
