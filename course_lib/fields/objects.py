r"""Per-object fields in box-local coordinates (Urban Architect, "scalable hash grid"), chapter 07.

An object (a car) is a box with a centre, a yaw about the world z axis and half-sizes. Its field lives in
the box's own frame: a world point is moved into the frame by :math:`\mathbf{p}_{\text{box}} = R_z(\psi)^\top
(\mathbf{p} - \mathbf{c})` before the lookup, so moving or turning the box moves the object with it, with no
retraining. Outside its box an object is empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from course_lib.fields.radiance_field import RadianceField


@dataclass(frozen=True)
class Box:
    """An oriented box: ``centre`` (x, y, z), ``yaw`` in radians about +z, ``half_size`` (hx, hy, hz) > 0 (chapter 07)."""

    centre: tuple[float, float, float]
    yaw: float
    half_size: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.centre) != 3 or len(self.half_size) != 3:
            raise ValueError(f"a box needs a 3D centre and 3 half-sizes, got centre={self.centre} and half_size={self.half_size}")
        if not all(math.isfinite(v) for v in (*self.centre, self.yaw, *self.half_size)):
            raise ValueError(f"box centre, yaw and half-sizes must be finite, got {self}")
        if min(self.half_size) <= 0:
            raise ValueError(f"half_size={self.half_size} must be positive on every axis")
        object.__setattr__(self, "centre", tuple(float(v) for v in self.centre))
        object.__setattr__(self, "half_size", tuple(float(v) for v in self.half_size))
        object.__setattr__(self, "yaw", float(self.yaw))

    def moved(self, centre: tuple[float, float, float] | None = None, yaw: float | None = None) -> Box:
        """The same box at another ``centre`` and/or ``yaw``."""
        return replace(self, centre=self.centre if centre is None else centre, yaw=self.yaw if yaw is None else yaw)

    def rotation(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """R_z(yaw) (3, 3): box axes (columns) in world coordinates."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=dtype)

    def to_local(self, points: torch.Tensor) -> torch.Tensor:
        r"""World points (..., 3) -> box frame: :math:`R_z(\psi)^\top (\mathbf{p} - \mathbf{c})`."""
        centre = torch.tensor(self.centre, dtype=points.dtype, device=points.device)
        return (points - centre) @ self.rotation(points.dtype).to(points.device)  # row vectors: p R = (R^T p)^T

    def contains(self, points: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which world points lie inside the box."""
        half = torch.tensor(self.half_size, dtype=points.dtype, device=points.device)
        return (self.to_local(points).abs() <= half).all(dim=-1)

    def intersect(self, origins: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Where rays (R, 3) enter and leave the box, by the slab method in the box frame (chapter 07).

        :math:`t_{\text{near}} = \max_i \min(t^-_i, t^+_i)`, :math:`t_{\text{far}} = \min_i \max(t^-_i, t^+_i)`
        with :math:`t^\pm_i = (\pm h_i - o_i) / d_i`; returns t_near (R,) clamped at 0, t_far (R,), hit (R,) bool
        (t_far >= max(t_near, 0)). Use them as per-ray near / far for layout-constrained sampling.
        """
        if origins.shape != directions.shape or origins.ndim != 2 or origins.shape[1] != 3:
            raise ValueError(f"origins and directions must both be (R, 3), got {tuple(origins.shape)} and {tuple(directions.shape)}")
        local_o = self.to_local(origins)
        local_d = directions @ self.rotation(directions.dtype).to(directions.device)
        half = torch.tensor(self.half_size, dtype=origins.dtype, device=origins.device)
        safe_d = torch.where(local_d.abs() < 1e-12, torch.full_like(local_d, 1e-12), local_d)
        t_minus, t_plus = (-half - local_o) / safe_d, (half - local_o) / safe_d
        t_near = torch.minimum(t_minus, t_plus).amax(dim=-1).clamp(min=0.0)
        t_far = torch.maximum(t_minus, t_plus).amin(dim=-1)
        return t_near, t_far, t_far >= t_near


class ObjectField(nn.Module):
    """A radiance field in the frame of a :class:`Box`; ``box`` can be replaced to move the object (chapter 07).

    ``field_kwargs`` configure its :class:`RadianceField` (levels, features, log2_table, min_res, max_res,
    hidden), whose grid spans the box's local extent ``[-half_size, half_size]``.

    forward: world points (N, 3) -> (density (N,), colour (N, 3)); zero outside the box.
    """

    def __init__(self, box: Box, **field_kwargs: int) -> None:
        super().__init__()
        self.box = box
        half = torch.tensor(box.half_size)
        self.field = RadianceField(torch.stack([-half, half]), **field_kwargs)

    def move_to(self, centre: tuple[float, float, float] | None = None, yaw: float | None = None) -> None:
        """Move / turn the object (its size stays: the field was fitted to it)."""
        self.box = self.box.moved(centre, yaw)

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 3 or not points.is_floating_point():
            shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
            raise ValueError(f"points must be a floating-point tensor of shape (N, 3) in world coordinates, got {shape}")
        index = torch.nonzero(self.box.contains(points)).squeeze(1)
        density = points.new_zeros(points.shape[0])
        colour = points.new_zeros(points.shape[0], 3)
        if index.numel():
            inside_density, inside_colour = self.field(self.box.to_local(points[index]))
            density = density.index_put((index,), inside_density)
            colour = colour.index_put((index,), inside_colour)
        return density, colour
