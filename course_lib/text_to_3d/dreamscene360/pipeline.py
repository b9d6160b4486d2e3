r"""The whole DreamScene360 lift in one call: panorama -> tiles -> depths -> Eq. 2 -> Gaussians -> fit (chapter 05).

The chapter's notebook walks through these steps one by one on a panorama with ground truth; this
function runs them on any panorama (e.g. a generated one), with the same pieces and settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from course_lib.geometry.cameras import Camera
from course_lib.geometry.equirect import equirect_directions, sample_equirect
from course_lib.geometry.icosahedron import equirect_to_tangent, tangent_cameras
from course_lib.splatting.gaussians import GaussianParams
from course_lib.text_to_3d.dreamscene360.alignment import AlignmentLoss, AlignmentSettings, alignment_loss, fit_alignment
from course_lib.text_to_3d.dreamscene360.lift import lift_panorama, merge_tiles
from course_lib.text_to_3d.dreamscene360.optimise import Regularisers, SceneFit, fit_scene
from course_lib.text_to_3d.dreamscene360.tiles import mono_distance, sky_mask, tile_directions


@dataclass
class PanoramaScene:
    """What :func:`panorama_to_scene` made: the fit (branch it with ``fit.branch()``), the lifted Gaussians, the
    tiles and their aligned distances, and the merged distance panorama (chapter 05)."""

    fit: SceneFit
    lifted: GaussianParams
    cameras: list[Camera]
    tiles: torch.Tensor  # (20, S, S, 3) in [0, 1]
    aligned: torch.Tensor  # (20, S, S)
    mask: torch.Tensor  # (20, S, S) bool, not sky
    distance: torch.Tensor  # (h, w) merged at the lift size
    valid: torch.Tensor  # (h, w) bool

    @property
    def gaussians(self) -> GaussianParams:
        return self.fit.gaussians


def panorama_to_scene(rgb: torch.Tensor, depth_model: Callable[[torch.Tensor], torch.Tensor], fit_steps: int, *, fov_deg: float = 80.0,
                      tile_size: int = 32, lift_size: tuple[int, int] = (64, 128), settings: AlignmentSettings = AlignmentSettings(),
                      loss_fn: AlignmentLoss = alignment_loss, regularisers: Regularisers = Regularisers(), dssim_weight: float = 0.2,
                      seed: int = 0) -> PanoramaScene:
    """Lift an equirectangular panorama ``rgb`` (H, W, 3) in [0, 1] to fitted Gaussians around the origin (chapter 05).

    ``depth_model`` maps an RGB batch in [-1, 1] (B, 3, S, S) to standardised relative depth (B, S, S).
    """
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must be an (H, W, 3) panorama in [0, 1], got shape {tuple(rgb.shape)}")
    cams = tangent_cameras(fov_deg, tile_size)
    tiles = equirect_to_tangent(rgb, fov_deg, tile_size)
    mask = ~sky_mask(tiles)
    with torch.no_grad():
        mono = mono_distance(depth_model(tiles.permute(0, 3, 1, 2) * 2 - 1), cams, mask)
    alignment, _ = fit_alignment(mono, tile_directions(cams), mask, settings, loss_fn=loss_fn, seed=seed)
    with torch.no_grad():
        aligned = alignment.aligned(mono)
    distance, valid = merge_tiles(aligned, mask, fov_deg, *lift_size)
    lifted = lift_panorama(sample_equirect(rgb, equirect_directions(*lift_size)), distance, valid)
    state = fit_scene(SceneFit.start(lifted), cams, tiles, fit_steps, regularisers, dssim_weight, seed=seed)
    return PanoramaScene(state, lifted, cams, tiles, aligned, mask, distance, valid)
