"""Ground-truth equirectangular renders of a procedural scene (chapter 05).

The panorama's pixel layout is :mod:`course_lib.geometry.equirect`'s; this module casts its rays
into a :class:`~course_lib.scenes.scene.Scene` to get the true colour, distance and labels.
"""

from __future__ import annotations

import torch

from course_lib.geometry.cameras import _as_vec3
from course_lib.geometry.equirect import equirect_directions
from course_lib.scenes.raycast import cast_rays
from course_lib.scenes.scene import Scene


def render_panorama(scene: Scene, center, height: int, width: int, yaw: float = 0.0) -> dict[str, torch.Tensor]:
    """Equirectangular render from ``center`` (chapter 05): ``rgb`` (H, W, 3), ``distance`` (H, W; ``inf`` = sky),
    ``semantic``, ``instance`` (H, W), ``normal`` (H, W, 3) and the pixel ``directions`` (H, W, 3)."""
    origin = _as_vec3(center, "center")
    dirs = equirect_directions(height, width, yaw)
    out = cast_rays(scene, origin.expand(height * width, 3), dirs.reshape(-1, 3))
    out = {k: v.reshape(height, width, *v.shape[1:]) for k, v in out.items()}
    out["directions"] = dirs
    return out
