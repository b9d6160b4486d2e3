"""Icosahedron tangent images: cut a panorama into 20 perspective tiles and stitch them back (chapter 05).

DreamScene360 (arXiv 2404.06903, §3.3) estimates monocular depth on 20 tangent images, one
per icosahedron face, each with an 80° field of view, then aligns them into one panorama.
"""

from __future__ import annotations

import functools
import itertools
import math

import torch

from course_lib.geometry.cameras import Camera, intrinsics, look_at
from course_lib.geometry.equirect import equirect_directions, sample_equirect


def icosahedron_vertices() -> torch.Tensor:
    """The 12 unit vertices of a regular icosahedron, (12, 3): cyclic permutations of (0, ±1, ±φ), normalised (chapter 05)."""
    phi = (1 + math.sqrt(5)) / 2
    verts = []
    for a, b in itertools.product((-1.0, 1.0), repeat=2):
        verts += [(0.0, a, b * phi), (a, b * phi, 0.0), (b * phi, 0.0, a)]
    return torch.nn.functional.normalize(torch.tensor(verts), dim=-1)


def icosahedron_face_centers() -> torch.Tensor:
    """Unit directions of the 20 face centres of a regular icosahedron, (20, 3), in a fixed order (chapters 05-07)."""
    v = icosahedron_vertices()
    edge = float((v[:, None] - v[None]).norm(dim=-1).masked_fill(torch.eye(12, dtype=torch.bool), 9.0).min())
    faces = [f for f in itertools.combinations(range(12), 3)
             if all(abs(float((v[i] - v[j]).norm()) - edge) < 1e-5 for i, j in itertools.combinations(f, 2))]
    return torch.nn.functional.normalize(torch.stack([v[list(f)].mean(0) for f in faces]), dim=-1)


def tangent_cameras(fov_deg: float = 80.0, size: int = 64, center=(0.0, 0.0, 0.0)) -> list[Camera]:
    """The 20 square pinhole cameras at ``center`` looking at the icosahedron face centres (chapter 05).

    ``fov_deg`` must exceed twice the face radius (about 75°) or the tiles leave gaps.
    """
    min_fov = 2 * _max_corner_angle_deg()
    if fov_deg <= min_fov:
        raise ValueError(f"fov_deg={fov_deg} is too narrow: 20 tangent tiles need a FoV above {min_fov:.1f}° to cover the sphere (DreamScene360 uses 80°)")
    c = torch.as_tensor(center, dtype=torch.float32)
    return [Camera(intrinsics(fov_deg, size, size), look_at(c, c + d, (0.0, 0.0, 1.0)), size, size) for d in icosahedron_face_centers()]


@functools.lru_cache(maxsize=1)
def _max_corner_angle_deg() -> float:
    """Largest angle from a sphere point to its nearest face centre: the angle from a vertex to its faces' centres (about 37.4°).

    A square tile with field of view f sees every direction within f/2 of its axis, so f must exceed twice this.
    """
    cosines = icosahedron_vertices() @ icosahedron_face_centers().T  # (12, 20)
    return math.degrees(math.acos(float(cosines.max(dim=1).values.min())))


def equirect_to_tangent(pano: torch.Tensor, fov_deg: float = 80.0, size: int = 64, mode: str = "bilinear") -> torch.Tensor:
    """Cut a panorama (H, W, C) into 20 tangent images (20, size, size, C) (DreamScene360 §3.3) (chapters 05-07)."""
    tiles = []
    for cam in tangent_cameras(fov_deg, size):
        _, dirs = cam.rays()
        tiles.append(sample_equirect(pano, dirs, mode))
    return torch.stack(tiles)


def tangent_to_equirect(tiles: torch.Tensor, fov_deg: float, height: int, width: int, mode: str = "bilinear") -> torch.Tensor:
    """Stitch 20 tangent images (20, S, S, C) back into a panorama (H, W, C) (chapter 05).

    Every panorama pixel takes its value from the tile whose centre is nearest to its direction
    (that tile always sees it), sampled at the projected position (bilinear or nearest).
    """
    if tiles.ndim != 4 or tiles.shape[0] != 20 or tiles.shape[1] != tiles.shape[2]:
        raise ValueError(f"tiles must be (20, S, S, C), got shape {tuple(tiles.shape)}")
    S = tiles.shape[1]
    cams = tangent_cameras(fov_deg, S)
    dirs = equirect_directions(height, width).reshape(-1, 3)
    owner = (dirs @ icosahedron_face_centers().T).argmax(dim=1)  # (H*W,)
    R = torch.stack([c.viewmat[:3, :3] for c in cams])[owner]  # (H*W, 3, 3)
    d_cam = torch.einsum("nij,nj->ni", R, dirs)
    K = cams[0].K
    col = K[0, 0] * d_cam[:, 0] / d_cam[:, 2] + K[0, 2] - 0.5
    row = K[1, 1] * d_cam[:, 1] / d_cam[:, 2] + K[1, 2] - 0.5
    if mode == "nearest":
        out = tiles[owner, row.round().long().clamp(0, S - 1), col.round().long().clamp(0, S - 1)]
    elif mode == "bilinear":
        row, col = row.clamp(0, S - 1), col.clamp(0, S - 1)
        r0, c0 = row.floor().long().clamp(max=S - 2), col.floor().long().clamp(max=S - 2)
        fr, fc = (row - r0)[:, None], (col - c0)[:, None]
        top = tiles[owner, r0, c0] * (1 - fc) + tiles[owner, r0, c0 + 1] * fc
        bottom = tiles[owner, r0 + 1, c0] * (1 - fc) + tiles[owner, r0 + 1, c0 + 1] * fc
        out = top * (1 - fr) + bottom * fr
    else:
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    return out.reshape(height, width, -1)


def sample_tangent_tiles(tiles: torch.Tensor, fov_deg: float, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Look up every one of 20 tangent images (20, S, S, C) in unit directions (N, 3), nearest pixel (chapter 05).

    Returns ``values`` (20, N, C) and ``visible`` (20, N) bool: whether the direction falls inside
    that tile. A direction near a tile border is seen by two or three tiles: where they disagree,
    the tiles' depths are inconsistent (DreamScene360 §3.3's motivation for a global alignment).
    """
    if tiles.ndim != 4 or tiles.shape[0] != 20 or tiles.shape[1] != tiles.shape[2]:
        raise ValueError(f"tiles must be (20, S, S, C), got shape {tuple(tiles.shape)}")
    S = tiles.shape[1]
    cams = tangent_cameras(fov_deg, S)
    R = torch.stack([c.viewmat[:3, :3] for c in cams])  # (20, 3, 3)
    d_cam = torch.einsum("tij,nj->tni", R, dirs)  # (20, N, 3)
    K = cams[0].K
    z = d_cam[..., 2].clamp(min=1e-6)
    col = K[0, 0] * d_cam[..., 0] / z + K[0, 2]
    row = K[1, 1] * d_cam[..., 1] / z + K[1, 2]
    visible = (d_cam[..., 2] > 0) & (col >= 0) & (col < S) & (row >= 0) & (row < S)
    c, r = col.floor().long().clamp(0, S - 1), row.floor().long().clamp(0, S - 1)
    values = tiles[torch.arange(20)[:, None], r, c]  # (20, N, C)
    return values, visible
