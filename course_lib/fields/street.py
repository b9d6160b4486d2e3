r"""A street as Urban Architect builds it: the scalable background, the objects in their boxes, the sky (chapter 07).

At a sample point the densities add and the colour is their density-weighted mean (the composition of
per-object fields of GIRAFFE and Urban Architect's scalable hash grid),

.. math:: \sigma = \sigma_{\text{bg}} + \sum_k \sigma_k, \qquad
          \mathbf{c} = \frac{\sigma_{\text{bg}} \mathbf{c}_{\text{bg}} + \sum_k \sigma_k \mathbf{c}_k}{\sigma},

then the samples are volume-rendered (NeRF Eq. 3) and the sky fills what they let through. With
``carve_objects=True`` an object owns its box: the background is empty inside it (:math:`\sigma_{\text{bg}} = 0`
there), so what the background learned cannot stay behind as a ghost when the object moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.fields.objects import ObjectField
from course_lib.fields.scalable import ScalableField
from course_lib.fields.sky import SkyField
from course_lib.fields.volume_rendering import RenderResult, sample_along_rays, volume_render


@dataclass
class StreetRender:
    """A street render of R rays: ``colour`` (R, 3) with the sky behind, ``sky`` (R, 3), and the samples' ``result`` (chapter 07)."""

    colour: torch.Tensor
    sky: torch.Tensor
    result: RenderResult


class StreetField(nn.Module):
    """Background :class:`ScalableField` + named :class:`ObjectField` s + :class:`SkyField` (chapter 07)."""

    def __init__(self, background: ScalableField, sky: SkyField, objects: dict[str, ObjectField] | None = None,
                 carve_objects: bool = False) -> None:
        super().__init__()
        self.background = background
        self.sky = sky
        self.objects = nn.ModuleDict(objects or {})
        self.carve_objects = carve_objects

    def query(self, points: torch.Tensor, grow: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Points (N, 3) -> composed (density (N,), colour (N, 3))."""
        density, colour = self.background(points, grow=grow)
        if self.carve_objects:
            for obj in self.objects.values():
                density = torch.where(obj.box.contains(points), torch.zeros_like(density), density)
        weighted = density[:, None] * colour
        for obj in self.objects.values():
            obj_density, obj_colour = obj(points)
            density = density + obj_density
            weighted = weighted + obj_density[:, None] * obj_colour
        return density, weighted / density.clamp(min=1e-10)[:, None]

    def render(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        near: float | torch.Tensor,
        far: float | torch.Tensor,
        num_samples: int,
        generator: torch.Generator | None = None,
        stratified: bool = True,
        grow: bool = True,
    ) -> StreetRender:
        r"""Render rays (R, 3) + (R, 3): :math:`\hat{C} + (1 - A)\,\mathbf{c}_{\text{sky}}(\mathbf{d})` with samples in [near, far] (chapter 07)."""
        if origins.shape != directions.shape or origins.ndim != 2 or origins.shape[1] != 3:
            raise ValueError(f"origins and directions must both be (R, 3), got {tuple(origins.shape)} and {tuple(directions.shape)}")
        num_rays = origins.shape[0]
        t, deltas = sample_along_rays(num_rays, near, far, num_samples, generator, stratified)
        t, deltas = t.to(origins), deltas.to(origins)
        points = origins[:, None, :] + t[..., None] * directions[:, None, :]  # (R, S, 3)
        density, colour = self.query(points.reshape(-1, 3), grow=grow)
        result = volume_render(density.reshape(num_rays, num_samples), colour.reshape(num_rays, num_samples, 3), t, deltas)
        sky = self.sky(directions)
        return StreetRender(result.colour + (1.0 - result.opacity)[:, None] * sky, sky, result)
