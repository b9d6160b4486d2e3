r"""The occlusion volume O (RealmDreamer §3.1, chapter 06).

The points lifted from the reference image are only the surfaces the reference camera saw. Behind each
surface lies space it could not see. RealmDreamer voxelises the points into an occupancy grid, marches a
straight line from the reference camera to every voxel, and calls a voxel *occluded* when the line passes
through an occupied voxel before reaching it. Occluded voxels become grey Gaussians: the scene's
"unknown", which inpainting distillation later paints.

Bounds this chapter keeps, without which the grid is useless at 32 px (ground points reach 100+ m, and
a grid over all of them has 3 m voxels): points nearer than ``max_depth``; voxels inside the reference
frustum, at most ``behind`` metres behind the first occupied voxel on their line, and above the ground.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.geometry import Camera


@dataclass(frozen=True)
class OcclusionSettings:
    """Grid and bounds of the occlusion volume (chapter 06); lengths in scene units (metres)."""

    voxel: float = 0.3
    max_depth: float = 15.0
    behind: float = 4.0


def camera_depth(camera: Camera, points: torch.Tensor) -> torch.Tensor:
    """Camera-z of world points (..., 3) (chapter 06)."""
    return points @ camera.viewmat[2, :3] + camera.viewmat[2, 3]


def project_pixels(camera: Camera, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (..., 2) (x right, y down, pixel centres at +0.5) and camera-z (...,) of world points (chapter 06)."""
    cam = points @ camera.viewmat[:3, :3].T + camera.viewmat[:3, 3]
    z = cam[..., 2]
    uv = (cam @ camera.K.T)[..., :2] / z.clamp(min=1e-9)[..., None]
    return uv, z


def occupancy_grid(points: torch.Tensor, origin: torch.Tensor, voxel: float, shape: tuple[int, int, int]) -> torch.Tensor:
    """Bool grid ``shape`` with True in every voxel that holds a point (N, 3); voxel (i, j, k) spans
    ``origin + voxel * [i, j, k]`` to ``+ voxel`` (chapter 06). Points outside the grid are ignored."""
    index = ((points - origin) / voxel).floor().long()
    inside = ((index >= 0) & (index < torch.tensor(shape))).all(dim=1)
    grid = torch.zeros(shape, dtype=torch.bool)
    i = index[inside]
    grid[i[:, 0], i[:, 1], i[:, 2]] = True
    return grid


def voxel_centres(origin: torch.Tensor, voxel: float, shape: tuple[int, int, int]) -> torch.Tensor:
    """World centres (X, Y, Z, 3) of the voxels of a grid at ``origin`` (chapter 06)."""
    ii, jj, kk = torch.meshgrid(*(torch.arange(n) for n in shape), indexing="ij")
    return origin + voxel * (torch.stack([ii, jj, kk], dim=-1).float() + 0.5)


def occluded_grid(grid: torch.Tensor, origin: torch.Tensor, voxel: float, camera: Camera, ground: float, behind: float) -> torch.Tensor:
    """Bool grid (X, Y, Z): the occlusion volume of an occupancy ``grid`` seen from ``camera`` (chapter 06).

    A voxel is occluded when it is empty, its centre projects inside the image in front of the camera and lies
    above ``ground`` + half a voxel, and the straight line from the camera centre to its centre, marched in steps
    of half a voxel (samples at 0.5v, 1.v, 1.5v, ... strictly less than its distance minus 0.5v), meets an
    occupied voxel at most ``behind`` before it."""
    shape = tuple(grid.shape)
    centres = voxel_centres(origin, voxel, shape).reshape(-1, 3)
    uv, z = project_pixels(camera, centres)
    keep = (~grid.reshape(-1)) & (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < camera.width) & (uv[:, 1] >= 0) & (uv[:, 1] < camera.height)
    keep &= centres[:, 2] > ground + 0.5 * voxel
    occluded = torch.zeros(centres.shape[0], dtype=torch.bool)
    if not bool(keep.any()):
        return occluded.reshape(shape)
    candidates = centres[keep]
    eye = camera.position
    offset = candidates - eye  # (M, 3)
    length = offset.norm(dim=1)
    steps = torch.arange(1, int(float(length.max()) / (0.5 * voxel)) + 1, dtype=torch.float32) * (0.5 * voxel)  # (S,)
    samples = eye + (offset / length[:, None])[:, None, :] * steps[None, :, None]  # (M, S, 3)
    index = ((samples - origin) / voxel).floor().long()
    inside = ((index >= 0) & (index < torch.tensor(shape))).all(dim=-1)
    index = index.clamp(min=0).minimum(torch.tensor(shape) - 1)
    hit = grid[index[..., 0], index[..., 1], index[..., 2]] & inside
    hit &= steps[None, :] < (length[:, None] - 0.5 * voxel)  # samples strictly in front of the voxel itself
    first = torch.where(hit, steps[None, :].expand_as(hit), torch.full(hit.shape, float("inf"))).min(dim=1).values
    occluded[keep] = torch.isfinite(first) & (length - first <= behind)
    return occluded.reshape(shape)


def occluded_voxels(points: torch.Tensor, camera: Camera, ground: float, settings: OcclusionSettings = OcclusionSettings(),
                    march=None) -> torch.Tensor:
    """Centres (M, 3) of the occlusion volume of ``points`` (N, 3) seen from ``camera`` (chapter 06).

    Points nearer than ``settings.max_depth`` fill an occupancy grid that spans them, padded by
    ``settings.behind`` (its lowest layer straddles ``ground``); :func:`occluded_grid` (or ``march``, same signature: the learner's)
    marks the occluded voxels."""
    near = points[camera_depth(camera, points) < settings.max_depth]
    if near.shape[0] == 0:
        raise ValueError(f"no point lies within max_depth={settings.max_depth} of the camera; raise max_depth or check the depth map")
    v = settings.voxel
    low = near.min(dim=0).values - settings.behind
    low[2] = max(float(low[2]), ground - 0.25 * v)  # layer centres at ground + v/4, + 5v/4, ...: never tied with ground + v/2
    high = near.max(dim=0).values + settings.behind
    shape = tuple(int(n) for n in ((high - low) / v).ceil().long().clamp(min=1))
    grid = occupancy_grid(near, low, v, shape)
    occluded = (march or occluded_grid)(grid, low, v, camera, ground, settings.behind)
    return voxel_centres(low, v, shape).reshape(-1, 3)[occluded.reshape(-1)]
