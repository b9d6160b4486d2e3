"""The ray caster: exact RGB, depth/distance, semantics, instances and normals of a procedural scene (chapters 05-07).

Rays are processed in chunks; inside a chunk every ray meets every primitive in one batched
tensor operation (see :mod:`course_lib.scenes.primitives`), so a few thousand 64x64 images
take well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import math

import torch

from course_lib.geometry.cameras import Camera
from course_lib.scenes.primitives import intersect_boxes, intersect_ellipsoids, intersect_ground
from course_lib.scenes.scene import PackedScene, Scene
from course_lib.scenes.textures import apply_textures

CHUNK = 32768  # rays per batched intersection


def _cast_chunk(scene: Scene, pk: PackedScene, origins: torch.Tensor, dirs: torch.Tensor, candidates: torch.Tensor) -> dict[str, torch.Tensor]:
    R, P = origins.shape[0], pk.cls.shape[0]
    t_all = torch.full((R, P), math.inf)
    face = torch.zeros(R, P, dtype=torch.long)
    idx = pk.box_idx[candidates[pk.box_idx]]
    if len(idx):
        t_box, face_box = intersect_boxes(origins, dirs, pk.center[idx], pk.size[idx], pk.rot[idx])
        t_all[:, idx], face[:, idx] = t_box, face_box
    idx = pk.ellipsoid_idx[candidates[pk.ellipsoid_idx]]
    if len(idx):
        t_all[:, idx] = intersect_ellipsoids(origins, dirs, pk.center[idx], pk.size[idx], pk.rot[idx])
    if pk.ground_idx >= 0:
        t_all[:, pk.ground_idx] = intersect_ground(origins, dirs, pk.ground_height)
    t, prim = t_all.min(dim=1)  # (R,)
    hit = torch.isfinite(t)
    prim = torch.where(hit, prim, torch.full_like(prim, -1))
    safe = prim.clamp(min=0)

    points = origins + dirs * torch.where(hit, t, torch.zeros_like(t))[:, None]
    rot, center, size = pk.rot[safe], pk.center[safe], pk.size[safe]
    local = torch.einsum("rk,rkj->rj", points - center, rot)  # R^T (p - c)
    normal_local = local / size**2  # ellipsoid gradient
    face_hit = face.gather(1, safe[:, None]).squeeze(1)
    is_box = torch.zeros(P, dtype=torch.bool)
    is_box[pk.box_idx] = True
    box_normal = torch.nn.functional.one_hot((face_hit.abs() - 1).clamp(min=0), 3).float() * torch.sign(face_hit.float())[:, None]
    normal_local = torch.where(is_box[safe][:, None], box_normal, normal_local)
    normal = torch.nn.functional.normalize(torch.einsum("rij,rj->ri", rot, normal_local), dim=-1)
    if pk.ground_idx >= 0:
        normal[safe == pk.ground_idx] = torch.tensor([0.0, 0.0, 1.0])
        local[safe == pk.ground_idx] = points[safe == pk.ground_idx]
    normal = torch.where(((normal * dirs).sum(-1) > 0)[:, None], -normal, normal)  # face the viewer

    base = apply_textures(pk.texture[safe], pk.color[safe], local, scene.seed)
    sun = torch.nn.functional.normalize(torch.tensor(scene.sun, dtype=torch.float32), dim=0)
    shade = 0.55 + 0.45 * (normal @ sun).clamp(min=0.0)
    rgb = torch.where(hit[:, None], base * shade[:, None], _sky(scene, dirs))
    return {
        "rgb": rgb.clamp(0.0, 1.0),
        "distance": t,
        "semantic": torch.where(hit, pk.cls[safe], torch.zeros_like(prim)),
        "instance": torch.where(hit, pk.instance[safe], torch.zeros_like(prim)),
        "normal": torch.where(hit[:, None], normal, torch.zeros_like(normal)),
    }


def _sky(scene: Scene, dirs: torch.Tensor) -> torch.Tensor:
    base = torch.tensor(scene.sky_color, dtype=torch.float32)
    if scene.sky == "plain":
        return base.expand(dirs.shape[0], 3)
    up = dirs[:, 2:3].clamp(0.0, 1.0)
    horizon = torch.tensor([0.88, 0.92, 0.96])
    return horizon + (base - horizon) * up.sqrt()


@torch.no_grad()
def cast_rays(scene: Scene, origins: torch.Tensor, dirs: torch.Tensor, candidates: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Render R rays (chapter 05): origins, unit dirs (R, 3) -> dict of per-ray results.

    ``rgb`` (R, 3) in [0, 1]; ``distance`` (R,) along the ray, ``inf`` for the sky;
    ``semantic`` (R,) class ids (0 = sky); ``instance`` (R,) ids (0 = sky); ``normal`` (R, 3).
    ``candidates`` (P,) bool, optional: the only primitives the rays can hit (the rest are skipped).
    """
    if origins.shape != dirs.shape or origins.ndim != 2 or origins.shape[1] != 3:
        raise ValueError(f"origins and dirs must both be (R, 3), got {tuple(origins.shape)} and {tuple(dirs.shape)}")
    if not (torch.isfinite(origins).all() and torch.isfinite(dirs).all()):
        raise ValueError("ray origins/directions contain NaN or inf; check the camera pose")
    origins, dirs = origins.float(), dirs.float()
    packed = scene.packed()
    candidates = torch.ones(packed.cls.shape[0], dtype=torch.bool) if candidates is None else candidates
    parts = [_cast_chunk(scene, packed, origins[s : s + CHUNK], dirs[s : s + CHUNK], candidates) for s in range(0, origins.shape[0], CHUNK)]
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def render_view(scene: Scene, camera: Camera, supersample: int = 1) -> dict[str, torch.Tensor]:
    """Render one pinhole view (chapter 05): ``rgb`` (H, W, 3), ``depth`` (camera z, H, W), ``distance``,
    ``semantic``, ``instance`` (H, W) and ``normal`` (H, W, 3). Sky pixels have depth ``inf``.

    ``supersample=s`` averages s x s rays per pixel for ``rgb`` (anti-aliased edges, as a real
    camera integrates over its pixels); the other outputs stay those of the pixel-centre ray.
    """
    return _unbatch(render_many(scene, [camera], supersample), 0)


def render_many(scene: Scene, cameras: list[Camera], supersample: int = 1) -> dict[str, torch.Tensor]:
    """Render a batch of same-size views in one pass of the ray caster: every output gains a leading (N,) axis (chapters 05-07)."""
    if not cameras:
        raise ValueError("render_many needs at least one camera")
    if supersample < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample}")
    H, W = cameras[0].height, cameras[0].width
    if any((c.height, c.width) != (H, W) for c in cameras):
        raise ValueError("render_many: all cameras must share one image size; render other sizes separately")
    out = {k: v.reshape(len(cameras), H, W, *v.shape[1:]) for k, v in _cast_cameras(scene, cameras).items()}
    out["depth"] = out["distance"] * torch.stack([c.z_per_unit_distance() for c in cameras])
    if supersample > 1:
        s = supersample
        fine = [Camera(c.K * torch.tensor([[s], [s], [1.0]]), c.viewmat, W * s, H * s) for c in cameras]
        rgb = _cast_cameras(scene, fine)["rgb"].reshape(len(cameras), H, s, W, s, 3)
        out["rgb"] = rgb.mean(dim=(2, 4))
    return out


def _cast_cameras(scene: Scene, cameras: list[Camera]) -> dict[str, torch.Tensor]:
    """Cast every pixel ray of same-size cameras, in groups of about CHUNK rays; each group tests only
    the primitives whose bounding sphere meets one of its cameras' view frusta."""
    packed = scene.packed()
    per_group = max(1, CHUNK // (cameras[0].width * cameras[0].height))
    parts = []
    for start in range(0, len(cameras), per_group):
        group = cameras[start : start + per_group]
        rays = [c.rays() for c in group]
        origins = torch.stack([o for o, _ in rays]).reshape(-1, 3)
        dirs = torch.stack([d for _, d in rays]).reshape(-1, 3)
        candidates = torch.stack([in_frustum(packed, c) for c in group]).any(dim=0)
        parts.append(cast_rays(scene, origins, dirs, candidates))
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def in_frustum(packed: PackedScene, camera: Camera) -> torch.Tensor:
    """(P,) bool: primitives whose bounding sphere reaches into the camera's view frustum (chapter 07's long streets).

    A conservative test (it may keep a primitive the rays miss, never drop one they hit): the
    sphere must reach in front of the camera and inside each of the four side planes.
    """
    radius = packed.size.norm(dim=-1)  # box half-diagonal / largest ellipsoid semi-axis bound
    c = packed.center @ camera.viewmat[:3, :3].T + camera.viewmat[:3, 3]  # (P, 3) camera coordinates
    K, W, H = camera.K, camera.width, camera.height
    x_min, x_max = -K[0, 2] / K[0, 0], (W - K[0, 2]) / K[0, 0]
    y_min, y_max = -K[1, 2] / K[1, 1], (H - K[1, 2]) / K[1, 1]
    x, y, z = c.unbind(-1)
    inside = (
        (z + radius > 0)
        & ((x - x_min * z) / torch.sqrt(1 + x_min**2) >= -radius)
        & ((x_max * z - x) / torch.sqrt(1 + x_max**2) >= -radius)
        & ((y - y_min * z) / torch.sqrt(1 + y_min**2) >= -radius)
        & ((y_max * z - y) / torch.sqrt(1 + y_max**2) >= -radius)
    )
    if packed.ground_idx >= 0:
        inside[packed.ground_idx] = True
    return inside


def _unbatch(batch: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    return {k: v[index] for k, v in batch.items()}
