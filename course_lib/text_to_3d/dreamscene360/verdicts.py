r"""Paired comparisons with their noise, and the verdict sentence each prints (chapter 05).

A claim such as "wrap-around sampling lowers the seam error" is judged on paired measurements
(the same noise seeds, the same tiles, the same training seeds for both methods): the per-pair
differences :math:`d_i`, their mean and a Student-t confidence interval

.. math:: \bar d \pm t_{0.975,\,n-1}\, s_d / \sqrt n .

The method *reproduces* the claim when the whole interval lies on the better side of 0, is
*opposite* when it lies on the worse side, and is a *tie* (within noise) otherwise. Differences below a
relative ``tolerance`` (default 1e-6 of the measured values: floating-point rounding) count as no
difference at all, however consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.claims import REPRODUCES, TIE, paired_interval

OPPOSITE = "opposite"  # chapters 01-04 say "does not reproduce"; a paired comparison names the direction


@dataclass(frozen=True)
class PairedComparison:
    """``method`` vs ``baseline`` on n pairs; ``better`` is "lower" or "higher" (chapter 05).

    ``gain`` is the mean improvement (positive = better), ``low``/``high`` its confidence interval,
    ``wins`` the number of pairs in which the method is strictly better.
    """

    name: str
    n: int
    baseline_mean: float
    method_mean: float
    gain: float
    low: float
    high: float
    wins: int
    better: str
    margin: float = 0.0  # |gain| below this is rounding, not an effect

    @property
    def verdict(self) -> str:
        if self.low > self.margin:
            return REPRODUCES
        if self.high < -self.margin:
            return OPPOSITE
        return TIE

    @property
    def holds(self) -> bool:
        return self.verdict == REPRODUCES

    def line(self, digits: int = 3) -> str:
        """One printed sentence: the numbers and the verdict."""
        f = f"{{:.{digits}f}}"
        return (f"{self.name}: {f.format(self.baseline_mean)} -> {f.format(self.method_mean)} ({self.better} is better); "
                f"gain {f.format(self.gain)}, 95% CI [{f.format(self.low)}, {f.format(self.high)}], better in {self.wins}/{self.n} -> {self.verdict}")


def compare_paired(name: str, baseline, method, better: str = "lower", confidence: float = 0.95, tolerance: float = 1e-6) -> PairedComparison:
    """Compare paired measurements (sequences or 1-D tensors of equal length n >= 2) (chapter 05)."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    a = torch.as_tensor(baseline, dtype=torch.float64).flatten()
    b = torch.as_tensor(method, dtype=torch.float64).flatten()
    if a.shape != b.shape or a.numel() < 2:
        raise ValueError(f"need two paired samples of the same length >= 2, got {a.numel()} and {b.numel()}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError(f"{name}: the measurements hold NaN or inf; a paired comparison needs finite numbers")
    gain = (a - b) if better == "lower" else (b - a)  # positive = the method is better
    mean, low, high = paired_interval(gain.tolist(), confidence)
    margin = tolerance * max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return PairedComparison(name, gain.numel(), float(a.mean()), float(b.mean()), mean, low, high, int((gain > margin).sum()), better, margin)
