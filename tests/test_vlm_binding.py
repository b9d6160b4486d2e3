"""Chapter 04's balanced compositional questions: a shape-only or colour-only reader scores
exactly chance on them, a reader that binds colour to shape scores 100."""

from __future__ import annotations

import re

import torch

from course_lib.vlm.world import COLOURS, SHAPES, binding_questions, random_scene

_G = torch.Generator().manual_seed(0)
SCENES = [random_scene(_G) for _ in range(400)]
INDEX, QUESTIONS, ANSWERS = binding_questions(SCENES, seed=1)
_PATTERN = re.compile(r"is the (\w+) object a (\w+) \?")


def _asked(question: str) -> tuple[int, int]:
    colour, shape = _PATTERN.fullmatch(question).groups()
    return COLOURS.index(colour), SHAPES.index(shape)


def _accuracy(rule) -> float:
    return sum(rule(SCENES[i], *_asked(q)) == (a == "yes") for i, q, a in zip(INDEX, QUESTIONS, ANSWERS)) / len(QUESTIONS)


def test_balanced_yes_and_no_on_every_image_with_two_objects():
    assert len(QUESTIONS) == sum(len(s.objects) >= 2 for s in SCENES) > 100
    assert abs(ANSWERS.count("yes") - ANSWERS.count("no")) <= 1


def test_hard_negatives_hold_the_asked_shape_in_another_colour_and_the_asked_colour_on_another_shape():
    for i, q, a in zip(INDEX, QUESTIONS, ANSWERS):
        colour, shape = _asked(q)
        objects = SCENES[i].objects
        with_colour = next(o for o in objects if o.colour == colour)
        assert any(o.shape == shape for o in objects)
        if a == "no":
            assert with_colour.shape != shape
            assert any(o.shape == shape and o.colour != colour for o in objects)


def test_shape_only_and_colour_only_readers_are_at_chance_a_binding_reader_is_perfect():
    shape_only = _accuracy(lambda scene, colour, shape: any(o.shape == shape for o in scene.objects))
    colour_only = _accuracy(lambda scene, colour, shape: any(o.colour == colour for o in scene.objects))
    binding = _accuracy(lambda scene, colour, shape: any(o.colour == colour and o.shape == shape for o in scene.objects))
    assert abs(shape_only - 0.5) < 0.01 and abs(colour_only - 0.5) < 0.01
    assert binding == 1.0
