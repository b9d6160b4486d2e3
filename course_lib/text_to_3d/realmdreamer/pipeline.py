r"""RealmDreamer's initialisation (§3.1, chapter 06): reference image -> aligned depth -> points, outpainting
from auxiliary poses, and the occlusion volume, as one set of Gaussians with an "unknown" flag.

1. The reference image's monocular depth is aligned to a metric depth by least squares and lifted
   (:mod:`~course_lib.text_to_3d.realmdreamer.lift`).
2. For each auxiliary pose the points are rendered; what no point covers is outpainted by the inpainting prior,
   the new depth is aligned to the rendered depth over the covered pixels, and the new pixels are lifted and
   merged (the paper's outpainting of a wider scene).
3. The occlusion volume of all points, seen from the reference camera, becomes grey Gaussians
   (:mod:`~course_lib.text_to_3d.realmdreamer.occlusion`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from course_lib.geometry import Camera
from course_lib.splatting import GaussianParams
from course_lib.text_to_3d.dreamscene360.tiles import sky_mask
from course_lib.text_to_3d.realmdreamer.lift import align_depth, gaussians_from_pixels, lift_pixels
from course_lib.text_to_3d.realmdreamer.occlusion import OcclusionSettings, camera_depth, occluded_voxels
from course_lib.text_to_3d.realmdreamer.render import render_layers

GREY = 0.5  # the colour of the occlusion volume's Gaussians (the reference code's 0.5)
# depth_model(rgb (H, W, 3) in [0, 1]) -> relative depth (H, W); outpaint(rgb (H, W, 3), mask (H, W) bool) -> filled rgb
DepthModel = Callable[[torch.Tensor], torch.Tensor]
Outpaint = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class InitialScene:
    """The starting point of distillation (chapter 06): ``gaussians`` and their ``unknown`` flags (N,) (1 = occlusion
    volume), the ``reference`` camera and ``image`` (H, W, 3), the ``background`` colour (3,) (the reference sky),
    and how many Gaussians came from each source."""

    gaussians: GaussianParams
    unknown: torch.Tensor
    reference: Camera
    image: torch.Tensor
    background: torch.Tensor
    counts: dict[str, int]


def merge_gaussians(parts: list[GaussianParams]) -> GaussianParams:
    """One GaussianParams holding every Gaussian of ``parts`` (SH degree 0) (chapter 06)."""
    return GaussianParams(*(torch.cat([getattr(g, name).detach() for g in parts]) for name in ("means", "log_scales", "quats", "opacity_logits", "sh0")))


def volume_gaussians(centres: torch.Tensor, voxel: float, opacity: float = 0.9) -> GaussianParams:
    """Grey isotropic Gaussians at the occlusion volume's voxel centres, standard deviation half a voxel (chapter 06)."""
    n = centres.shape[0]
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    return GaussianParams.from_tensors(centres, torch.full((n, 3), 0.5 * voxel), quats, torch.full((n,), opacity), torch.full((n, 3), GREY))


def initialise(image: torch.Tensor, camera: Camera, metric_depth: torch.Tensor, depth_model: DepthModel, outpaint: Outpaint | None,
               aux_cameras: list[Camera], settings: OcclusionSettings = OcclusionSettings(), with_volume: bool = True, *,
               align: Callable = align_depth, lift: Callable = lift_pixels, march: Callable | None = None) -> InitialScene:
    """Build the :class:`InitialScene` of a reference ``image`` (H, W, 3) in [0, 1] seen by ``camera`` (chapter 06).

    ``metric_depth`` (H, W) is the depth the relative depth is aligned to (the paper: a metric depth model);
    only its non-sky pixels are used. ``outpaint=None`` or no ``aux_cameras`` skips outpainting;
    ``with_volume=False`` skips the occlusion volume (the ablation). ``align``, ``lift`` and ``march`` replace
    :func:`align_depth`, :func:`lift_pixels` and :func:`occluded_grid` (the notebook passes the learner's)."""
    sky = sky_mask(image)
    valid = ~sky & torch.isfinite(metric_depth)
    relative = depth_model(image)
    scale, shift = align(relative, metric_depth, valid)
    depth = scale * relative + shift
    keep = valid & (depth > 0) & (depth < settings.max_depth)
    points, colors, footprint = lift(camera, depth, image, keep)
    background = image[sky].mean(dim=0) if bool(sky.any()) else torch.full((3,), 0.8)
    parts = [gaussians_from_pixels(points, colors, footprint)]
    counts = {"reference points": points.shape[0]}
    added = 0
    for aux in aux_cameras if outpaint is not None else []:
        current = merge_gaussians(parts)
        with torch.no_grad():
            seen = render_layers(current, torch.zeros(current.num), aux, background)
        hole = seen.alpha < 0.5
        if not bool(hole.any()):
            continue
        filled = outpaint(seen.rgb.clamp(0, 1), hole)
        relative = depth_model(filled)
        known = (seen.alpha > 0.5) & torch.isfinite(seen.depth)
        s, b = align(relative, seen.depth, known)
        new_depth = s * relative + b
        new = hole & ~sky_mask(filled) & (new_depth > 0) & (new_depth < settings.max_depth)
        if int(new.sum()) == 0:
            continue
        p, c, f = lift(aux, new_depth, filled, new)
        parts.append(gaussians_from_pixels(p, c, f))
        added += p.shape[0]
    counts["outpainted points"] = added
    all_points = torch.cat([g.means.detach() for g in parts])
    unknown = [torch.zeros(all_points.shape[0])]
    if with_volume:
        ground = float(torch.quantile(all_points[:, 2], 0.02))
        near = all_points[camera_depth(camera, all_points) < settings.max_depth]
        centres = occluded_voxels(near, camera, ground, settings, march)
        if centres.shape[0]:
            parts.append(volume_gaussians(centres, settings.voxel))
            unknown.append(torch.ones(centres.shape[0]))
        counts["occlusion volume"] = centres.shape[0]
    return InitialScene(merge_gaussians(parts), torch.cat(unknown), camera, image, background, counts)
