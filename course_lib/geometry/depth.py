"""Relative depth maps: per-image standardisation, the scale- and shift-invariant loss, Pearson agreement (chapters 05-06).

Monocular depth (Marigold, Depth Anything, the course's depth prior) is known only up to a
scale and a shift per image; these are the ways the 3D chapters compare such maps with each
other and with rendered depth.
"""

from __future__ import annotations

import torch


def standardize(maps: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """Per-image zero mean, unit variance of (B, H, W) maps over the pixels of ``mask`` (all when None) (chapter 06)."""
    mask = torch.ones_like(maps, dtype=torch.bool) if mask is None else mask
    weight = mask.float()
    n = weight.sum(dim=(1, 2), keepdim=True).clamp(min=1)
    mean = (maps * weight).sum(dim=(1, 2), keepdim=True) / n
    var = (((maps - mean) ** 2) * weight).sum(dim=(1, 2), keepdim=True) / n
    return (maps - mean) / (var + eps).sqrt()


def scale_shift_invariant_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""MSE between per-image standardised prediction and target (chapter 06):
    :math:`\frac{1}{|M|}\sum_{p\in M} (\hat d_p - \hat d^*_p)^2`, :math:`\hat d = (d - \mu_d)/\sigma_d`; invariant to
    a positive scale and any shift of either map (the ambiguity of monocular depth, MiDaS Eq. 4)."""
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(f"pred and target must both be (B, H, W), got {tuple(pred.shape)} and {tuple(target.shape)}")
    mask = torch.ones_like(pred, dtype=torch.bool) if mask is None else mask
    diff = (standardize(pred, mask) - standardize(target, mask)) ** 2
    return (diff * mask).sum() / mask.sum().clamp(min=1)


def pearson(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Per-image Pearson correlation of (B, H, W) maps over ``mask`` (RealmDreamer Eq. 6's depth agreement), (B,) (chapters 05-06)."""
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"a and b must both be (B, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    mask = torch.ones_like(a, dtype=torch.bool) if mask is None else mask
    za, zb = standardize(a, mask), standardize(b, mask)
    return (za * zb * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp(min=1)
