"""Gaussians from a coloured point cloud (3DGS §5: initialisation from SfM points), chapter 05.

Each point becomes an isotropic Gaussian whose scale is the mean distance to its k nearest
neighbours (3DGS uses k = 3), with identity rotation, a low opacity and its point's colour.
"""

from __future__ import annotations

import torch

from course_lib.splatting.gaussians import GaussianParams


def nearest_neighbour_distance(points: torch.Tensor, k: int = 3, chunk: int = 4096) -> torch.Tensor:
    """Mean distance of each point (N, 3) to its k nearest other points, (N,), computed in chunks (chapter 05).

    A chunk holds at most ``chunk`` rows and at most 2^24 distances (64 MB), so a full-scale
    cloud of half a million points does not ask for gigabytes at once.
    """
    N = points.shape[0]
    if N <= k:
        raise ValueError(f"need more than k={k} points to measure neighbour distances, got {N}")
    rows = max(1, min(chunk, (1 << 24) // N))
    out = []
    for start in range(0, N, rows):
        d = torch.cdist(points[start : start + rows], points)  # (rows, N)
        out.append(d.topk(k + 1, largest=False).values[:, 1:].mean(dim=1))  # skip the point itself
    return torch.cat(out)


def gaussians_from_points(
    points: torch.Tensor, colors: torch.Tensor, opacity: float = 0.1, k: int = 3, sh_degree: int = 0, min_scale: float = 1e-4
) -> GaussianParams:
    """One isotropic Gaussian per point (N, 3) with colour (N, 3) in [0, 1] (3DGS §5), chapter 05."""
    if points.ndim != 2 or points.shape[1] != 3 or colors.shape != points.shape:
        raise ValueError(f"points and colors must both be (N, 3), got {tuple(points.shape)} and {tuple(colors.shape)}")
    if not torch.isfinite(points).all():
        raise ValueError("the point cloud has NaN or inf coordinates (a sky pixel with infinite depth?); drop them first")
    scale = nearest_neighbour_distance(points.float(), k).clamp(min=min_scale)
    N = points.shape[0]
    quats = torch.zeros(N, 4)
    quats[:, 0] = 1.0
    return GaussianParams.from_tensors(points.float(), scale[:, None].expand(N, 3), quats, torch.full((N,), opacity), colors.float().clamp(0, 1), sh_degree)
