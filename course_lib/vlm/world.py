"""A procedural image-question world for chapter 04 (BRAVE, arXiv 2404.07204).

A 32x32 image is a 2x2 grid of 16x16 cells; one to three cells hold an object with a shape,
a colour and a little jitter in size and place. Within an image shapes are distinct and
colours are distinct, so every question below has one answer. The world stands in for WebLI
captions and VQAv2/MMVP questions: its exact ground truth lets the chapter see *which*
attribute an encoder is blind to.

Question types (``QUESTION_TYPES``): ``shape`` ("what shape is at the top left ?"), ``colour``
("what colour is at the top left ?"), ``position`` ("where is the red object ?" or "where is
the square ?"), ``count`` ("how many objects are there ?") and ``compositional`` ("is the red
object a square ?", yes/no). :func:`make_pairs` builds MMVP-style pairs: two images that differ
in exactly one attribute of one object, asked the one question whose answer changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SHAPES = ("square", "circle", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow")
RGB = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0)}
CELLS = ("top_left", "top_right", "bottom_left", "bottom_right")
COUNTS = ("one", "two", "three")
QUESTION_TYPES = ("shape", "colour", "position", "count", "compositional")
IMAGE_SIZE = 32
CELL_SIZE = 16

SPECIALS = ("<pad>", "<bos>", "<eos>", "<sep>", "<ans>")
WORDS = (
    "what", "shape", "colour", "is", "at", "the", "where", "object", "how", "many", "objects", "are", "there",
    "a", "an", "and", "?", ".", "yes", "no",
)
VOCAB = SPECIALS + WORDS + SHAPES + COLOURS + CELLS + COUNTS
PAD, BOS, EOS, SEP, ANS = range(5)


def encode(text: str) -> list[int]:
    """Word-level token ids of ``text`` (chapter 04's tiny vocabulary)."""
    ids = []
    for word in text.split():
        if word not in _INDEX:
            raise ValueError(f"{word!r} is not a word of the chapter-04 world; its vocabulary is course_lib.vlm.world.VOCAB")
        ids.append(_INDEX[word])
    return ids


def decode(ids: list[int]) -> str:
    """Words of token ids, stopping at ``<eos>`` and skipping ``<pad>``."""
    words = []
    for i in ids:
        if i == EOS:
            break
        if i != PAD:
            words.append(VOCAB[i])
    return " ".join(words)


_INDEX = {word: i for i, word in enumerate(VOCAB)}


@dataclass(frozen=True)
class Obj:
    """One object: its cell (0..3, row-major), shape and colour indices, radius and offset in pixels."""

    cell: int
    shape: int
    colour: int
    radius: float
    dx: float
    dy: float


@dataclass(frozen=True)
class Scene:
    """The objects of one image (distinct cells, shapes and colours)."""

    objects: tuple[Obj, ...]

    def at(self, cell: int) -> Obj | None:
        return next((o for o in self.objects if o.cell == cell), None)


def _shape_mask(shape: int, radius: float, cx: float, cy: float) -> torch.Tensor:
    """(32, 32) boolean mask of one shape centred at (cx, cy)."""
    ys, xs = torch.meshgrid(torch.arange(IMAGE_SIZE) + 0.5, torch.arange(IMAGE_SIZE) + 0.5, indexing="ij")
    u, v = xs - cx, ys - cy
    if SHAPES[shape] == "square":
        return (u.abs() <= radius * 0.85) & (v.abs() <= radius * 0.85)
    if SHAPES[shape] == "circle":
        return u * u + v * v <= radius * radius
    if SHAPES[shape] == "triangle":  # apex up
        return (v <= radius * 0.8) & (v >= -radius) & (u.abs() <= (v + radius) * 0.6)
    arm = radius * 0.35  # cross
    return ((u.abs() <= arm) & (v.abs() <= radius)) | ((v.abs() <= arm) & (u.abs() <= radius))


def render(scene: Scene, noise: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """The RGB image of ``scene``, (3, 32, 32) in [0, 1] on a black background, with pixel noise."""
    image = torch.zeros(3, IMAGE_SIZE, IMAGE_SIZE)
    for o in scene.objects:
        row, col = divmod(o.cell, 2)
        cx, cy = col * CELL_SIZE + CELL_SIZE / 2 + o.dx, row * CELL_SIZE + CELL_SIZE / 2 + o.dy
        mask = _shape_mask(o.shape, o.radius, cx, cy)
        image[:, mask] = torch.tensor(RGB[COLOURS[o.colour]])[:, None]
    if noise > 0:
        image = image + noise * torch.randn(image.shape, generator=generator)
    return image.clamp(0, 1)


def random_scene(generator: torch.Generator, num_objects: int | None = None) -> Scene:
    """A scene of 1-3 objects in distinct cells, with distinct shapes and distinct colours."""
    n = num_objects or int(torch.randint(1, 4, (1,), generator=generator))
    if not 1 <= n <= 3:
        raise ValueError(f"num_objects={n}: a scene holds 1 to 3 objects")
    cells = torch.randperm(4, generator=generator)[:n].tolist()
    shapes = torch.randperm(len(SHAPES), generator=generator)[:n].tolist()
    colours = torch.randperm(len(COLOURS), generator=generator)[:n].tolist()
    jitter = torch.rand(n, 3, generator=generator)
    objects = tuple(
        Obj(c, s, k, radius=4.5 + 1.5 * float(j[0]), dx=float(j[1] - 0.5) * 3, dy=float(j[2] - 0.5) * 3)
        for c, s, k, j in zip(cells, shapes, colours, jitter)
    )
    return Scene(tuple(sorted(objects, key=lambda o: o.cell)))


def caption(scene: Scene) -> str:
    """'a red square at the top_left . a blue circle at the bottom_right .'"""
    return " ".join(f"a {COLOURS[o.colour]} {SHAPES[o.shape]} at the {CELLS[o.cell]} ." for o in scene.objects)


def ask(scene: Scene, kind: str, generator: torch.Generator) -> tuple[str, str]:
    """A random question of type ``kind`` about ``scene`` and its one-word answer."""
    objects = scene.objects
    pick = objects[int(torch.randint(len(objects), (1,), generator=generator))]
    if kind == "shape":
        return f"what shape is at the {CELLS[pick.cell]} ?", SHAPES[pick.shape]
    if kind == "colour":
        return f"what colour is at the {CELLS[pick.cell]} ?", COLOURS[pick.colour]
    if kind == "position":
        if torch.rand(1, generator=generator) < 0.5:
            return f"where is the {COLOURS[pick.colour]} object ?", CELLS[pick.cell]
        return f"where is the {SHAPES[pick.shape]} ?", CELLS[pick.cell]
    if kind == "count":
        return "how many objects are there ?", COUNTS[len(objects) - 1]
    if kind == "compositional":
        if torch.rand(1, generator=generator) < 0.5:
            shape = pick.shape
        else:
            shape = int(torch.randint(len(SHAPES) - 1, (1,), generator=generator))
            shape = shape + (shape >= pick.shape)  # any other shape
        answer = "yes" if shape == pick.shape else "no"
        return f"is the {COLOURS[pick.colour]} object a {SHAPES[shape]} ?", answer
    raise ValueError(f"unknown question type {kind!r}; choose one of {QUESTION_TYPES}")


@dataclass
class VQASet:
    """Images with one question per (image, type): ``images`` (N, 3, 32, 32), ``image_index``,
    ``kinds``, ``questions``, ``answers`` and ``captions`` (one per image)."""

    images: torch.Tensor
    scenes: list[Scene]
    captions: list[str]
    image_index: list[int]
    kinds: list[str]
    questions: list[str]
    answers: list[str]


def make_vqa(num_images: int, seed: int, kinds: tuple[str, ...] = QUESTION_TYPES) -> VQASet:
    """``num_images`` random scenes, each asked one question of every type in ``kinds``."""
    g = torch.Generator().manual_seed(seed)
    scenes = [random_scene(g) for _ in range(num_images)]
    images = torch.stack([render(s, generator=g) for s in scenes])
    index, kinds_out, questions, answers = [], [], [], []
    for i, scene in enumerate(scenes):
        for kind in kinds:
            q, a = ask(scene, kind, g)
            index.append(i), kinds_out.append(kind), questions.append(q), answers.append(a)
    return VQASet(images, scenes, [caption(s) for s in scenes], index, kinds_out, questions, answers)


@dataclass
class PairSet:
    """MMVP-style pairs: ``images`` (2P, 3, 32, 32), pair ``p`` is rows 2p and 2p+1; one question
    per pair (``questions[p]``), its answers for the two images (``answers[2p]``, ``answers[2p+1]``),
    and ``changed[p]`` = the attribute that differs ('shape' or 'colour')."""

    images: torch.Tensor
    questions: list[str]
    answers: list[str]
    changed: list[str]


def make_pairs(num_pairs: int, seed: int) -> PairSet:
    """Pairs of images differing in exactly one attribute (shape or colour) of one object.

    The question is about that object (its shape, its colour, or whether it has a given shape),
    so the two images have different answers, like MMVP's CLIP-blind pairs.
    """
    g = torch.Generator().manual_seed(seed)
    images, questions, answers, changed = [], [], [], []
    for p in range(num_pairs):
        scene = random_scene(g)
        target = scene.objects[int(torch.randint(len(scene.objects), (1,), generator=g))]
        attribute = "shape" if p % 2 == 0 else "colour"
        used = {getattr(o, attribute) for o in scene.objects}
        free = [v for v in range(4) if v not in used]
        new_value = free[int(torch.randint(len(free), (1,), generator=g))]
        other = Scene(tuple(Obj(**{**o.__dict__, attribute: new_value}) if o is target else o for o in scene.objects))
        cell = CELLS[target.cell]
        if attribute == "colour":
            q, a1, a2 = f"what colour is at the {cell} ?", COLOURS[target.colour], COLOURS[new_value]
        elif torch.rand(1, generator=g) < 0.5:
            q, a1, a2 = f"what shape is at the {cell} ?", SHAPES[target.shape], SHAPES[new_value]
        else:
            q = f"is the {COLOURS[target.colour]} object a {SHAPES[target.shape]} ?"
            a1, a2 = "yes", "no"
        noise_seed = int(torch.randint(2**31, (1,), generator=g))
        images += [render(scene, generator=torch.Generator().manual_seed(noise_seed)),
                   render(other, generator=torch.Generator().manual_seed(noise_seed))]
        questions.append(q), answers.extend([a1, a2]), changed.append(attribute)
    return PairSet(torch.stack(images), questions, answers, changed)


def binding_questions(scenes: list[Scene], seed: int) -> tuple[list[int], list[str], list[str]]:
    """Compositional yes/no questions balanced with hard negatives: ``(image_index, questions, answers)``.

    Every image with two or more objects gets one question about two of its objects A and B:
    "is the {colour of A} object a {shape of A} ?" (yes) on every other such image, else "is the
    {colour of A} object a {shape of B} ?" (no). Either way the asked shape is in the image and the
    asked colour is too, on another shape for a no: a bridge that sees shapes only, or colours
    only, cannot tell a yes from a no and scores chance. Only one that binds the colour to the
    shape of the same object can answer (chapter 04, the MMVP-style test of binding).
    """
    g = torch.Generator().manual_seed(seed)
    index, questions, answers = [], [], []
    for i, scene in enumerate(scenes):
        if len(scene.objects) < 2:
            continue
        a, b = torch.randperm(len(scene.objects), generator=g)[:2].tolist()
        first, second = scene.objects[a], scene.objects[b]
        positive = len(questions) % 2 == 0
        shape = first.shape if positive else second.shape
        index.append(i)
        questions.append(f"is the {COLOURS[first.colour]} object a {SHAPES[shape]} ?")
        answers.append("yes" if positive else "no")
    return index, questions, answers
