"""Scene builders: forward-facing outdoor scenes and rooms, 360° surroundings, streets, orbit objects (chapters 05-07).

Every builder is deterministic in its ``seed`` and returns a :class:`Scene` whose ``prompt``
describes it in the procedural vocabulary (:mod:`course_lib.scenes.vocabulary`). Random
scenes are made by drawing a prompt first and building it, so the prompt always fits.
"""

from __future__ import annotations

import math
import random

from course_lib.scenes.primitives import Box, Ellipsoid, GroundPlane, Primitive
from course_lib.scenes.scene import Scene
from course_lib.scenes.vocabulary import COLORS, ObjectPhrase, parse_prompt

DEFAULT_COLOR = {"house": "white", "tree": "green", "car": "blue", "ball": "red", "box": "yellow", "building": "gray", "table": "brown"}
OBJECT_FOOTPRINT = {"house": 2.2, "tree": 1.4, "car": 1.6, "ball": 0.8, "box": 0.9, "building": 3.0, "table": 1.2}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _jitter(color: tuple[float, float, float], rng: random.Random, amount: float = 0.06) -> tuple[float, float, float]:
    return tuple(min(1.0, max(0.0, c + rng.uniform(-amount, amount))) for c in color)


def make_object(name: str, color: str | None, x: float, y: float, yaw: float, instance: int, rng: random.Random) -> list[Primitive]:
    """The primitives of one object of kind ``name`` standing on the ground at (x, y) (chapter 06).

    house: walls + roof; tree: trunk + crown; car: body + cabin; building: a tall facade box;
    ball: a sphere; box: a crate; table: a top on a leg. All parts share one instance id.
    """
    rgb = _jitter(COLORS[color or DEFAULT_COLOR[name]], rng)
    s = rng.uniform(0.85, 1.15)
    if name == "house":
        w, d, h = 1.0 * s, 0.9 * s, 1.1 * s
        return [Box("building", instance, rgb, "facade", (x, y, h), (w, d, h), yaw),
                Box("roof", instance, (0.55, 0.22, 0.16), "plain", (x, y, 2 * h + 0.25 * s), (w * 1.1, d * 1.1, 0.25 * s), yaw)]
    if name == "building":
        h = rng.uniform(3.0, 6.0)
        return [Box("building", instance, rgb, "facade", (x, y, h), (1.4 * s, 1.4 * s, h), yaw)]
    if name == "tree":
        trunk = 0.7 * s
        return [Box("tree", instance, (0.42, 0.28, 0.15), "wood", (x, y, trunk), (0.12, 0.12, trunk), yaw),
                Ellipsoid("tree", instance, rgb, "foliage", (x, y, 2 * trunk + 0.6 * s), (0.65 * s, 0.65 * s, 0.85 * s), yaw)]
    if name == "car":
        return [Box("car", instance, rgb, "plain", (x, y, 0.4), (0.95 * s, 0.45, 0.3), yaw),
                Box("car", instance, tuple(0.6 * c for c in rgb), "plain", (x, y, 0.85), (0.5 * s, 0.4, 0.18), yaw)]
    if name == "ball":
        r = 0.4 * s
        return [Ellipsoid("ball", instance, rgb, "plain", (x, y, r), (r, r, r), yaw)]
    if name == "box":
        h = 0.4 * s
        return [Box("box", instance, rgb, "checker", (x, y, h), (h, h, h), yaw)]
    if name == "table":
        return [Box("furniture", instance, rgb, "wood", (x, y, 0.75), (0.6 * s, 0.4 * s, 0.05), yaw),
                Box("furniture", instance, rgb, "wood", (x, y, 0.35), (0.08, 0.08, 0.35), yaw)]
    raise ValueError(f"unknown object {name!r}; the objects are {sorted(DEFAULT_COLOR)}")


def _place(phrases: list[ObjectPhrase], slots: list[tuple[float, float]], rng: random.Random, first_instance: int) -> list[Primitive]:
    objects = [(p.name, p.color) for p in phrases for _ in range(p.count)]
    if len(objects) > len(slots):
        raise ValueError(f"the prompt asks for {len(objects)} objects but this layout has room for {len(slots)}; ask for fewer")
    rng.shuffle(slots)
    prims: list[Primitive] = []
    for k, ((name, color), (x, y)) in enumerate(zip(objects, slots)):
        prims += make_object(name, color, x + rng.uniform(-0.2, 0.2), y + rng.uniform(-0.2, 0.2), rng.uniform(-0.5, 0.5), first_instance + k, rng)
    return prims


def scene_from_prompt(prompt: str, seed: int = 0) -> Scene:
    """Build the scene a prompt describes (chapter 06): ``"a red house beside two green trees"``.

    The setting word picks the layout: ``room`` -> :func:`room_scene`, ``street``/``city`` ->
    :func:`street_scene`; anything else is a forward-facing outdoor scene seen from the origin
    looking along +y (objects between 3 and 9 units away). Unknown words raise
    :class:`~course_lib.scenes.vocabulary.UnknownPromptWordError`.
    """
    phrases, setting = parse_prompt(prompt)
    if setting == "room":
        return room_scene(seed, prompt)
    if setting in ("street", "city"):
        return street_scene(seed, prompt=prompt)
    rng = random.Random(seed)
    slots = [(x, y) for y in (4.0, 6.5, 9.0) for x in (-3.0, -1.0, 1.0, 3.0)]
    prims: list[Primitive] = [GroundPlane("ground", 1, _jitter(COLORS["green"], rng), "grass")]
    prims += _place(phrases, slots, rng, first_instance=2)
    return Scene(prims, prompt=prompt, seed=seed)


def random_prompt(seed: int, objects: tuple[str, ...] = ("house", "tree", "car", "ball", "box"), setting: str = "park") -> str:
    """A random prompt of two object groups, e.g. ``"a red house beside two green trees in a park"`` (chapters 05-07)."""
    rng = random.Random(seed)
    a, b = rng.sample(objects, 2)
    count_words = ["a", "two", "three"]
    groups = []
    for name in (a, b):
        n = rng.choice(count_words)
        color = rng.choice(sorted(COLORS))
        noun = name if n == "a" else ("boxes" if name == "box" else name + "s")
        groups.append(f"{_article(color) if n == 'a' else n} {color} {noun}")
    return f"{groups[0]} beside {groups[1]} in a {setting}"


def outdoor_scene(seed: int = 0) -> Scene:
    """A random forward-facing outdoor scene with its prompt (RealmDreamer, chapter 06)."""
    return scene_from_prompt(random_prompt(seed), seed)


def room_scene(seed: int = 0, prompt: str | None = None) -> Scene:
    """A room open towards -y (floor, three walls, ceiling) with objects inside, seen from y = 0 (chapter 06).

    Default prompt: a random table/box/ball combination ``"... in a room"``.
    """
    rng = random.Random(seed)
    prompt = prompt or random_prompt(seed, objects=("table", "box", "ball"), setting="room")
    phrases, _ = parse_prompt(prompt)
    W, D, H = 4.0, 10.0, 3.0  # half-width, far wall y, height
    wall = _jitter(COLORS["white"], rng, 0.1)
    prims: list[Primitive] = [
        Box("floor", 1, _jitter((0.6, 0.45, 0.3), rng), "checker", (0.0, D / 2, -0.05), (W, D / 2, 0.05)),
        Box("ceiling", 2, (0.95, 0.95, 0.95), "plain", (0.0, D / 2, H + 0.05), (W, D / 2, 0.05)),
        Box("wall", 3, wall, "stripes", (0.0, D + 0.05, H / 2), (W, 0.05, H / 2)),
        Box("wall", 4, wall, "stripes", (-W - 0.05, D / 2, H / 2), (0.05, D / 2, H / 2)),
        Box("wall", 5, wall, "stripes", (W + 0.05, D / 2, H / 2), (0.05, D / 2, H / 2)),
    ]
    slots = [(x, y) for y in (4.0, 6.0, 8.0) for x in (-2.5, -0.8, 0.8, 2.5)]
    prims += _place(phrases, slots, rng, first_instance=6)
    return Scene(prims, prompt=prompt, seed=seed, sky="plain", sky_color=(0.0, 0.0, 0.0))


def surroundings_scene(seed: int = 0, num_objects: int = 8) -> Scene:
    """A 360° scene seen from the origin (DreamScene360, chapter 05): objects on a ring 4-7 units away,
    a ring of buildings at 14 units, grass, gradient sky."""
    rng = random.Random(seed)
    names = [rng.choice(("house", "tree", "car", "ball", "box")) for _ in range(num_objects)]
    colors = [rng.choice(sorted(COLORS)) for _ in names]
    prims: list[Primitive] = [GroundPlane("ground", 1, _jitter(COLORS["green"], rng), "grass")]
    for k, (name, color) in enumerate(zip(names, colors)):
        angle = 2 * math.pi * (k + rng.uniform(-0.2, 0.2)) / num_objects
        r = rng.uniform(4.0, 7.0)
        prims += make_object(name, color, r * math.cos(angle), r * math.sin(angle), angle, 2 + k, rng)
    for k in range(12):
        angle = 2 * math.pi * k / 12
        prims += make_object("building", rng.choice(("gray", "white", "brown")), 14 * math.cos(angle), 14 * math.sin(angle), angle, 2 + num_objects + k, rng)
    counts: dict[tuple[str, str], int] = {}
    for name, color in zip(names, colors):
        counts[(color, name)] = counts.get((color, name), 0) + 1
    groups = sorted(counts.items(), key=lambda kv: -kv[1])[:2]
    words = {1: "a", 2: "two", 3: "three", 4: "four"}
    text = " and ".join(
        f"{_article(c) if n == 1 else words.get(n, 'four')} {c} {nm if n == 1 else ('boxes' if nm == 'box' else nm + 's')}" for (c, nm), n in groups
    )
    return Scene(prims, prompt=f"{text} around buildings in a square", seed=seed)


def street_scene(seed: int = 0, length: float = 40.0, prompt: str | None = None) -> Scene:
    """A street along +x (Urban Architect, chapter 07): road (y in [-3, 3]), sidewalks, buildings on both sides,
    trees on the sidewalks, cars on the road. Classes: road, sidewalk, building, roof, tree, car, ground, sky.

    A ``prompt`` such as ``"two red cars beside white buildings in a street"`` sets the number and
    colour of the cars and the colours of the buildings and trees it names; the rest stays random.
    """
    rng = random.Random(seed)
    phrases = parse_prompt(prompt)[0] if prompt else []
    named = {name: [p for p in phrases if p.name == name] for name in ("car", "building", "house", "tree")}
    building_colors = [p.color for p in named["building"] + named["house"] if p.color] or ["gray", "white", "brown", "red", "yellow"]
    tree_color = next((p.color for p in named["tree"] if p.color), "green")
    cars = [p.color for p in named["car"] for _ in range(p.count)] or [None] * max(1, int(length / 8))
    prims: list[Primitive] = [
        GroundPlane("ground", 1, (0.4, 0.5, 0.3), "grass"),
        Box("road", 2, (0.28, 0.28, 0.3), "road", (length / 2, 0.0, 0.01), (length / 2 + 5, 3.0, 0.01)),
        Box("sidewalk", 3, (0.7, 0.68, 0.62), "checker", (length / 2, 4.0, 0.08), (length / 2 + 5, 1.0, 0.08)),
        Box("sidewalk", 4, (0.7, 0.68, 0.62), "checker", (length / 2, -4.0, 0.08), (length / 2 + 5, 1.0, 0.08)),
    ]
    instance = 5
    for side in (-1, 1):
        x = -3.0
        while x < length + 5:
            width = rng.uniform(2.5, 4.5)
            height = rng.uniform(3.0, 8.0)
            color = _jitter(COLORS[rng.choice(building_colors)], rng)
            prims.append(Box("building", instance, color, "facade", (x + width / 2, side * 8.0, height), (width / 2 - 0.1, 2.8, height)))
            instance, x = instance + 1, x + width
        for x in range(2, int(length), 6):
            prims += make_object("tree", tree_color, x + rng.uniform(-1, 1), side * 4.4, 0.0, instance, rng)
            instance += 1
    for k, color in enumerate(cars):
        lane = rng.choice((-1.5, 1.5))
        x = (k + 0.5) * length / len(cars) + rng.uniform(-1.0, 1.0)
        prims += make_object("car", color or rng.choice(sorted(COLORS)), x, lane, 0.0, instance, rng)
        instance += 1
    return Scene(prims, prompt=prompt or "a street with cars and trees along buildings", seed=seed)


def object_scene(seed: int = 0) -> Scene:
    """A few objects on a gray platform under a plain sky, to orbit around (chapter 05's splatting fits).

    The plain sky colour is a known background, so a Gaussian-splat render can composite over it.
    """
    rng = random.Random(seed)
    names = rng.sample(["ball", "box", "tree", "car"], 3)
    colors = rng.sample(sorted(set(COLORS) - {"gray", "white", "black"}), 3)
    prims: list[Primitive] = [Box("platform", 1, (0.55, 0.55, 0.58), "checker", (0.0, 0.0, -0.1), (2.2, 2.2, 0.1))]
    slots = [(-0.9, -0.7), (0.9, -0.6), (0.0, 0.9)]
    for k, (name, color, (x, y)) in enumerate(zip(names, colors, slots)):
        prims += make_object(name, color, x, y, rng.uniform(-0.6, 0.6), 2 + k, rng)
    prompt = " and ".join(f"{_article(c)} {c} {n}" for c, n in zip(colors, names))
    return Scene(prims, prompt=prompt, seed=seed, sky="plain", sky_color=(1.0, 1.0, 1.0))
