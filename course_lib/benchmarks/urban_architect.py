"""Chapter 07's test bench: procedural streets, their layouts, held-out views, and the scores (the answer sheet).

- **The drive regime** (scalable grid vs one fixed grid): a 56-unit street driven in 89 training views; at each
  step the field trains on the last 8 views the camera has reached, with the sky term (config ``sky_weight``). Three
  fields: the scalable grid's lazily created cells; one grid over the whole street with (at least) the cells' total
  parameters at a single cell's resolution spread over the street ("equal parameters"); and one grid with the same
  parameters and the cells' world-space resolution ("same resolution"). Scored by PSNR on surface pixels of held-out
  views between the training views: near the start (all surface pixels of the first 12 views, and only those of the
  stretch driven past first, x < :data:`PASSED_X`) and far down the road (the last 12 views).
- **Layout guidance**: a short street, its layout rendered from jittered training cameras, a field initialised on
  the layout's palette images, then distilled by each variant of :data:`VARIANTS` at the same budget from the same
  start. Layout adherence: the shipped segmenter's labels on renders of held-out cameras against the layout's
  semantics (mIoU over the classes in view), and the share of surface pixels the field covers.
- **Editing**: the short street fitted on its photos with the first car in its own box-local field.

The runs take longer than a chapter's budget, so ``build_runs`` (asset ``ch07_runs``) ships the fields and the
notebook scores them. The recipes (cells of 8 units, 600 steps x 1024 rays, CFG 3, t in [0.02, 0.6], 150 steps)
come from the chapter spec's probes on other streets; these streets' seeds were not used to choose them.

Which claims the notebook asserts was decided on the validation streets (:data:`VALIDATION_STREETS`) by
``python -m course_lib.benchmarks.urban_architect`` (:func:`validate`, about 10 CPU-minutes): layout guidance raised
adherence there, with VSD and with SDS, so "VSD without layout -> LG-VSD" is asserted; the cells kept the stretch
driven past first better than the equal-parameter grid (both seeds, interval above 0), so that is asserted too. Against
that grid the whole near-start views and the far end tied; the same-resolution comparisons are printed with their
verdicts, as the chapter's spec asks.

How the drive comparison came to be scored this way (all on the validation street, seed 0 unless said). Without the
sky term, 85-90 % of the near-start surface pixels had opacity below 0.9: the fields let the direction-only sky,
which every view shares, paint the surfaces, and as the drive went on the sky was retrained for the views further
on. The cells' near-start PSNR fell from 22.2 dB at step 100 to 16.5 at step 600, and putting back the step-100 sky
alone recovered 2.1 dB of it; the cells then lost to the equal-parameter grid by 1.5 dB (both seeds), as the chapter reported
before it had the sky term. With the sky term (weight 0.1, the reference's sky-loss weight, not tuned)
the surfaces are opaque (0.98) and the near-start PSNR ends at 21.2. What the cells still lose there after step 100
(-1.6 dB) is the cells further down the road (x 8-48), which the near-start views see from afar and which the
camera later approaches and refits from close up: putting back the step-100 cells restored 22.8 dB, and the first
cell had not changed since step 100. That refit happens to every field, so the claim "keeps what it saw first"
is scored on the stretch that only the first quarter of the drive sees (x < 16, chosen from that diagnosis before any
comparison was run on it). Output on the course machine (2 CPU cores shared with another job; 1 torch thread):

.. code-block:: text

    torch 2.14.1+cu130, 1 thread; validation streets {'drive': 12, 'guide': 22}, seeds (0, 1)
    surface PSNR near the start, equal-parameter grid -> cells: 21.100 -> 21.230; gain +0.130, 95% CI [-0.335, +0.595] over 24 (seed, view) pairs; per seed -0.206, +0.465 -> tie (within noise)
    surface PSNR near the start, the stretch driven past first, equal-parameter grid -> cells: 21.230 -> 22.119; gain +0.889, 95% CI [+0.263, +1.515] over 24 (seed, view) pairs; per seed +0.506, +1.272 -> reproduces
    surface PSNR far down the road, equal-parameter grid -> cells: 26.714 -> 26.683; gain -0.032, 95% CI [-0.287, +0.224] over 24 (seed, view) pairs; per seed +0.176, -0.239 -> tie (within noise)
    surface PSNR near the start, same-resolution grid -> cells: 20.738 -> 21.230; gain +0.492, 95% CI [+0.185, +0.799] over 24 (seed, view) pairs; per seed +0.511, +0.473 -> reproduces
    surface PSNR near the start, the stretch driven past first, same-resolution grid -> cells: 21.095 -> 22.119; gain +1.024, 95% CI [+0.623, +1.425] over 24 (seed, view) pairs; per seed +1.067, +0.981 -> reproduces
    surface PSNR far down the road, same-resolution grid -> cells: 26.847 -> 26.683; gain -0.164, 95% CI [-0.418, +0.089] over 24 (seed, view) pairs; per seed +0.103, -0.432 -> tie (within noise)
    layout adherence (mIoU), VSD without layout -> LG-VSD: 0.213 -> 0.708; gain +0.495, 95% CI [+0.447, +0.543] over 16 (seed, view) pairs; per seed +0.495, +0.495 -> reproduces
    layout adherence (mIoU), SDS without layout -> SDS with layout: 0.405 -> 0.796; gain +0.391, 95% CI [+0.350, +0.432] over 16 (seed, view) pairs; per seed +0.387, +0.396 -> reproduces
    layout adherence (mIoU), SDS with layout -> LG-VSD: 0.796 -> 0.708; gain -0.088, 95% CI [-0.137, -0.040] over 16 (seed, view) pairs; per seed -0.078, -0.098 -> does not reproduce
    layout adherence (mIoU), LG-VSD -> the palette-initialised start (distillation repaints the palette): 0.708 -> 0.859; gain +0.150, 95% CI [+0.118, +0.183] over 16 (seed, view) pairs; per seed +0.164, +0.136 -> reproduces
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch

from course_lib.fields import Box as FieldBox
from course_lib.fields import ObjectField, StreetField
from course_lib.geometry import Camera, drive_cameras, look_at_camera
from course_lib.priors.data import LAYOUT_CLASSES
from course_lib.scenes import Scene, render_many, street_scene
from course_lib.scenes.primitives import Box, Ellipsoid, GroundPlane
from course_lib.text_to_3d.urban_architect.layout import LayoutBoxes, first_hit, render_layout
from course_lib.text_to_3d.urban_architect.street import (
    FieldSettings, RenderSettings, camera_rays, cells_field, drive_window, field_parameters, fit_views, fixed_field, render_image,
)

IMAGE = 32
FOV = 60.0
PROMPT = "a street with cars and trees along buildings"
# drive regime
DRIVE_STREET = dict(seed=11, length=56.0)
DRIVE_VIEWS, DRIVE_STEP, DRIVE_WINDOW = 89, 0.6, 8
DRIVE_FIELD = FieldSettings()
DRIVE_RENDER = RenderSettings(samples=16, front=1.0, back=0.5, sky_distance=35.0)
DRIVE_KINDS = ("cells", "equal_params", "same_resolution")
NEAR_VIEWS = FAR_VIEWS = 12  # held-out views scored as "near the start" / "far down the road"
# the stretch driven past first: surfaces with x < PASSED_X are seen by the training views of the first quarter of the
# drive only (the camera passes x = 16 at view 27 of 89; it looks ahead), so they test what a field keeps of them
PASSED_X = 16.0
# layout guidance
GUIDE_STREET = dict(seed=21, length=24.0)
GUIDE_FIELD = FieldSettings(log2_table=11)
GUIDE_RENDER = RenderSettings(samples=16, front=1.0, back=0.5, sky_distance=25.0)
# name -> (label, DistillSettings changes)
VARIANTS: dict[str, tuple[str, dict]] = {
    "lg_vsd": ("LG-VSD (layout prior + estimator)", dict(method="vsd", layout=True)),
    "vsd": ("VSD without the layout", dict(method="vsd", layout=False)),
    "lg_sds": ("SDS with the layout", dict(method="sds", layout=True)),
    "sds": ("SDS without the layout", dict(method="sds", layout=False)),
    "lg_vsd_paper": ("LG-VSD, paper's CFG 7.5, t to 0.98", dict(method="vsd", layout=True, scale=7.5, t_range=(0.02, 0.98))),
    "vsd_paper": ("VSD w/o layout, CFG 7.5, t to 0.98", dict(method="vsd", layout=False, scale=7.5, t_range=(0.02, 0.98))),
}


def layout_boxes(street: Scene, ground_half_size: float = 200.0) -> LayoutBoxes:
    """A street's 3D layout as boxes: boxes as they are, ellipsoids (trees) as their bounding boxes, the ground
    plane as a slab 0.5 deep under it; roofs are buildings (chapter 07)."""
    rows = []
    for p in street.primitives:
        cls = "building" if p.cls == "roof" else (p.cls if p.cls in LAYOUT_CLASSES else "ground")
        label = LAYOUT_CLASSES.index(cls)
        if isinstance(p, Box):
            rows.append((p.center, p.yaw, p.half_size, label, p.instance))
        elif isinstance(p, Ellipsoid):
            rows.append((p.center, p.yaw, p.radii, label, p.instance))
        elif isinstance(p, GroundPlane):
            rows.append(((0.0, 0.0, p.height - 0.25), 0.0, (ground_half_size, ground_half_size, 0.25), label, p.instance))
    centre, yaw, half, label, instance = zip(*rows)
    return LayoutBoxes(torch.tensor(centre, dtype=torch.float32), torch.tensor(yaw, dtype=torch.float32),
                       torch.tensor(half, dtype=torch.float32), torch.tensor(label), torch.tensor(instance))


def photos(street: Scene, cameras: list[Camera]) -> torch.Tensor:
    """The street's true renders (its "photos"), (V, H*W, 3) in [0, 1], 2 x 2 supersampled."""
    return render_many(street, cameras, supersample=2)["rgb"].reshape(len(cameras), -1, 3)


# ---------------------------------------------------------------- the drive regime

@dataclass
class Drive:
    street: Scene
    boxes: LayoutBoxes
    cameras: list[Camera]
    eval_cameras: list[Camera]
    origins: torch.Tensor
    directions: torch.Tensor
    targets: torch.Tensor


def drive_setup(street_seed: int = DRIVE_STREET["seed"]) -> Drive:
    """The drive street, its training cameras (one lane, 0.6 units apart) and the held-out cameras half-way between."""
    street = street_scene(street_seed, length=DRIVE_STREET["length"])
    def cams(x0: float, n: int) -> list[Camera]:
        return drive_cameras((x0, -1.5, 1.6), (1.0, 0.0, 0.0), DRIVE_STEP, n, FOV, IMAGE, IMAGE, pitch_drop=1.2)
    cameras = cams(0.0, DRIVE_VIEWS)
    origins, directions = camera_rays(cameras)
    return Drive(street, layout_boxes(street), cameras, cams(DRIVE_STEP / 2, DRIVE_VIEWS - 1), origins, directions, photos(street, cameras))


def drive_extent(drive: Drive) -> tuple[float, float]:
    """The x range (whole cells) that layout-band samples of the training views can reach."""
    o, d = drive.origins.reshape(-1, 3), drive.directions.reshape(-1, 3)
    t, _, hit = first_hit(o, d, drive.boxes)
    hit = hit & (t <= DRIVE_RENDER.sky_distance)
    x = torch.cat([(o + (t - DRIVE_RENDER.front).clamp(min=0)[:, None] * d)[hit, 0], (o + (t + DRIVE_RENDER.back)[:, None] * d)[hit, 0]])
    size = DRIVE_FIELD.cell_size
    return math.floor(float(x.min()) / size) * size, (math.floor(float(x.max()) / size) + 1) * size


def grid_parameters(levels: int, features: int, table_size: int, min_res: int, max_res: int, hidden: int) -> int:
    from course_lib.fields import level_resolutions, level_table_rows

    tables = sum(level_table_rows(r, table_size) for r in level_resolutions(levels, min_res, max_res)) * features
    return tables + (levels * features + 1) * hidden + (hidden + 1) * 4


def drive_fields(drive: Drive) -> dict[str, StreetField]:
    """The three fields of the drive regime, fresh. The fixed grids get the smallest table whose parameters reach the
    cells' total once every cell the drive reaches exists."""
    x0, x1 = drive_extent(drive)
    s = DRIVE_FIELD
    cells = round((x1 - x0) / s.cell_size)
    cells_total = cells * grid_parameters(s.levels, s.features, 2**s.log2_table, s.min_res, s.max_res, s.hidden)
    fields = {"cells": cells_field(s)}
    for kind, (lo, hi) in {"equal_params": (s.min_res, s.max_res), "same_resolution": (s.min_res * cells, s.max_res * cells)}.items():
        table = 2**s.log2_table
        while grid_parameters(s.levels, s.features, table, lo, hi, s.hidden) < cells_total:
            table += 256
        fields[kind] = fixed_field(s, (x0, x1), table, lo, hi)
    return fields


def run_drive(drive: Drive, kind: str, seed: int, steps: int, rays: int, progress=None,
              sky_weight: float | None = None) -> tuple[StreetField, list[float]]:
    """Fit the ``kind`` field in the drive regime; ``sky_weight`` defaults to the chapter's (config ``sky_weight``)."""
    from course_lib.config import CHAPTER_07

    sky_weight = CHAPTER_07["sky_weight"].reduced if sky_weight is None else sky_weight
    torch.manual_seed(seed)
    field = drive_fields(drive)[kind]
    history: list[float] = []
    fit_views(field, drive.origins, drive.directions, drive.targets, drive.boxes, DRIVE_RENDER, steps, rays, 1e-2, seed,
              window=lambda step: drive_window(step, steps, DRIVE_VIEWS, DRIVE_WINDOW), history=history, progress=progress,
              sky_weight=sky_weight)
    return field, history


@dataclass
class Truth:
    """Photos (N, H, W, 3) of held-out cameras, their surface pixels (N, H, W) (the photo shows no sky) and the x
    (along the road) of the surface each pixel's centre ray hits (N, H, W; inf for the sky)."""

    rgb: torch.Tensor
    surface: torch.Tensor
    x: torch.Tensor


def truth_views(street: Scene, cameras: list[Camera]) -> Truth:
    out = render_many(street, cameras, supersample=2)
    surface = torch.isfinite(out["depth"])
    x = []
    for camera, distance in zip(cameras, out["distance"]):
        origins, directions = camera.rays()
        x.append(torch.where(torch.isfinite(distance), origins[..., 0] + distance * directions[..., 0], torch.full_like(distance, math.inf)))
    return Truth(out["rgb"], surface, torch.stack(x))


def surface_psnr(image: torch.Tensor, hit: torch.Tensor, truth_rgb: torch.Tensor, truth_surface: torch.Tensor) -> float:
    """PSNR (dB) of a render (3, H, W) against the photo (H, W, 3) on surface pixels the layout band samples (``hit``)."""
    surface = truth_surface & hit
    err = ((image.permute(1, 2, 0) - truth_rgb) ** 2)[surface].mean()
    return float(-10 * torch.log10(err))


def drive_scores(field: StreetField, drive: Drive, truth: Truth) -> tuple[list[float], list[float], list[float]]:
    """Surface PSNR of the first NEAR_VIEWS held-out views (all their surface pixels, then only those of the stretch
    driven past first, x < PASSED_X) and of the last FAR_VIEWS (``truth`` = truth_views of all the held-out views)."""
    near, passed, far = [], [], []
    for i, camera in enumerate(drive.eval_cameras):
        if NEAR_VIEWS <= i < len(drive.eval_cameras) - FAR_VIEWS:
            continue
        out = render_image(field, camera, drive.boxes, DRIVE_RENDER)
        if i < NEAR_VIEWS:
            near.append(surface_psnr(out.colour, out.hit, truth.rgb[i], truth.surface[i]))
            passed.append(surface_psnr(out.colour, out.hit, truth.rgb[i], truth.surface[i] & (truth.x[i] < PASSED_X)))
        else:
            far.append(surface_psnr(out.colour, out.hit, truth.rgb[i], truth.surface[i]))
    return near, passed, far


def surface_opacity(field: StreetField, drive: Drive, truth: Truth, views: range | None = None) -> float:
    """Mean opacity of ``field`` over the surface pixels (photo) the layout band samples, on held-out views ``views``
    (default: the near-start ones): 1 means no sky shows through a surface."""
    total, count = 0.0, 0
    for i in views if views is not None else range(NEAR_VIEWS):
        out = render_image(field, drive.eval_cameras[i], drive.boxes, DRIVE_RENDER)
        surface = truth.surface[i] & out.hit
        total, count = total + float(out.opacity[surface].sum()), count + int(surface.sum())
    return total / max(count, 1)


def cells_along_drive(drive: Drive, every: int = 4) -> list[tuple[float, int, int]]:
    """(distance driven, cells, parameters) as the scalable field grows along the drive, from the band samples of
    each training view reached (no training: where samples land decides which cells exist)."""
    from course_lib.text_to_3d.urban_architect.layout import layout_near_far

    field = cells_field(DRIVE_FIELD)
    rows = []
    for k in range(DRIVE_VIEWS):
        near, far, hit = layout_near_far(drive.origins[k], drive.directions[k], drive.boxes, DRIVE_RENDER.front, DRIVE_RENDER.back)
        hit = hit & (far - DRIVE_RENDER.back <= DRIVE_RENDER.sky_distance)
        for t in (near, far):
            field.background.grow((drive.origins[k] + t[:, None] * drive.directions[k])[hit])
        if k % every == 0 or k == DRIVE_VIEWS - 1:
            rows.append((k * DRIVE_STEP, field.background.num_cells(), field_parameters(field)))
    return rows


# ---------------------------------------------------------------- layout guidance and editing

@dataclass
class Guide:
    street: Scene
    boxes: LayoutBoxes
    cameras: list[Camera]
    eval_cameras: list[Camera]


def _jittered(rng: random.Random, xs: list[float]) -> list[Camera]:
    cams = []
    for x in xs:
        y, z, yaw = rng.uniform(-2.0, 2.0), rng.uniform(1.4, 2.0), math.radians(rng.uniform(-15, 15))
        target = (x + 10 * math.cos(yaw), y + 10 * math.sin(yaw), z - 1.2)
        cams.append(look_at_camera((x, y, z), target, FOV, IMAGE, IMAGE))
    return cams


def guide_setup(street_seed: int = GUIDE_STREET["seed"]) -> Guide:
    """The short street, 24 training cameras (x in [0, 10], +-15 deg yaw, lateral and height jitter, as the reference
    code jitters) and 8 held-out cameras drawn the same way with another seed."""
    street = street_scene(street_seed, length=GUIDE_STREET["length"])
    rng = random.Random(street_seed)
    train = _jittered(rng, [10 * k / 23 for k in range(24)])
    held = _jittered(random.Random(street_seed + 1000), [0.6 + 1.25 * k for k in range(8)])
    return Guide(street, layout_boxes(street), train, held)


def initialise(guide: Guide, steps: int, rays: int, seed: int, progress=None) -> tuple[StreetField, list[float]]:
    """A field fitted to the layout's palette images of the training cameras (density only where the band samples)."""
    torch.manual_seed(seed)
    field = cells_field(GUIDE_FIELD)
    layout = render_layout(guide.boxes, guide.cameras, GUIDE_RENDER.sky_distance)
    origins, directions = camera_rays(guide.cameras)
    targets = ((layout.palette + 1) / 2).permute(0, 2, 3, 1).reshape(len(guide.cameras), -1, 3)
    history: list[float] = []
    fit_views(field, origins, directions, targets, guide.boxes, GUIDE_RENDER, steps, rays, 1e-2, seed, history=history, progress=progress)
    return field, history


def miou(labels: torch.Tensor, truth: torch.Tensor, classes: int = len(LAYOUT_CLASSES)) -> float:
    """Mean intersection-over-union over the classes present in ``truth`` or ``labels``."""
    ious = []
    for c in range(classes):
        a, b = labels == c, truth == c
        union = (a | b).sum()
        if union > 0:
            ious.append(float((a & b).sum()) / float(union))
    return sum(ious) / len(ious)


def adherence(images: torch.Tensor, layout_semantic: torch.Tensor, segmenter) -> list[float]:
    """Per image mIoU of the segmenter's labels on ``images`` (N, 3, H, W) in [0, 1] against the layout's semantics."""
    with torch.no_grad():
        labels = segmenter(images * 2 - 1).argmax(1)
    return [miou(labels[i], layout_semantic[i]) for i in range(images.shape[0])]


def depth_errors(field: StreetField, cameras: list[Camera], boxes: LayoutBoxes, render: RenderSettings, layout) -> list[float]:
    """Depth agreement with the layout, per view: the mean |D - t_layout| (world units) between the field's depth
    (expected depth over the opacity, along the ray) and where the ray meets the layout (``layout`` =
    :func:`~course_lib.text_to_3d.urban_architect.layout.render_layout` of ``cameras``), over the pixels where the layout
    has a surface. The sampling band bounds it (at most ``render.front`` in front, ``render.back`` behind)."""
    errors = []
    for i, camera in enumerate(cameras):
        out = render_image(field, camera, boxes, render)
        surface = (layout.semantic[i] > 0) & out.hit
        errors.append(float((out.depth - layout.distance[i])[surface].abs().mean()))
    return errors


def render_views(field: StreetField, cameras: list[Camera], boxes: LayoutBoxes, render: RenderSettings):
    outs = [render_image(field, c, boxes, render) for c in cameras]
    return torch.stack([o.colour for o in outs]), torch.stack([o.opacity for o in outs]), torch.stack([o.hit for o in outs])


def edit_setup(guide: Guide) -> tuple[int, FieldBox]:
    """The car to edit (the first car of the short street): its instance id and its box (the union of its parts, 5 % larger)."""
    parts = [p for p in guide.street.primitives if p.cls == "car"]
    instance = parts[0].instance
    parts = [p for p in parts if p.instance == instance]
    lo = torch.stack([torch.tensor(p.center) - torch.tensor(p.half_size) for p in parts]).amin(0)
    hi = torch.stack([torch.tensor(p.center) + torch.tensor(p.half_size) for p in parts]).amax(0)
    return instance, FieldBox(tuple(((lo + hi) / 2).tolist()), parts[0].yaw, tuple(((hi - lo) / 2 * 1.05).tolist()))


def edit_street_field(box: FieldBox) -> StreetField:
    """The editing street's field, fresh: background cells + the car's box-local field, which owns its box."""
    field = cells_field(GUIDE_FIELD)
    field.objects["car"] = ObjectField(box, levels=6, features=2, log2_table=10, min_res=2, max_res=32, hidden=32)
    field.carve_objects = True
    return field


def edit_field(guide: Guide, steps: int, rays: int, seed: int) -> StreetField:
    """The short street fitted on its photos from the training cameras, the car of :func:`edit_setup` in its own field."""
    torch.manual_seed(seed)
    _, box = edit_setup(guide)
    field = edit_street_field(box)
    origins, directions = camera_rays(guide.cameras)
    fit_views(field, origins, directions, photos(guide.street, guide.cameras), guide.boxes, GUIDE_RENDER, steps, rays, 1e-2, seed)
    return field


# ---------------------------------------------------------------- the shipped runs

def _half(field: StreetField) -> dict[str, torch.Tensor]:
    """The field's trainable parameters in float16 (its buffers, the grids' bounds, are rebuilt from the code)."""
    return {k: v.detach().to(torch.float16).contiguous() for k, v in field.named_parameters()}


def load_field(tensors: dict[str, torch.Tensor], prefix: str, fresh: StreetField) -> StreetField:
    """Rebuild a shipped field into ``fresh`` (a field of the same kind): cells named in the state are created first."""
    state = {k[len(prefix):]: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k.startswith(prefix)}
    if not state:
        raise KeyError(f"no field under {prefix!r} in the runs; their prefixes are {sorted({k.split('/')[0] for k in tensors})}")
    keys = sorted({int(k.split(".")[2]) for k in state if k.startswith("background.cells.")})
    for key in keys:
        size = fresh.background.cell_size
        fresh.background.grow(torch.tensor([[key * size + size / 2, 0.0, 0.0]]))
    state = {**{k: v for k, v in fresh.state_dict().items() if k.endswith("bounds")},
             **{k: v for k, v in state.items() if not k.endswith("bounds")}}  # the boxes come from the code, not the file
    fresh.load_state_dict(state)
    return fresh.requires_grad_(False)


def build_runs(out_path, *, seed: int, quick: bool = False) -> dict:
    """Asset ``ch07_runs``: the drive regime's fields (3 kinds x 2 seeds), the initialised short street and its
    distillations (every variant of :data:`VARIANTS` x 2 seeds), and the editing fit. Stored in float16."""
    from course_lib import assets
    from course_lib.config import CHAPTER_07
    from course_lib.priors import load_prior
    from course_lib.text_to_3d.urban_architect.distill import DistillSettings, distill, variant

    torch.set_num_threads(1)
    v = {k: s.reduced for k, s in CHAPTER_07.items()}
    seeds = v["seeds"][:1] if quick else v["seeds"]
    drive_steps, drive_rays = (30, 256) if quick else (v["drive_steps"], v["drive_rays"])
    init_steps, distill_steps = (20, 5) if quick else (v["init_steps"], v["distill_steps"])
    tensors: dict[str, torch.Tensor] = {}
    metrics: dict = {}
    start = time.perf_counter()
    drive = drive_setup()
    for kind in (DRIVE_KINDS[:2] if quick else DRIVE_KINDS):
        for s in seeds:
            field, history = run_drive(drive, kind, s, drive_steps, drive_rays)
            tensors.update({f"drive/{kind}/{s}/{k}": t for k, t in _half(field).items()})
            metrics[f"drive_{kind}_{s}_loss_end"] = round(sum(history[-20:]) / 20, 5)
            if kind == "cells" and s == seeds[0]:  # the recipe's reported training curve: the first drive
                metrics.update(loss_start=round(sum(history[:20]) / 20, 5), loss_end=round(sum(history[-20:]) / 20, 5))
            metrics[f"drive_{kind}_parameters"] = field_parameters(field)
            print(f"drive {kind} seed {s}: {time.perf_counter() - start:.0f} s", flush=True)
    guide = guide_setup()
    prior = load_prior("prior_layout")
    base = DistillSettings(scale=v["guidance_scale"], t_range=tuple(v["t_range"]), steps=distill_steps, lr=v["lr"], rank=v["lora_rank"])
    for s in seeds:
        init, history = initialise(guide, init_steps, 1024, s)
        tensors.update({f"init/{s}/{k}": t for k, t in _half(init).items()})
        metrics[f"init_{s}_loss_end"] = round(sum(history[-20:]) / 20, 5)
        init = load_field(tensors, f"init/{s}/", cells_field(GUIDE_FIELD))  # distil from the stored (float16) start
        for name, (_, changes) in (list(VARIANTS.items())[:2] if quick else VARIANTS.items()):
            out = distill(init, guide.cameras, guide.boxes, PROMPT, prior, variant(base, **changes), GUIDE_RENDER, s)
            tensors.update({f"{name}/{s}/{k}": t for k, t in _half(out).items()})
            print(f"{name} seed {s}: {time.perf_counter() - start:.0f} s", flush=True)
    edit = edit_field(guide, 40 if quick else v["edit_steps"], 1024, seed)
    tensors.update({f"edit/{k}": t for k, t in _half(edit).items()})
    metrics.update(seconds=round(time.perf_counter() - start, 1), seeds=len(seeds), drive_steps=drive_steps, distill_steps=distill_steps)
    assets.save_safetensors(tensors, out_path)
    return metrics


# ---------------------------------------------------------------- verdicts

@dataclass(frozen=True)
class Verdict:
    """A paired comparison "method beats baseline" over (seed, view) pairs, with its 95 % t-interval (chapter 07)."""

    name: str
    method_mean: float
    baseline_mean: float
    gain: float
    low: float
    high: float
    seed_gains: tuple[float, ...]
    pairs: int
    verdict: str

    @property
    def holds(self) -> bool:
        from course_lib.claims import REPRODUCES

        return self.verdict == REPRODUCES

    def line(self, digits: int = 2) -> str:
        seeds = ", ".join(f"{g:+.{digits}f}" for g in self.seed_gains)
        return (f"{self.name}: {self.baseline_mean:.{digits}f} -> {self.method_mean:.{digits}f}; gain {self.gain:+.{digits}f}, 95% CI "
                f"[{self.low:+.{digits}f}, {self.high:+.{digits}f}] over {self.pairs} (seed, view) pairs; per seed {seeds} -> {self.verdict}")


def paired_verdict(name: str, method: dict[int, list[float]], baseline: dict[int, list[float]]) -> Verdict:
    """``method`` / ``baseline``: per seed, one score per held-out view (same views, same order). The claim reproduces
    when the interval of the mean paired gain lies above 0 and every seed's mean gain is positive; it fails when the
    interval lies below 0; otherwise a tie."""
    from course_lib.claims import REPRODUCES, TIE, paired_interval, verdict_greater

    if sorted(method) != sorted(baseline) or any(len(method[s]) != len(baseline[s]) for s in method):
        raise ValueError("method and baseline need the same seeds and the same views")
    diffs = [m - b for s in sorted(method) for m, b in zip(method[s], baseline[s])]
    seed_gains = tuple(sum(m - b for m, b in zip(method[s], baseline[s])) / len(method[s]) for s in sorted(method))
    gain, low, high = paired_interval(diffs)
    verdict = verdict_greater(low, high)
    if verdict == REPRODUCES and min(seed_gains) <= 0:
        verdict = TIE
    mean = lambda scores: sum(sum(v) for v in scores.values()) / sum(len(v) for v in scores.values())  # noqa: E731
    return Verdict(name, mean(method), mean(baseline), gain, low, high, seed_gains, len(diffs), verdict)


# asserted in the notebook: the claims that reproduced on the validation streets (validate(), its output in the module docstring)
ASSERTED_CLAIMS = ("layout adherence (mIoU), VSD without layout -> LG-VSD",
                   "surface PSNR near the start, the stretch driven past first, equal-parameter grid -> cells")
VALIDATION_STREETS = {"drive": 12, "guide": 22}  # street seeds no recipe choice and no claim selection looked at besides validate()


# ---------------------------------------------------------------- the hash encoding's claim

@dataclass(frozen=True)
class LevelAgreement:
    """One level of a hash encoding compared with the dense grid: its table size, resolution, vertex count, how many
    vertices share an entry with another (from the encoding's own indices), and whether it equals the dense grid bitwise."""

    table_size: int
    resolution: int
    vertices: int
    collisions: int
    exact: bool

    @property
    def fits(self) -> bool:
        return self.vertices <= self.table_size


def hash_vs_dense(level_corners, dense, points01: torch.Tensor, table_size: int) -> list[LevelAgreement]:
    """Encode ``points01`` level by level with ``level_corners`` (a learner's or course_lib's) reading the rows of the
    :class:`~course_lib.fields.DenseGrid` ``dense`` (a hashed index past the dense table is clamped, so it cannot match),
    and count each level's collisions over all its vertices."""
    from course_lib.fields import interpolate

    reference = dense(points01 * (dense.bounds[1] - dense.bounds[0]) + dense.bounds[0])
    rows = []
    for level, resolution in enumerate(dense.resolutions):
        vertices = (resolution + 1) ** 3
        idx, w = level_corners(points01, resolution, table_size)
        mine = interpolate(dense.tables[level], idx.clamp(max=vertices - 1), w)
        axis = torch.arange(resolution + 1) / resolution
        grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
        corner_idx, corner_w = level_corners(grid, resolution, table_size)
        own = corner_idx.gather(1, corner_w.argmax(1, keepdim=True)).squeeze(1)  # a vertex's own entry (its weight is 1)
        f = dense.features
        rows.append(LevelAgreement(table_size, resolution, vertices, vertices - torch.unique(own).numel(),
                                   torch.equal(mine, reference[:, f * level : f * (level + 1)])))
    return rows


def hash_claim_holds(rows: list[LevelAgreement]) -> bool:
    """The claim: every level whose vertices fit equals the dense grid with no collision, and every level that does not
    fit collides (and at least one level of each kind was tested)."""
    fits = [r for r in rows if r.fits]
    over = [r for r in rows if not r.fits]
    return bool(fits) and bool(over) and all(r.exact and r.collisions == 0 for r in fits) and all(r.collisions > 0 for r in over)


def parameters_grow(parameters: list[int]) -> bool:
    """The claim: parameters never shrink along the drive and end above where they started."""
    return all(b >= a for a, b in zip(parameters, parameters[1:])) and parameters[-1] > parameters[0]


def drive_comparisons(drive_psnr: dict, seeds) -> list[Verdict]:
    """The six drive-regime verdicts from {(kind, seed): (near, passed, far scores)} (:func:`drive_scores`): cells
    against each fixed grid, near the start (all surface pixels, then the stretch driven past first) and far down the road."""
    out = []
    for baseline, label in (("equal_params", "equal-parameter"), ("same_resolution", "same-resolution")):
        for where, part in (("near the start", 0), ("near the start, the stretch driven past first", 1), ("far down the road", 2)):
            out.append(paired_verdict(f"surface PSNR {where}, {label} grid -> cells",
                                      {s: drive_psnr["cells", s][part] for s in seeds}, {s: drive_psnr[baseline, s][part] for s in seeds}))
    return out


def guide_comparisons(scores: dict, seeds) -> list[Verdict]:
    """The layout-guidance verdicts from {(variant, seed): per-view mIoU} (variants missing from ``scores`` are skipped)."""
    pairs = [
        ("layout adherence (mIoU), VSD without layout -> LG-VSD", "lg_vsd", "vsd"),
        ("layout adherence (mIoU), SDS without layout -> SDS with layout", "lg_sds", "sds"),
        ("layout adherence (mIoU), SDS with layout -> LG-VSD", "lg_vsd", "lg_sds"),
        ("layout adherence (mIoU), paper's CFG 7.5 / t to 0.98: VSD without layout -> LG-VSD", "lg_vsd_paper", "vsd_paper"),
        ("layout adherence (mIoU), LG-VSD at the paper's CFG 7.5 / t to 0.98 -> at CFG 3 / t to 0.6", "lg_vsd", "lg_vsd_paper"),
        ("layout adherence (mIoU), LG-VSD -> the palette-initialised start (distillation repaints the palette)", "init", "lg_vsd"),
    ]
    have = {name for name, _ in scores}
    return [paired_verdict(name, {s: scores[a, s] for s in seeds}, {s: scores[b, s] for s in seeds})
            for name, a, b in pairs if a in have and b in have]


def validate(seeds=(0, 1)) -> list[Verdict]:
    """The chapter's comparisons on the validation streets, with the chapter's recipes and course_lib's functions:
    which claims reproduce there decides :data:`ASSERTED_CLAIMS`. About 10 CPU-minutes."""
    from course_lib.config import CHAPTER_07
    from course_lib.priors import load_prior, load_segmenter
    from course_lib.text_to_3d.urban_architect.distill import DistillSettings, distill, variant

    torch.set_num_threads(1)
    v = {k: s.reduced for k, s in CHAPTER_07.items()}
    start = time.perf_counter()
    drive = drive_setup(VALIDATION_STREETS["drive"])
    truth = truth_views(drive.street, drive.eval_cameras)
    drive_psnr = {}
    for kind in DRIVE_KINDS:
        for s in seeds:
            field, _ = run_drive(drive, kind, s, v["drive_steps"], v["drive_rays"])
            drive_psnr[kind, s] = drive_scores(field, drive, truth)
        print(f"drive {kind}: {time.perf_counter() - start:.0f} s", flush=True)
    guide = guide_setup(VALIDATION_STREETS["guide"])
    prior, segmenter = load_prior("prior_layout"), load_segmenter()
    layout = render_layout(guide.boxes, guide.eval_cameras, GUIDE_RENDER.sky_distance)
    base = DistillSettings(scale=v["guidance_scale"], t_range=tuple(v["t_range"]), steps=v["distill_steps"], lr=v["lr"], rank=v["lora_rank"])
    scores = {}
    for s in seeds:
        init, _ = initialise(guide, v["init_steps"], 1024, s)
        scores["init", s] = adherence(render_views(init, guide.eval_cameras, guide.boxes, GUIDE_RENDER)[0], layout.semantic, segmenter)
        for name in ("lg_vsd", "vsd", "lg_sds", "sds"):
            out = distill(init, guide.cameras, guide.boxes, PROMPT, prior, variant(base, **VARIANTS[name][1]), GUIDE_RENDER, s)
            scores[name, s] = adherence(render_views(out, guide.eval_cameras, guide.boxes, GUIDE_RENDER)[0], layout.semantic, segmenter)
        print(f"guidance seed {s}: {time.perf_counter() - start:.0f} s", flush=True)
    verdicts = drive_comparisons(drive_psnr, seeds) + guide_comparisons(scores, seeds)
    print(f"torch {torch.__version__}, 1 thread; validation streets {VALIDATION_STREETS}, seeds {tuple(seeds)}")
    for verdict in verdicts:
        print(verdict.line(3))
    return verdicts


if __name__ == "__main__":
    validate()
