r"""From a panorama to 20 tangent tiles with monocular distances (DreamScene360, arXiv 2404.06903, §3.3), chapter 05.

The panorama is cut into the 20 icosahedron tangent images (FoV 80°), a monocular depth model runs
on each, and its output becomes a positive per-tile *distance* along each pixel's ray:

* the depth model returns a standardised z-depth :math:`\hat z` (zero mean, unit variance per tile,
  larger = farther), so its sign is known but not its scale or shift. It is shifted to be positive,
  :math:`z = \hat z - \min_M \hat z + m` over the tile's valid pixels :math:`M` (a guess of the shift
  that Eq. 2's shift maps correct), turned into a distance :math:`r = z / \cos\theta` (θ the angle
  between the pixel's ray and the optical axis), and divided by its mean, as the reference code does;
* the sky has no depth: its pixels are masked out of the alignment (the reference code has no mask;
  without one, the probe of this chapter diverged, the tile scales collapsing).
"""

from __future__ import annotations

import torch

from course_lib.geometry.cameras import Camera

SHIFT_MARGIN = 1.0  # m: the nearest valid pixel of a tile starts one prior unit (std) in front of the camera


def tile_directions(cameras: list[Camera]) -> torch.Tensor:
    """Unit world-space view direction of every pixel of every tile, (T, S, S, 3) (chapter 05)."""
    return torch.stack([cam.rays()[1] for cam in cameras])


def sky_mask(rgb: torch.Tensor) -> torch.Tensor:
    """Sky pixels of images (..., 3) in [0, 1]: bright and bluish, blue >= green >= red - small (chapter 05).

    The procedural worlds' sky is a gradient from (0.88, 0.92, 0.96) at the horizon to a pale blue above;
    no object or the grass has that colour. A colour rule is this course's stand-in for a sky segmenter.
    """
    if rgb.shape[-1] != 3:
        raise ValueError(f"rgb must be (..., 3), got shape {tuple(rgb.shape)}")
    r, g, b = rgb.unbind(-1)
    return (b > 0.85) & (b >= r + 0.03) & (b >= g)


def mono_distance(depth_std: torch.Tensor, cameras: list[Camera], mask: torch.Tensor, margin: float = SHIFT_MARGIN) -> torch.Tensor:
    """Standardised z-depth (T, S, S) of the prior -> positive distance with mean 1 over ``mask`` per tile (chapter 05).

    Tiles without a valid pixel (all sky) get ones; the mask keeps them out of the alignment anyway.
    """
    if depth_std.ndim != 3 or depth_std.shape != mask.shape or len(cameras) != depth_std.shape[0]:
        raise ValueError(f"need depth_std and mask (T, S, S) and T cameras; got {tuple(depth_std.shape)}, {tuple(mask.shape)}, {len(cameras)}")
    big = torch.finfo(depth_std.dtype).max
    low = torch.where(mask, depth_std, torch.full_like(depth_std, big)).amin(dim=(1, 2), keepdim=True)
    low = torch.where(mask.any(dim=(1, 2), keepdim=True), low, depth_std.amin(dim=(1, 2), keepdim=True))
    z = depth_std - low + margin
    cos = torch.stack([cam.z_per_unit_distance() for cam in cameras])  # (T, S, S)
    distance = (z / cos).clamp(min=1e-3)
    weight = mask.float()
    mean = (distance * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2)).clamp(min=1)
    out = distance / mean.clamp(min=1e-6)[:, None, None]
    return torch.where(mask.any(dim=(1, 2), keepdim=True), out, torch.ones_like(out))
