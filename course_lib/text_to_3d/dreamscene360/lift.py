r"""Lift the aligned panorama to 3D Gaussians (DreamScene360, arXiv 2404.06903, §3.4), chapter 05.

Every panorama pixel with distance :math:`r` in direction :math:`\mathbf d` becomes a point
:math:`c + r\,\mathbf d` with the pixel's colour, and every point a Gaussian
(:func:`~course_lib.splatting.gaussians_from_points`); there is no densification, as in the
reference code. Sky pixels have no distance: they go onto a far *dome* (a sphere ``dome`` times the
largest scene distance), so that a view from inside still sees a sky behind the scene.
"""

from __future__ import annotations

import torch

from course_lib.geometry.equirect import panorama_points
from course_lib.geometry.icosahedron import tangent_to_equirect
from course_lib.splatting.gaussians import GaussianParams
from course_lib.splatting.init_points import gaussians_from_points

DOME = 3.0  # sky radius, in units of the largest aligned distance


def merge_tiles(tile_distance: torch.Tensor, tile_mask: torch.Tensor, fov_deg: float, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned tile distances (20, S, S) and their masks -> a panorama distance (H, W) and its valid mask (chapter 05).

    Each panorama pixel reads the tile whose centre is nearest its direction (bilinear in the
    distance; a pixel counts as valid when that tile's nearest pixel is valid).
    """
    distance = tangent_to_equirect(tile_distance[..., None], fov_deg, height, width, mode="bilinear")[..., 0]
    valid = tangent_to_equirect(tile_mask[..., None].float(), fov_deg, height, width, mode="nearest")[..., 0] > 0.5
    return distance, valid


def lift_panorama(rgb: torch.Tensor, distance: torch.Tensor, valid: torch.Tensor, dome: float = DOME, opacity: float = 0.5) -> GaussianParams:
    """One Gaussian per panorama pixel around the origin (chapter 05): ``rgb`` (H, W, 3) in [0, 1], ``distance``
    (H, W), ``valid`` (H, W) bool (False = sky, placed on the dome)."""
    if rgb.shape[:2] != distance.shape or valid.shape != distance.shape or rgb.shape[-1] != 3:
        raise ValueError(f"need rgb (H, W, 3), distance and valid (H, W); got {tuple(rgb.shape)}, {tuple(distance.shape)}, {tuple(valid.shape)}")
    if not valid.any():
        raise ValueError("no valid pixel: the whole panorama is sky, there is no scene to lift")
    radius = torch.where(valid, distance, torch.full_like(distance, dome * float(distance[valid].max())))
    points = panorama_points((0.0, 0.0, 0.0), radius)  # (H, W, 3)
    return gaussians_from_points(points.reshape(-1, 3), rgb.reshape(-1, 3), opacity=opacity)
