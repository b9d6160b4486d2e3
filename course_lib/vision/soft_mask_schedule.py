"""The soft-mask schedule of iLLaMA: alpha from 1 to 0 by a cutoff (chapter 03)."""

from __future__ import annotations

SCHEDULES = ("linear", "constant")


def soft_mask_alpha(step: int, cutoff_step: int, schedule: str = "linear", alpha0: float = 1.0) -> float:
    r"""The soft-mask ratio :math:`\alpha` at a training step (iLLaMA 2404.06773, eq. 2 and Table 3).

    ``linear``: :math:`\alpha = \alpha_0 (1 - t / T_{cut})` for :math:`t < T_{cut}`;
    ``constant``: :math:`\alpha = \alpha_0` for :math:`t < T_{cut}`. Both are 0 from the cutoff on,
    so the end of training and inference use the hard causal mask.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"soft-mask schedule {schedule!r} is not one of {SCHEDULES}")
    if cutoff_step < 0 or step < 0:
        raise ValueError(f"step={step} and cutoff_step={cutoff_step} must be non-negative")
    if step >= cutoff_step:
        return 0.0
    return alpha0 * (1.0 - step / cutoff_step) if schedule == "linear" else alpha0
