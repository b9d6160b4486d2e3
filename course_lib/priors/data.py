"""Training data of the tiny priors, rendered from the procedural worlds (chapters 05-07).

Every image comes from :mod:`course_lib.scenes` with its exact depth and semantics, so the
priors' quality can be measured against the true scene. Three kinds of data:

- perspective views of a forward-facing scene built from a class prompt (text-to-image,
  inpainting, depth; chapter 06),
- equirectangular panoramas of a ring of objects around the viewer (chapter 05),
- street views with their semantic + depth layout (chapter 07).

The prompt classes are few on purpose (a tiny net must learn them in minutes on a CPU):
two object kinds in three colours. The same classes are the labels of the judge classifier.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from course_lib.config import PRIORS
from course_lib.geometry import drive_cameras, look_at_camera
from course_lib.scenes import CLASSES, PALETTE, GroundPlane, Scene, make_object, render_many, render_panorama
from course_lib.scenes import scene_from_prompt, street_scene
from course_lib.scenes.vocabulary import COLORS

KINDS: tuple[str, ...] = ("house", "car")
CLASS_COLORS: tuple[str, ...] = ("red", "blue", "yellow")
# (kind, colour) of every prompt class, in label order.
PROMPT_CLASSES: tuple[tuple[str, str], ...] = tuple((kind, color) for kind in KINDS for color in CLASS_COLORS)
PLURAL = {"house": "houses", "car": "cars"}

IMAGE_SIZE = PRIORS["image_size"].reduced  # perspective views and street views are IMAGE_SIZE x IMAGE_SIZE
PANORAMA_SIZE = PRIORS["panorama_size"].reduced  # equirectangular (H, W)
FOV_DEG = 50.0
PANORAMA_CENTER = (0.0, 0.0, 1.0)
EYE, TARGET = (0.0, 0.0, 1.6), (0.0, 6.0, 0.9)
MAX_DEPTH = 30.0  # sky pixels get this depth in the depth targets
# The street classes that make up a layout (Urban Architect's semantic primitives); others map to "ground".
LAYOUT_CLASSES: tuple[str, ...] = ("sky", "ground", "road", "sidewalk", "building", "tree", "car")
# Flat display colour of each layout class (the scenes' palette): the colours of a layout's "palette image".
LAYOUT_PALETTE = torch.stack([PALETTE[CLASSES.index(name)] for name in LAYOUT_CLASSES])
CLASSES_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}


def perspective_prompt(label: int) -> str:
    """The text prompt of perspective class ``label``: ``"two red houses in a park"`` (chapter 06)."""
    kind, color = PROMPT_CLASSES[_check_label(label)]
    return f"two {color} {PLURAL[kind]} in a park"


def panorama_prompt(label: int) -> str:
    """The text prompt of panorama class ``label``: ``"four red houses in a field"`` (chapter 05)."""
    kind, color = PROMPT_CLASSES[_check_label(label)]
    return f"four {color} {PLURAL[kind]} in a field"


def _check_label(label: int) -> int:
    if not 0 <= int(label) < len(PROMPT_CLASSES):
        raise ValueError(f"class label {label} is out of range; the prompt classes are 0..{len(PROMPT_CLASSES) - 1}: {PROMPT_CLASSES}")
    return int(label)


@dataclass
class ImageSet:
    """A rendered dataset (chapters 05-07): ``rgb`` (N, 3, H, W) in [-1, 1], ``depth`` (N, H, W) (sky = MAX_DEPTH),
    ``sky`` (N, H, W) bool, ``semantic`` (N, H, W) long, ``labels`` (N,) long (-1 when unlabelled), ``prompts``."""

    rgb: torch.Tensor
    depth: torch.Tensor
    sky: torch.Tensor
    semantic: torch.Tensor
    labels: torch.Tensor
    prompts: list[str]


def _pack(renders: list[dict[str, torch.Tensor]], labels: list[int], prompts: list[str], depth_key: str) -> ImageSet:
    rgb = torch.stack([r["rgb"] for r in renders]).permute(0, 3, 1, 2) * 2 - 1  # (N, 3, H, W)
    depth = torch.stack([r[depth_key] for r in renders])
    sky = ~torch.isfinite(depth)
    return ImageSet(rgb.contiguous(), depth.clamp(max=MAX_DEPTH).nan_to_num(MAX_DEPTH, MAX_DEPTH), sky,
                    torch.stack([r["semantic"] for r in renders]), torch.tensor(labels), prompts)


def perspective_set(count: int, seed: int) -> ImageSet:
    """``count`` views of class-prompt scenes, labels cycling over the classes (chapter 06). Seeds ``seed*100000 + k``."""
    renders, labels, prompts = [], [], []
    camera = look_at_camera(EYE, TARGET, FOV_DEG, IMAGE_SIZE, IMAGE_SIZE)
    for k in range(count):
        label = k % len(PROMPT_CLASSES)
        prompt = perspective_prompt(label)
        renders.append(render_many(scene_from_prompt(prompt, seed=seed * 100000 + k), [camera]))
        labels.append(label)
        prompts.append(prompt)
    renders = [{key: v[0] for key, v in r.items()} for r in renders]
    return _pack(renders, labels, prompts, "depth")


def ring_scene(label: int, seed: int, count: int = 4) -> Scene:
    """``count`` objects of class ``label`` on a ring 2.5-4 units around the origin, on grass (chapter 05's panoramas)."""
    kind, color = PROMPT_CLASSES[_check_label(label)]
    rng = random.Random(seed)
    prims = [GroundPlane("ground", 1, tuple(c for c in COLORS["green"]), "grass")]
    start = rng.uniform(0, 2 * math.pi)
    for k in range(count):
        angle = start + 2 * math.pi * (k + rng.uniform(-0.25, 0.25)) / count
        r = rng.uniform(2.5, 4.0)
        prims += make_object(kind, color, r * math.cos(angle), r * math.sin(angle), angle, 2 + k, rng)
    return Scene(prims, prompt=panorama_prompt(label), seed=seed)


def panorama_set(count: int, seed: int) -> ImageSet:
    """``count`` equirectangular panoramas (32 x 64) of ring scenes, labels cycling over the classes (chapter 05).

    ``depth`` holds the distance along each pixel's ray (panoramas have no camera z)."""
    renders, labels, prompts = [], [], []
    for k in range(count):
        label = k % len(PROMPT_CLASSES)
        scene = ring_scene(label, seed * 100000 + k)
        renders.append(render_panorama(scene, PANORAMA_CENTER, *PANORAMA_SIZE))
        labels.append(label)
        prompts.append(scene.prompt)
    return _pack(renders, labels, prompts, "distance")


def ring_views(count: int, seed: int, fov_deg: float = 80.0) -> ImageSet:
    """``count`` 32 x 32 pinhole views with FoV ``fov_deg`` from the panorama centre of ring scenes, in random
    directions (the tangent images of chapter 05's depth step), labels cycling over the classes."""
    rng = random.Random(seed)
    renders, labels, prompts = [], [], []
    for k in range(count):
        label = k % len(PROMPT_CLASSES)
        scene = ring_scene(label, seed * 100000 + k)
        yaw, pitch = rng.uniform(0, 2 * math.pi), rng.uniform(-0.5, 0.3)
        target = (math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), PANORAMA_CENTER[2] + math.sin(pitch))
        out = render_many(scene, [look_at_camera(PANORAMA_CENTER, target, fov_deg, IMAGE_SIZE, IMAGE_SIZE)])
        renders.append({key: v[0] for key, v in out.items()})
        labels.append(label)
        prompts.append(scene.prompt)
    return _pack(renders, labels, prompts, "depth")


def street_set(count: int, seed: int, views_per_street: int = 8) -> ImageSet:
    """``count`` street views (32 x 32) looking along procedural streets, with their layout (chapter 07).

    ``semantic`` is remapped to :data:`LAYOUT_CLASSES` indices."""
    renders: list[dict[str, torch.Tensor]] = []
    rng = random.Random(seed)
    street = 0
    while len(renders) < count:
        scene = street_scene(seed * 100000 + street, length=40.0)
        starts = [(rng.uniform(0.0, 20.0), rng.uniform(-2.0, 2.0), rng.uniform(1.4, 2.0)) for _ in range(views_per_street)]
        for x, y, z in starts:
            cam = drive_cameras((x, y, z), (1.0, rng.uniform(-0.25, 0.25), 0.0), 1.0, 1, FOV_DEG + 10, IMAGE_SIZE, IMAGE_SIZE, pitch_drop=1.2)
            out = render_many(scene, cam)
            renders.append({key: v[0] for key, v in out.items()})
        street += 1
    renders = renders[:count]
    out = _pack(renders, [-1] * count, ["a street with cars and trees along buildings"] * count, "depth")
    out.semantic = layout_labels(out.semantic)
    return out


def layout_labels(semantic: torch.Tensor) -> torch.Tensor:
    """Scene class ids (:data:`course_lib.scenes.CLASSES`) -> :data:`LAYOUT_CLASSES` ids; roofs count as building (chapter 07)."""
    lookup = torch.full((len(CLASSES),), LAYOUT_CLASSES.index("ground"), dtype=torch.long)
    for i, name in enumerate(CLASSES):
        if name in LAYOUT_CLASSES:
            lookup[i] = LAYOUT_CLASSES.index(name)
    lookup[CLASSES.index("roof")] = LAYOUT_CLASSES.index("building")
    return lookup[semantic]


def layout_condition(semantic: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """The layout-prior condition (chapter 07): one-hot semantics (N, C, H, W) and depth/MAX_DEPTH mapped to [-1, 1], (N, C+1, H, W).

    Stands in for ControlNet's semantic + depth control images, fed by input concatenation.
    """
    if semantic.ndim != 3 or depth.shape != semantic.shape:
        raise ValueError(f"semantic and depth must both be (N, H, W), got {tuple(semantic.shape)} and {tuple(depth.shape)}")
    one_hot = torch.nn.functional.one_hot(semantic.long(), len(LAYOUT_CLASSES)).permute(0, 3, 1, 2).float()
    return torch.cat([one_hot * 2 - 1, (depth.clamp(0, MAX_DEPTH) / MAX_DEPTH * 2 - 1)[:, None]], dim=1)
