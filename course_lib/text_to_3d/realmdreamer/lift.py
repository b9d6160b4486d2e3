r"""Lift one image to a coloured point cloud and Gaussians (RealmDreamer §3.1, chapter 06).

A monocular depth model gives depth up to an unknown scale and shift. RealmDreamer aligns it to a metric
depth by least squares,

.. math:: (s^*, b^*) = \arg\min_{s, b} \sum_{p \in M} \big(s\,\hat d_p + b - d_p\big)^2,

back-projects every pixel to a 3D point :math:`X = R^\top (z K^{-1}[u, v, 1]^\top - t)`, and places one
isotropic Gaussian per point. Its size is the pixel footprint :math:`z / f` (the width one pixel covers at
depth :math:`z`): Gaussians sized by the distance to their neighbours would be as wide as the gaps between
depth layers and cover, from a new pose, the very pixels the occlusion volume must fill.
"""

from __future__ import annotations

import torch

from course_lib.geometry import Camera, backproject
from course_lib.splatting import GaussianParams


def align_depth(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares scale and shift (two 0-d tensors) that map ``pred`` onto ``target`` over ``mask`` (chapter 06).

    ``pred``, ``target`` (H, W) or any equal shape; ``mask`` bool of that shape with at least two pixels."""
    if pred.shape != target.shape or mask.shape != pred.shape:
        raise ValueError(f"pred, target and mask must share one shape, got {tuple(pred.shape)}, {tuple(target.shape)}, {tuple(mask.shape)}")
    if int(mask.sum()) < 2:
        raise ValueError("align_depth needs at least two valid pixels in mask (is the whole view sky?)")
    p, d = pred[mask].double(), target[mask].double()
    A = torch.stack([p, torch.ones_like(p)], dim=1)  # (n, 2)
    solution = torch.linalg.lstsq(A, d[:, None]).solution[:, 0]
    return solution[0].to(pred.dtype), solution[1].to(pred.dtype)


def lift_pixels(camera: Camera, depth: torch.Tensor, rgb: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pixels of ``mask`` as points (N, 3), colours (N, 3) and pixel footprints (N,) = depth / focal (chapter 06).

    ``depth`` (H, W) camera-z, ``rgb`` (H, W, 3) in [0, 1], ``mask`` (H, W) bool."""
    if rgb.shape != (*depth.shape, 3) or mask.shape != depth.shape:
        raise ValueError(f"need depth (H, W), rgb (H, W, 3), mask (H, W); got {tuple(depth.shape)}, {tuple(rgb.shape)}, {tuple(mask.shape)}")
    points = backproject(camera, depth)[mask]
    footprint = depth[mask] / camera.K[0, 0]
    return points, rgb[mask], footprint


def gaussians_from_pixels(points: torch.Tensor, colors: torch.Tensor, footprint: torch.Tensor, opacity: float = 0.9) -> GaussianParams:
    """One isotropic Gaussian per lifted pixel, standard deviation = its footprint (chapter 06)."""
    n = points.shape[0]
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    return GaussianParams.from_tensors(points, footprint.clamp(min=1e-4)[:, None].expand(n, 3), quats, torch.full((n,), opacity), colors.clamp(0, 1))
