"""Analytic primitives and their vectorised ray intersections (chapters 05-07).

A scene is a list of oriented boxes, ellipsoids (spheres are ellipsoids with equal radii)
and at most one infinite ground plane z = h. Every intersection routine takes R rays and P
primitives of one kind at once and returns the hit distance along each ray for each
primitive, (R, P), ``inf`` where the ray misses; no Python loop over rays or primitives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from course_lib.scenes.semantics import class_id

EPS_T = 1e-4  # hits closer than this along the ray are ignored (self-intersection guard)


def yaw_matrix(yaw: float) -> torch.Tensor:
    """(3, 3) rotation by ``yaw`` radians about the world z axis (local -> world) (chapters 05-07)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class Primitive:
    """Common fields: semantic class name, instance id (>= 1), base colour (RGB in [0, 1]) and texture name (chapters 05-07)."""

    cls: str
    instance: int
    color: tuple[float, float, float]
    texture: str = "plain"

    def __post_init__(self) -> None:
        class_id(self.cls)
        if self.instance < 1:
            raise ValueError(f"instance ids start at 1 (0 is the sky), got {self.instance}")


@dataclass
class Box(Primitive):
    """An oriented box: ``center`` (3,), ``half_size`` (3,) along its local axes, turned by ``yaw`` about z (chapters 05-07)."""

    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    half_size: tuple[float, float, float] = (0.5, 0.5, 0.5)
    yaw: float = 0.0


@dataclass
class Ellipsoid(Primitive):
    """An ellipsoid: ``center`` (3,), semi-axes ``radii`` (3,) along its local axes, turned by ``yaw`` about z (chapters 05-07)."""

    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radii: tuple[float, float, float] = (0.5, 0.5, 0.5)
    yaw: float = 0.0


@dataclass
class GroundPlane(Primitive):
    """The infinite horizontal plane z = ``height`` (chapters 05-07)."""

    height: float = 0.0


def _safe_reciprocal(d: torch.Tensor) -> torch.Tensor:
    """1/d with d = 0 replaced by a tiny signed value (a ray parallel to a slab never enters it)."""
    return 1.0 / torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)


def intersect_boxes(
    origins: torch.Tensor, dirs: torch.Tensor, centers: torch.Tensor, half: torch.Tensor, rots: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab test (Kay & Kajiya 1986) for R rays against P oriented boxes (chapter 07).

    origins, dirs: (R, 3); centers, half: (P, 3); rots: (P, 3, 3) local -> world.
    Returns t (R, P) (``inf`` on a miss) and the hit face's local axis (R, P) with sign in {±1, ±2, ±3}.
    """
    o = torch.einsum("rk,pkj->rpj", origins, rots) - torch.einsum("pk,pkj->pj", centers, rots)  # (R, P, 3) local
    d = torch.einsum("rk,pkj->rpj", dirs, rots)  # (R, P, 3)
    inv = _safe_reciprocal(d)
    t1, t2 = (-half - o) * inv, (half - o) * inv
    t_near, t_far = torch.minimum(t1, t2), torch.maximum(t1, t2)
    t_enter, axis = t_near.max(dim=-1)  # (R, P)
    t_exit = t_far.min(dim=-1).values
    t = torch.where(t_enter > EPS_T, t_enter, t_exit)
    hit = (t_exit >= t_enter) & (t > EPS_T)
    sign = -torch.sign(torch.gather(d, -1, axis.unsqueeze(-1)).squeeze(-1))  # outward normal faces the ray
    face = (axis + 1) * torch.where(sign == 0, torch.ones_like(sign), sign).long()
    return torch.where(hit, t, torch.full_like(t, math.inf)), face


def intersect_ellipsoids(
    origins: torch.Tensor, dirs: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor, rots: torch.Tensor
) -> torch.Tensor:
    r"""R rays against P ellipsoids: solve :math:`\|(o + t d - c) / r\|^2 = 1` in local coordinates (chapter 07).

    origins, dirs: (R, 3); centers, radii: (P, 3); rots (P, 3, 3). Returns t (R, P), ``inf`` on a miss.
    """
    o = (torch.einsum("rk,pkj->rpj", origins, rots) - torch.einsum("pk,pkj->pj", centers, rots)) / radii
    d = torch.einsum("rk,pkj->rpj", dirs, rots) / radii
    a = (d * d).sum(-1)
    b = 2.0 * (o * d).sum(-1)
    c = (o * o).sum(-1) - 1.0
    disc = b * b - 4.0 * a * c
    root = torch.sqrt(disc.clamp(min=0.0))
    t_near, t_far = (-b - root) / (2 * a), (-b + root) / (2 * a)
    t = torch.where(t_near > EPS_T, t_near, t_far)
    hit = (disc >= 0) & (t > EPS_T)
    return torch.where(hit, t, torch.full_like(t, math.inf))


def intersect_ground(origins: torch.Tensor, dirs: torch.Tensor, height: float) -> torch.Tensor:
    """R rays against the plane z = ``height``: t = (h - o_z) / d_z, (R,), ``inf`` on a miss (chapter 05)."""
    t = (height - origins[:, 2]) * _safe_reciprocal(dirs[:, 2])
    return torch.where(t > EPS_T, t, torch.full_like(t, math.inf))
