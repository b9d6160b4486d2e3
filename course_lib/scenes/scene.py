"""A procedural scene: primitives, sky, lighting, prompt and seed, packed into tensors for the ray caster (chapters 05-07)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.scenes.primitives import Box, Ellipsoid, GroundPlane, Primitive, yaw_matrix
from course_lib.scenes.semantics import class_id
from course_lib.scenes.textures import texture_id

SKIES = ("gradient", "plain")


@dataclass
class PackedScene:
    """Tensor form of a scene. Per primitive p (P rows, scene order): class, instance, colour, texture, (chapters 05-07)
    centre, size (box half-size / ellipsoid radii), rotation (local -> world); plus the indices of the
    boxes, the ellipsoids and the ground plane among them."""

    cls: torch.Tensor  # (P,) long
    instance: torch.Tensor  # (P,) long
    color: torch.Tensor  # (P, 3)
    texture: torch.Tensor  # (P,) long
    center: torch.Tensor  # (P, 3)
    size: torch.Tensor  # (P, 3)
    rot: torch.Tensor  # (P, 3, 3)
    box_idx: torch.Tensor  # (B,) long
    ellipsoid_idx: torch.Tensor  # (E,) long
    ground_idx: int  # -1 when the scene has no ground plane
    ground_height: float


@dataclass
class Scene:
    """A procedural world (chapter 05): ``primitives``, a text ``prompt`` describing it, the ``seed`` that built it.

    ``sky`` is ``"gradient"`` (blue above, pale at the horizon) or ``"plain"`` (``sky_color``
    everywhere, handy as a known background for splatting). ``sun`` is the direction towards
    the light; shading is Lambertian plus ambient, so colours do not depend on the viewpoint.
    """

    primitives: list[Primitive]
    prompt: str = ""
    seed: int = 0
    sky: str = "gradient"
    sky_color: tuple[float, float, float] = (0.62, 0.78, 0.95)
    sun: tuple[float, float, float] = (0.35, 0.25, 0.9)

    def __post_init__(self) -> None:
        if not self.primitives:
            raise ValueError(
                "empty scene: a Scene needs at least one primitive (Box, Ellipsoid or GroundPlane). "
                "Use a builder such as outdoor_scene(seed) or scene_from_prompt('a red house'), or add primitives."
            )
        if self.sky not in SKIES:
            raise ValueError(f"sky={self.sky!r} is not one of {SKIES}")
        if sum(isinstance(p, GroundPlane) for p in self.primitives) > 1:
            raise ValueError("a scene holds at most one GroundPlane")
        for p in self.primitives:
            texture_id(p.texture)

    def packed(self) -> PackedScene:
        """The scene as tensors, built afresh on each call so that edited primitives (a moved car) show at once."""
        return _pack(self.primitives)

    def layout(self) -> list[dict]:
        """The 3D semantic layout (chapter 07): one dict per primitive with kind, class, instance and geometry."""
        rows = []
        for p in self.primitives:
            row = {"kind": type(p).__name__, "cls": p.cls, "class_id": class_id(p.cls), "instance": p.instance}
            if isinstance(p, Box):
                row.update(center=p.center, half_size=p.half_size, yaw=p.yaw)
            elif isinstance(p, Ellipsoid):
                row.update(center=p.center, radii=p.radii, yaw=p.yaw)
            else:
                row.update(height=p.height)
            rows.append(row)
        return rows


def _pack(primitives: list[Primitive]) -> PackedScene:
    P = len(primitives)
    center, size, rot = torch.zeros(P, 3), torch.ones(P, 3), torch.eye(3).repeat(P, 1, 1)
    boxes, ellipsoids, ground_idx, ground_height = [], [], -1, 0.0
    for i, p in enumerate(primitives):
        if isinstance(p, Box):
            center[i], size[i], rot[i] = torch.tensor(p.center), torch.tensor(p.half_size), yaw_matrix(p.yaw)
            boxes.append(i)
        elif isinstance(p, Ellipsoid):
            center[i], size[i], rot[i] = torch.tensor(p.center), torch.tensor(p.radii), yaw_matrix(p.yaw)
            ellipsoids.append(i)
        elif isinstance(p, GroundPlane):
            ground_idx, ground_height = i, float(p.height)
        else:
            raise TypeError(f"unknown primitive type {type(p).__name__}; use Box, Ellipsoid or GroundPlane")
    if (size <= 0).any():
        raise ValueError("every box half-size and ellipsoid radius must be positive")
    if not (torch.isfinite(center).all() and torch.isfinite(size).all()):
        bad = [i for i in range(P) if not (torch.isfinite(center[i]).all() and torch.isfinite(size[i]).all())]
        raise ValueError(f"primitive(s) {bad[:5]} have a NaN or inf centre or size; give every primitive finite coordinates")
    return PackedScene(
        cls=torch.tensor([class_id(p.cls) for p in primitives]),
        instance=torch.tensor([p.instance for p in primitives]),
        color=torch.tensor([p.color for p in primitives], dtype=torch.float32),
        texture=torch.tensor([texture_id(p.texture) for p in primitives]),
        center=center, size=size, rot=rot,
        box_idx=torch.tensor(boxes, dtype=torch.long), ellipsoid_idx=torch.tensor(ellipsoids, dtype=torch.long),
        ground_idx=ground_idx, ground_height=ground_height,
    )
