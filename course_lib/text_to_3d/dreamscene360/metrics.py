r"""How chapter 05 measures geometry: cross-tile disagreement, the error against a true distance, cameras in the reconstruction's frame (chapter 05).

Both take tensors only: the true distance comes from the caller (the notebook renders it from the
procedural world; method code never sees it).
"""

from __future__ import annotations

import math

import torch

from course_lib.geometry.cameras import Camera, look_at_camera
from course_lib.geometry.icosahedron import sample_tangent_tiles
from course_lib.splatting.gaussians import GaussianParams
from course_lib.splatting.losses import psnr
from course_lib.splatting.renderer import render


def tile_disagreement(tile_distance: torch.Tensor, tile_mask: torch.Tensor, fov_deg: float, tile_dirs: torch.Tensor) -> torch.Tensor:
    r"""How much each tile disagrees with its neighbours where they overlap, (T,) (chapter 05).

    For every valid pixel of tile t whose direction another tile u also sees (and finds valid), the
    relative difference :math:`|d_t - d_u| / \tfrac12 (|d_t| + |d_u|)` (between 0 and 2; 2 when one of them
    is not even positive); averaged per tile. ``tile_distance`` and ``tile_mask`` (20, S, S), ``tile_dirs``
    (20, S, S, 3) each pixel's view direction. NaN for a tile with no valid overlap. 0 = the tiles agree:
    one consistent geometry.
    """
    T = tile_distance.shape[0]
    stacked = torch.stack([tile_distance, tile_mask.float()], dim=-1)
    out = torch.full((T,), float("nan"))
    for t in range(T):
        mine = tile_mask[t].reshape(-1)
        values, visible = sample_tangent_tiles(stacked, fov_deg, tile_dirs[t].reshape(-1, 3))  # (20, S*S, 2), (20, S*S)
        other = visible & (values[..., 1] > 0.5) & mine
        other[t] = False
        if not other.any():
            continue
        d_t = tile_distance[t].reshape(-1).expand_as(values[..., 0])
        rel = (d_t - values[..., 0]).abs() / (0.5 * (d_t.abs() + values[..., 0].abs())).clamp(min=1e-6)
        out[t] = rel[other].mean()
    return out


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


def rescale_camera(camera: Camera, center, scale: float) -> Camera:
    """The same camera in a reconstruction's frame: centre moved to ``(position - center) / scale``, same orientation (chapter 05).

    A panorama reconstruction lives around the origin and is known up to one global scale; this maps a
    camera placed in the true world into it (for evaluation against the truth).
    """
    if scale <= 0:
        raise ValueError(f"scale={scale} must be positive")
    viewmat = camera.viewmat.clone()
    position = (camera.position - torch.as_tensor(center, dtype=torch.float32)) / scale
    viewmat[:3, 3] = -viewmat[:3, :3] @ position
    return Camera(camera.K, viewmat, camera.width, camera.height)


def ring_cameras(center, radius: float, count: int, seed: int, fov_deg: float = 60.0, size: int = 32, pitch: float = -0.15) -> list[Camera]:
    """``count`` cameras on a horizontal ring of ``radius`` around ``center``, each looking in a random direction
    (yaw uniform, slightly down): the translated test cameras of chapter 05."""
    c = torch.as_tensor(center, dtype=torch.float32)
    rng = torch.Generator().manual_seed(seed)
    cams = []
    for k in range(count):
        angle = 2 * math.pi * k / count
        eye = c + radius * torch.tensor([math.cos(angle), math.sin(angle), 0.0])
        yaw = 2 * math.pi * float(torch.rand((), generator=rng))
        cams.append(look_at_camera(eye, eye + torch.tensor([math.cos(yaw), math.sin(yaw), pitch]), fov_deg, size, size))
    return cams


@torch.no_grad()
def novel_view_errors(gaussians: GaussianParams, cameras: list[Camera], true_rgb: list[torch.Tensor], true_depth: list[torch.Tensor],
                      center, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PSNR and depth AbsRel at each world camera, two (cameras,) tensors (chapter 05).

    Each camera is moved into the reconstruction's frame (:func:`rescale_camera`); the rendered depth
    times ``scale`` is compared with ``true_depth`` (z-depth, ``inf`` = sky) where the world has a
    surface and the render is opaque (alpha > 0.5).
    """
    psnrs, errors = [], []
    for cam, rgb, depth in zip(cameras, true_rgb, true_depth):
        out = render(gaussians, rescale_camera(cam, center, scale), backend="torch")
        psnrs.append(psnr(out.rgb.clamp(0, 1), rgb))
        surface = torch.isfinite(depth) & (out.alpha > 0.5)
        errors.append(abs_rel(out.depth, depth, surface, scale) if surface.any() else float("nan"))
    return torch.tensor(psnrs), torch.tensor(errors)
