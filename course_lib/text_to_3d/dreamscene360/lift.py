r"""Lift the aligned panorama to 3D Gaussians (DreamScene360, arXiv 2404.06903, §3.4), chapter 05.

Every panorama pixel with distance :math:`r` in direction :math:`\mathbf d` becomes a point
:math:`c + r\,\mathbf d` with the pixel's colour, and every point an isotropic Gaussian; there is no
densification, as in the reference code. Sky pixels have no distance: they go onto a far *dome* (a sphere
``dome`` times the largest scene distance), so that a view from inside still sees a sky behind the scene.

The scale of each Gaussian is its pixel's footprint, :math:`\sigma = 0.7\, r\, \pi / H` (the pixel's angular
size times its distance), where 3DGS and the reference code take the mean distance to the 3 nearest points.
At this chapter's 64 x 128 points the nearest neighbours of a pixel of far ground lie metres apart along the
ray, so nearest-neighbour scales made metre-wide blobs that covered the horizon in views from a step away
(the factor 0.7 was chosen on worlds other than the chapter's).
"""

from __future__ import annotations

import math

import torch

from course_lib.geometry.equirect import panorama_points
from course_lib.geometry.icosahedron import tangent_to_equirect
from course_lib.splatting.gaussians import GaussianParams

DOME = 3.0  # sky radius, in units of the largest aligned distance
FOOTPRINT = 0.7  # Gaussian scale in units of the pixel's footprint (angular size x distance)
FLOOR = 0.05  # smallest merged distance, in units of the median valid distance


def merge_tiles(tile_distance: torch.Tensor, tile_mask: torch.Tensor, fov_deg: float, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned tile distances (20, S, S) and their masks -> a panorama distance (H, W) and its valid mask (chapter 05).

    Each panorama pixel reads the tile whose centre is nearest its direction (bilinear in the
    distance; a pixel counts as valid when that tile's nearest pixel is valid). Eq. 2 does not keep an
    aligned distance positive (the shift maps may overshoot); valid distances are clamped to at least
    ``FLOOR`` times their median.
    """
    distance = tangent_to_equirect(tile_distance[..., None], fov_deg, height, width, mode="bilinear")[..., 0]
    valid = tangent_to_equirect(tile_mask[..., None].float(), fov_deg, height, width, mode="nearest")[..., 0] > 0.5
    if valid.any():
        distance = distance.clamp(min=FLOOR * float(distance[valid].median()))
    return distance, valid


def lift_panorama(rgb: torch.Tensor, distance: torch.Tensor, valid: torch.Tensor, dome: float = DOME, opacity: float = 0.5) -> GaussianParams:
    """One Gaussian per panorama pixel around the origin (chapter 05): ``rgb`` (H, W, 3) in [0, 1], ``distance``
    (H, W), ``valid`` (H, W) bool (False = sky, placed on the dome)."""
    if rgb.shape[:2] != distance.shape or valid.shape != distance.shape or rgb.shape[-1] != 3:
        raise ValueError(f"need rgb (H, W, 3), distance and valid (H, W); got {tuple(rgb.shape)}, {tuple(distance.shape)}, {tuple(valid.shape)}")
    if not valid.any():
        raise ValueError("no valid pixel: the whole panorama is sky, there is no scene to lift")
    if not (distance[valid] > 0).all():
        raise ValueError("some valid pixels have a distance <= 0; clamp the aligned distances to a small positive value first")
    H, W = distance.shape
    radius = torch.where(valid, distance, torch.full_like(distance, dome * float(distance[valid].max())))
    points = panorama_points((0.0, 0.0, 0.0), radius).reshape(-1, 3)  # (H * W, 3)
    scales = (FOOTPRINT * math.pi / H * radius).reshape(-1, 1).expand(-1, 3)
    quats = torch.zeros(H * W, 4)
    quats[:, 0] = 1.0
    return GaussianParams.from_tensors(points, scales, quats, torch.full((H * W,), opacity), rgb.reshape(-1, 3).clamp(0, 1))
