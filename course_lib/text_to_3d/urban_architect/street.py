r"""Urban Architect's street field at this chapter's scale: build it, render it through the layout, fit it (chapter 07).

- :func:`cells_field`: the scalable hash grid (one small field per 8-unit cell of the road, made as the camera
  gets there) + the sky; :func:`fixed_field`: one grid over a fixed box, the baseline it is compared with.
- :func:`render_rays` / :func:`render_image`: layout-constrained sampling (samples only in a band around where each
  ray enters the layout; rays that enter none, or enter it beyond ``sky_distance``, see the sky alone) and NeRF
  volume rendering with the sky behind.
- :func:`fit_views`: photometric fitting of rays drawn from a window of views that may move with the step (the
  drive regime: training views arrive as the camera advances), with Adam; parameters of cells created on the way
  join the optimiser when they appear (the reference code resets its optimiser instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from course_lib.fields import RadianceField, ScalableField, SkyField, StreetField
from course_lib.geometry import Camera
from course_lib.text_to_3d.urban_architect.layout import LayoutBoxes, layout_near_far


@dataclass(frozen=True)
class FieldSettings:
    """Hash-grid fields of the street (chapter 07): per cell ``levels`` x ``features``, ``2**log2_table`` entries,
    ``min_res`` -> ``max_res`` grid cells across a road cell of ``cell_size`` units; the street's cross-section
    ``lateral`` (y) x ``vertical`` (z); MLP heads of width ``hidden``."""

    levels: int = 8
    features: int = 2
    log2_table: int = 12
    min_res: int = 2
    max_res: int = 128
    hidden: int = 32
    cell_size: float = 8.0
    lateral: tuple[float, float] = (-12.0, 12.0)
    vertical: tuple[float, float] = (-0.5, 16.5)

    def grid_kwargs(self) -> dict:
        return dict(levels=self.levels, features=self.features, log2_table=self.log2_table, min_res=self.min_res,
                    max_res=self.max_res, hidden=self.hidden)


@dataclass(frozen=True)
class RenderSettings:
    """Layout-constrained sampling (chapter 07): ``samples`` per ray in [t_hit - front, t_hit + back]; layout hits
    beyond ``sky_distance`` are left to the direction-only sky."""

    samples: int = 16
    front: float = 1.0
    back: float = 0.5
    sky_distance: float = 35.0


class FixedGrid(nn.Module):
    """One :class:`~course_lib.fields.RadianceField` over a fixed box; points outside it are empty (chapter 07's baseline).
    forward(points, grow=True) -> (density, colour), like :class:`~course_lib.fields.ScalableField` (``grow`` is ignored)."""

    def __init__(self, bounds: torch.Tensor, **grid_kwargs) -> None:
        super().__init__()
        self.register_buffer("bounds", torch.as_tensor(bounds, dtype=torch.float32))
        self.field = RadianceField(self.bounds, **grid_kwargs)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, points: torch.Tensor, grow: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        inside = ((points >= self.bounds[0]) & (points <= self.bounds[1])).all(dim=1)
        index = torch.nonzero(inside).squeeze(1)
        density, colour = points.new_zeros(points.shape[0]), points.new_zeros(points.shape[0], 3)
        if index.numel():
            d, c = self.field(points[index])
            density, colour = density.index_put((index,), d), colour.index_put((index,), c)
        return density, colour


def cells_field(settings: FieldSettings) -> StreetField:
    """The scalable street field: lazily created per-cell hash grids + a direction-only sky (chapter 07)."""
    background = ScalableField(settings.cell_size, settings.lateral, settings.vertical, **settings.grid_kwargs())
    return StreetField(background, SkyField())


def fixed_field(settings: FieldSettings, x_range: tuple[float, float], table_size: int, min_res: int, max_res: int) -> StreetField:
    """One hash grid over x in ``x_range`` and the street's cross-section, with ``table_size`` entries per level and
    ``min_res`` -> ``max_res`` grid cells along its whole length, + the sky (chapter 07)."""
    bounds = torch.tensor([[x_range[0], settings.lateral[0], settings.vertical[0]], [x_range[1], settings.lateral[1], settings.vertical[1]]])
    kwargs = {**settings.grid_kwargs(), "min_res": min_res, "max_res": max_res}
    return StreetField(FixedGrid(bounds, table_size=table_size, **kwargs), SkyField())


def field_parameters(field: StreetField) -> int:
    """Trainable numbers of the street's background (cells or fixed grid, heads included; not the sky)."""
    return sum(p.numel() for p in field.background.parameters())


@dataclass
class RayRender:
    """R rendered rays (chapter 07): ``colour`` (R, 3) in [0, 1] with the sky behind, ``depth`` (R,) expected depth
    normalised by the opacity (0 for sky-only rays), ``opacity`` (R,), ``hit`` (R,) rays that were sampled."""

    colour: torch.Tensor
    depth: torch.Tensor
    opacity: torch.Tensor
    hit: torch.Tensor


def render_rays(field: StreetField, origins: torch.Tensor, directions: torch.Tensor, boxes: LayoutBoxes, settings: RenderSettings,
                generator: torch.Generator | None = None, stratified: bool = True, grow: bool = True,
                near_far_fn: Callable = layout_near_far) -> RayRender:
    """Render rays through the layout band (chapter 07). ``near_far_fn`` is :func:`~.layout.layout_near_far` or the learner's.

    A ray whose band reaches one of the field's objects (box-local fields) is sampled through that object's whole box,
    up to where it leaves it: an object is learned as a solid, not as the shell the band would cover, so it still
    renders when its box is moved and seen from elsewhere."""
    near, far, hit = near_far_fn(origins, directions, boxes, settings.front, settings.back)
    hit = hit & (far - settings.back <= settings.sky_distance)
    for obj in field.objects.values():
        t_in, t_out, inside = obj.box.intersect(origins, directions)
        reaches = hit & inside & (t_in <= far)
        far = torch.where(reaches, torch.maximum(far, t_out), far)
    colour = field.sky(directions)
    depth = origins.new_zeros(origins.shape[0])
    opacity = origins.new_zeros(origins.shape[0])
    index = torch.nonzero(hit).squeeze(1)
    if index.numel():
        out = field.render(origins[index], directions[index], near[index], far[index], settings.samples, generator, stratified, grow)
        colour = colour.index_put((index,), out.colour)
        depth = depth.index_put((index,), out.result.depth_normalised)
        opacity = opacity.index_put((index,), out.result.opacity)
    return RayRender(colour, depth, opacity, hit)


def camera_rays(cameras: list[Camera]) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and directions of every pixel of each camera, (V, H*W, 3) each."""
    rays = [camera.rays() for camera in cameras]
    return torch.stack([o.reshape(-1, 3) for o, _ in rays]), torch.stack([d.reshape(-1, 3) for _, d in rays])


def render_image(field: StreetField, camera: Camera, boxes: LayoutBoxes, settings: RenderSettings, grad: bool = False,
                 generator: torch.Generator | None = None, grow: bool = False) -> RayRender:
    """Render a whole view: colour (3, H, W), depth, opacity, hit (H, W). Midpoint samples unless ``generator`` is given;
    ``grad=True`` keeps the graph (distillation)."""
    origins, directions = camera.rays()
    with torch.set_grad_enabled(grad):
        out = render_rays(field, origins.reshape(-1, 3), directions.reshape(-1, 3), boxes, settings, generator,
                          stratified=generator is not None, grow=grow)
    H, W = camera.height, camera.width
    return RayRender(out.colour.T.reshape(3, H, W), out.depth.reshape(H, W), out.opacity.reshape(H, W), out.hit.reshape(H, W))


def new_parameters(module: nn.Module, optimiser: torch.optim.Optimizer) -> list[nn.Parameter]:
    """Parameters of ``module`` that ``optimiser`` does not hold yet (cells created by the last forward pass)."""
    held = {id(p) for group in optimiser.param_groups for p in group["params"]}
    return [p for p in module.parameters() if p.requires_grad and id(p) not in held]


def fit_views(field: StreetField, origins: torch.Tensor, directions: torch.Tensor, targets: torch.Tensor, boxes: LayoutBoxes,
              render: RenderSettings, steps: int, rays: int, lr: float, seed: int,
              window: Callable[[int], tuple[int, int]] | None = None, history: list | None = None,
              progress: Callable | None = None, near_far_fn: Callable = layout_near_far, sky_weight: float = 0.0) -> StreetField:
    """Fit ``field`` to target colours (V, P, 3) in [0, 1] of the rays ``origins``/``directions`` (V, P, 3) (chapter 07).

    Each step draws ``rays`` rays uniformly from views ``window(step)`` = [first, last) (default: all views) and takes an
    Adam step on the colour MSE. Cells created by the step join the optimiser. ``history`` gets the step losses;
    ``near_far_fn`` places the samples (:func:`~.layout.layout_near_far` or the learner's).

    ``sky_weight`` > 0 adds the **sky term** ``sky_weight * mean over the rays of hit * (1 - opacity)^2``: a ray that
    enters the layout ends on a surface, so none of it should reach the sky (the reference code's refinement has a sky
    loss of weight 0.1 to the same end). Without it a field may leave its surfaces half transparent and let the
    direction-only sky, which every view shares, paint them.
    """
    if sky_weight < 0:
        raise ValueError(f"sky_weight={sky_weight!r} must be >= 0 (0 turns the sky term off)")
    V, P, _ = origins.shape
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam([p for p in field.parameters() if p.requires_grad], lr=lr)
    window = window or (lambda step: (0, V))
    steps_iter = range(steps) if progress is None else progress(range(steps))
    for step in steps_iter:
        first, last = window(step)
        view = torch.randint(first, last, (rays,), generator=generator)
        pixel = torch.randint(0, P, (rays,), generator=generator)
        out = render_rays(field, origins[view, pixel], directions[view, pixel], boxes, render, generator, near_far_fn=near_far_fn)
        loss = ((out.colour - targets[view, pixel]) ** 2).mean()
        if sky_weight:
            loss = loss + sky_weight * (out.hit * (1.0 - out.opacity) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        fresh = new_parameters(field, optimiser)
        if fresh:
            optimiser.add_param_group({"params": fresh})
        optimiser.step()
        if history is not None:
            history.append(float(loss.detach()))
    return field


def drive_window(step: int, steps: int, views: int, window: int) -> tuple[int, int]:
    """The drive regime: at ``step`` of ``steps`` the camera has reached view ``last`` (advancing evenly through
    ``views`` views) and trains on the ``window`` views before it, [last - window, last)."""
    last = min(views, window + (step * (views - window + 1)) // steps)
    return max(0, last - window), last
