r"""Equirectangular panoramas: pixel <-> direction, wrap-around sampling, the lift of a distance map (chapter 05).

Column j of a W-wide panorama holds longitude :math:`\phi = \pi - 2\pi (j + 0.5)/W` and row i
of an H-high one latitude :math:`\theta = \pi/2 - \pi (i + 0.5)/H`; the direction is
:math:`(\cos\theta\cos\phi, \cos\theta\sin\phi, \sin\theta)` in the z-up world. The centre
column looks along +x and longitude *falls* from left to right, so the panorama reads like
a photograph: what lies to a viewer's right is to the right in the image, as in a pinhole
view (+x right) of the same scene. Longitude is periodic, so column 0 continues column W-1
(DreamScene360's 360° panoramas rely on it).
"""

from __future__ import annotations

import math

import torch

from course_lib.geometry.cameras import _as_vec3


def equirect_directions(height: int, width: int, yaw: float = 0.0) -> torch.Tensor:
    """Unit view direction of every panorama pixel centre, (H, W, 3) (chapters 05-07).

    ``yaw`` (radians) turns the panorama: its centre column looks at longitude ``yaw``
    (counter-clockwise from +x seen from above, i.e. a positive yaw turns the view to the left).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"panorama size {height}x{width} (H x W) must be positive, e.g. 32 x 64 (width = 2 x height)")
    lon = math.pi - 2 * math.pi * (torch.arange(width) + 0.5) / width + yaw  # (W,), falls left to right
    lat = math.pi / 2 - math.pi * (torch.arange(height) + 0.5) / height  # (H,)
    lat, lon = torch.meshgrid(lat, lon, indexing="ij")
    return torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], dim=-1)


def direction_to_equirect(dirs: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous pixel coordinates (row, column) of unit directions (..., 3); the inverse of :func:`equirect_directions` (chapters 05-07)."""
    d = torch.nn.functional.normalize(dirs, dim=-1)
    lon = torch.atan2(d[..., 1], d[..., 0])
    lat = torch.asin(d[..., 2].clamp(-1.0, 1.0))
    col = (math.pi - lon) / (2 * math.pi) * width - 0.5
    row = (math.pi / 2 - lat) / math.pi * height - 0.5
    return row, col


def sample_equirect(pano: torch.Tensor, dirs: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Look up a panorama (H, W, C) in directions (..., 3) -> (..., C), wrapping across the 0/W-1 seam (chapters 05-07).

    ``mode="bilinear"`` interpolates (colours, distances); ``"nearest"`` keeps labels intact.
    """
    if pano.ndim != 3:
        raise ValueError(f"pano must be (H, W, C), got shape {tuple(pano.shape)}")
    H, W, _ = pano.shape
    row, col = direction_to_equirect(dirs, H, W)
    if mode == "nearest":
        r = row.round().long().clamp(0, H - 1)
        c = torch.remainder(col.round().long(), W)
        return pano[r, c]
    if mode != "bilinear":
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    row = row.clamp(0.0, H - 1.0)
    r0, c0 = row.floor().long().clamp(max=H - 2) if H > 1 else row.floor().long(), col.floor().long()
    fr, fc = (row - r0).unsqueeze(-1), (col - c0).unsqueeze(-1)
    r1 = (r0 + 1).clamp(max=H - 1)
    c0w, c1w = torch.remainder(c0, W), torch.remainder(c0 + 1, W)
    top = pano[r0, c0w] * (1 - fc) + pano[r0, c1w] * fc
    bottom = pano[r1, c0w] * (1 - fc) + pano[r1, c1w] * fc
    return top * (1 - fr) + bottom * fr


def panorama_points(center, distance: torch.Tensor, yaw: float = 0.0) -> torch.Tensor:
    r"""World points (H, W, 3) of a panorama's distance map (H, W) seen from ``center``: :math:`X = c + r\,\mathbf{d}(i, j)` (chapter 05).

    The lift of DreamScene360 (§3.4) from a panorama's distances to a point cloud. Sky pixels
    (distance ``inf``) give non-finite points; mask them with ``torch.isfinite``.
    """
    if distance.ndim != 2:
        raise ValueError(f"distance must be an (H, W) panorama, got shape {tuple(distance.shape)}")
    origin = _as_vec3(center, "center")
    dirs = equirect_directions(distance.shape[0], distance.shape[1], yaw)  # (H, W, 3)
    return origin + dirs * distance[..., None]
