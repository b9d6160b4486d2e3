r"""The 3D semantic layout of a street, its renders, and layout-constrained sampling (Urban Architect §3.1, §3.3), chapter 07.

Urban Architect's layout is a set of semantic primitives: cuboids (buildings, cars), ellipsoids (vegetation)
and planes (road, sidewalk, ground). Here every primitive is an oriented box (:class:`LayoutBoxes`; an
ellipsoid enters as its bounding box, the ground as a thin slab: the course's simplification, the reference
code intersects the layout's triangle mesh). One ray-box test serves two purposes:

- **Layout renders.** The first box a pixel's ray enters gives its semantic label and its depth: the two
  control images of Urban Architect's ControlNet (here concatenated to the prior's input), and the flat
  "palette image" the field is initialised on.
- **Layout-constrained sampling.** Samples are placed only in a band around that first entry,
  :math:`[t_{\text{hit}} - \text{front},\ t_{\text{hit}} + \text{back}]`; a ray that enters no box sees only the sky.

The layout is what the user gives the method. Nothing here reads the procedural street's textures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from course_lib.geometry import Camera
from course_lib.priors.data import LAYOUT_CLASSES, LAYOUT_PALETTE, MAX_DEPTH, layout_condition

__all__ = ["LAYOUT_CLASSES", "LAYOUT_PALETTE", "MAX_DEPTH", "LayoutBoxes", "LayoutRender", "box_intervals", "first_hit", "layout_condition",
           "layout_near_far", "render_layout"]

@dataclass
class LayoutBoxes:
    """The layout as B oriented boxes (chapter 07): ``centre`` (B, 3), ``yaw`` (B,) radians about +z,
    ``half_size`` (B, 3) > 0, ``label`` (B,) LAYOUT_CLASSES ids, ``instance`` (B,) ids of the objects they belong to."""

    centre: torch.Tensor
    yaw: torch.Tensor
    half_size: torch.Tensor
    label: torch.Tensor
    instance: torch.Tensor

    def __post_init__(self) -> None:
        b = self.centre.shape[0] if self.centre.ndim == 2 else -1
        shapes = [tuple(x.shape) for x in (self.centre, self.yaw, self.half_size, self.label, self.instance)]
        if b < 1 or shapes != [(b, 3), (b,), (b, 3), (b,), (b,)]:
            raise ValueError(f"LayoutBoxes needs centre (B, 3), yaw (B,), half_size (B, 3), label (B,), instance (B,) with B >= 1; got {shapes}")
        if not (self.half_size > 0).all():
            raise ValueError("every layout box needs positive half-sizes")

    def __len__(self) -> int:
        return self.centre.shape[0]

    def select(self, keep: torch.Tensor) -> LayoutBoxes:
        return LayoutBoxes(self.centre[keep], self.yaw[keep], self.half_size[keep], self.label[keep], self.instance[keep])

    def without(self, instances: list[int]) -> LayoutBoxes:
        """The layout less the boxes of the given instance ids (an edit that removes an object)."""
        return self.select(~torch.isin(self.instance, torch.tensor(list(instances), dtype=torch.long)))

    def moved(self, instance: int, offset: tuple[float, float, float]) -> LayoutBoxes:
        """The layout with the boxes of ``instance`` shifted by ``offset`` (an edit that moves an object)."""
        centre = self.centre.clone()
        centre[self.instance == instance] += torch.tensor(offset, dtype=centre.dtype)
        return LayoutBoxes(centre, self.yaw, self.half_size, self.label, self.instance)


def box_intervals(origins: torch.Tensor, directions: torch.Tensor, boxes: LayoutBoxes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Entry and exit distances of R rays through B oriented boxes, by the slab method in each box's frame (chapter 07).

    With :math:`\mathbf{o}', \mathbf{d}'` the ray in the box frame, :math:`t^\pm_i = (\pm h_i - o'_i) / d'_i`,
    :math:`t_{\text{in}} = \max_i \min(t^-_i, t^+_i)`, :math:`t_{\text{out}} = \min_i \max(t^-_i, t^+_i)`.
    Returns t_in (R, B), t_out (R, B) and hit (R, B) = t_out >= max(t_in, 0).
    """
    c, s = torch.cos(boxes.yaw), torch.sin(boxes.yaw)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    rot = torch.stack([torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1), torch.stack([zero, zero, one], -1)], -2)  # (B, 3, 3) local -> world
    o = torch.einsum("rk,bkj->rbj", origins, rot) - torch.einsum("bk,bkj->bj", boxes.centre, rot)  # (R, B, 3)
    d = torch.einsum("rk,bkj->rbj", directions, rot)
    d = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    t1, t2 = (-boxes.half_size - o) / d, (boxes.half_size - o) / d
    t_in = torch.minimum(t1, t2).amax(-1)
    t_out = torch.maximum(t1, t2).amin(-1)
    return t_in, t_out, t_out >= t_in.clamp(min=0.0)


def first_hit(origins: torch.Tensor, directions: torch.Tensor, boxes: LayoutBoxes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each ray first enters the layout (chapter 07): distance (R,) (inf on a miss; 0 for a ray that starts
    inside a box), the box's index (R,) (-1 on a miss), hit (R,) bool."""
    t_in, _, hit = box_intervals(origins, directions, boxes)
    entry = torch.where(hit, t_in.clamp(min=0.0), torch.full_like(t_in, math.inf))
    t, index = entry.min(dim=1)
    any_hit = torch.isfinite(t)
    return t, torch.where(any_hit, index, torch.full_like(index, -1)), any_hit


def layout_near_far(origins: torch.Tensor, directions: torch.Tensor, boxes: LayoutBoxes, front: float, back: float
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Layout-constrained sampling bounds (chapter 07): near = max(t_hit - front, 0), far = t_hit + back, where
    :math:`t_{\text{hit}}` is where the ray first enters a layout box; rays that enter none get near = far = 0 and
    hit = False (the sky alone colours them). origins, directions (R, 3) -> near (R,), far (R,), hit (R,)."""
    if origins.shape != directions.shape or origins.ndim != 2 or origins.shape[1] != 3:
        raise ValueError(f"origins and directions must both be (R, 3), got {tuple(origins.shape)} and {tuple(directions.shape)}")
    if not (front >= 0 and back > 0):
        raise ValueError(f"the band needs front >= 0 and back > 0, got front={front}, back={back}")
    t, _, hit = first_hit(origins, directions, boxes)
    t = torch.where(hit, t, torch.zeros_like(t))
    near = torch.where(hit, (t - front).clamp(min=0.0), torch.zeros_like(t))
    far = torch.where(hit, t + back, torch.zeros_like(t))
    return near, far, hit


@dataclass
class LayoutRender:
    """The layout seen by N cameras (chapter 07): ``semantic`` (N, H, W) LAYOUT_CLASSES ids (0 = sky), ``depth``
    (N, H, W) camera z clamped at MAX_DEPTH (the sky too), ``distance`` (N, H, W) along the ray (inf for the sky),
    ``palette`` (N, 3, H, W) the flat class colours in [-1, 1]."""

    semantic: torch.Tensor
    depth: torch.Tensor
    distance: torch.Tensor
    palette: torch.Tensor


def render_layout(boxes: LayoutBoxes, cameras: list[Camera], max_distance: float = math.inf) -> LayoutRender:
    """Semantic, depth and palette images of the layout from ``cameras`` (chapter 07); hits beyond ``max_distance`` count as sky."""
    semantic, depth, distance = [], [], []
    for camera in cameras:
        origins, dirs = camera.rays()
        t, index, hit = first_hit(origins.reshape(-1, 3), dirs.reshape(-1, 3), boxes)
        hit = hit & (t <= max_distance)
        label = torch.where(hit, boxes.label[index.clamp(min=0)], torch.zeros_like(index))
        dist = torch.where(hit, t, torch.full_like(t, math.inf))
        semantic.append(label.reshape(camera.height, camera.width))
        distance.append(dist.reshape(camera.height, camera.width))
        depth.append((distance[-1] * camera.z_per_unit_distance()).clamp(max=MAX_DEPTH).nan_to_num(MAX_DEPTH, MAX_DEPTH))
    semantic_t = torch.stack(semantic)
    palette = LAYOUT_PALETTE[semantic_t].permute(0, 3, 1, 2) * 2 - 1
    return LayoutRender(semantic_t, torch.stack(depth), torch.stack(distance), palette.contiguous())
