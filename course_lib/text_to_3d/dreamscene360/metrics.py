r"""How chapter 05 measures geometry: cross-tile disagreement and the error against a true distance (chapter 05).

Both take tensors only: the true distance comes from the caller (the notebook renders it from the
procedural world; method code never sees it).
"""

from __future__ import annotations

import torch

from course_lib.geometry.icosahedron import sample_tangent_tiles


def cross_tile_disagreement(tile_distance: torch.Tensor, tile_mask: torch.Tensor, fov_deg: float, dirs: torch.Tensor) -> float:
    r"""Mean relative spread of the distances that overlapping tiles give one direction (chapter 05).

    ``tile_distance`` and ``tile_mask`` are (20, S, S); ``dirs`` (N, 3) the directions to probe (e.g. a
    panorama's pixels). For every direction seen (and valid) in at least two tiles,
    :math:`\sigma / \mu` of their distances; averaged over those directions. 0 = the tiles agree.
    """
    values, visible = sample_tangent_tiles(torch.stack([tile_distance, tile_mask.float()], dim=-1), fov_deg, dirs)
    seen = visible & (values[..., 1] > 0.5)  # (20, N)
    d = values[..., 0] * seen
    count = seen.sum(dim=0)
    shared = count >= 2
    if not shared.any():
        raise ValueError("no direction is seen by two valid tiles: cannot measure their disagreement")
    mean = d.sum(dim=0)[shared] / count[shared]
    var = (((d[:, shared] - mean) ** 2) * seen[:, shared]).sum(dim=0) / count[shared]
    return float((var.sqrt() / mean.clamp(min=1e-6)).mean())


def median_scale(pred: torch.Tensor, true: torch.Tensor, mask: torch.Tensor) -> float:
    """The one global scale s = median(true / pred) over ``mask``: a monocular reconstruction is known up to it (chapter 05)."""
    if pred.shape != true.shape or mask.shape != pred.shape:
        raise ValueError(f"pred, true and mask must share one shape, got {tuple(pred.shape)}, {tuple(true.shape)}, {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError("the mask selects no pixel")
    return float((true[mask] / pred[mask].clamp(min=1e-6)).median())


def abs_rel(pred: torch.Tensor, true: torch.Tensor, mask: torch.Tensor, scale: float = 1.0) -> float:
    r"""Mean relative error :math:`\frac{1}{|M|}\sum_M |s\,\hat r - r| / r` over ``mask`` (AbsRel of depth benchmarks) (chapter 05)."""
    if pred.shape != true.shape or mask.shape != pred.shape:
        raise ValueError(f"pred, true and mask must share one shape, got {tuple(pred.shape)}, {tuple(true.shape)}, {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError("the mask selects no pixel")
    return float(((scale * pred[mask] - true[mask]).abs() / true[mask]).mean())
