"""Chapter 04's splits: the bridges' training mix holds balanced binding questions asked of the
training scenes only, and the validation split's scenes are neither training nor test scenes."""

from __future__ import annotations

import re

import pytest
import torch

from course_lib.config import chapter_values
from course_lib.vlm import bridges
from course_lib.vlm.splits import BINDING, SPLIT_SEEDS, TRAIN_SEED, evaluation_split, training_data, training_mix
from course_lib.vlm.world import COLOURS, SHAPES, make_vqa

_PATTERN = re.compile(r"is the (\w+) object a (\w+) \?")


def _binding_part(mix):
    return [(i, q, a) for i, k, q, a in zip(*mix) if k == BINDING]


def test_training_mix_adds_balanced_binding_questions_on_every_training_image_with_two_objects():
    train = make_vqa(300, seed=TRAIN_SEED)
    mix = training_mix(train)
    assert mix[0][: len(train.questions)] == train.image_index and mix[2][: len(train.questions)] == train.questions
    binding = _binding_part(mix)
    assert len(binding) == sum(len(s.objects) >= 2 for s in train.scenes) > 100
    answers = [a for _, _, a in binding]
    assert abs(answers.count("yes") - answers.count("no")) <= 1
    for i, question, answer in binding:
        colour, shape = (name.index(word) for name, word in zip((COLOURS, SHAPES), _PATTERN.fullmatch(question).groups()))
        objects = train.scenes[i].objects  # the question is about this training scene
        coloured = next(o for o in objects if o.colour == colour)
        assert any(o.shape == shape for o in objects)
        assert (coloured.shape == shape) == (answer == "yes")
        if answer == "no":  # a hard negative: the asked shape is there, on another colour
            assert any(o.shape == shape and o.colour != colour for o in objects)


def test_training_mix_asks_about_training_scenes_only_none_from_validation_or_test():
    train = make_vqa(300, seed=TRAIN_SEED)
    train_scenes = set(train.scenes)
    binding = _binding_part(training_mix(train))
    assert all(0 <= i < len(train.scenes) for i, _, _ in binding)
    for name in SPLIT_SEEDS:
        held_out = set(evaluation_split(name, 300, 10).vqa.scenes)
        assert not {train.scenes[i] for i, _, _ in binding} & held_out, f"binding questions asked of {name} scenes"
        assert not train_scenes & held_out


def test_the_bridge_recipe_trains_on_the_training_mix(monkeypatch, tmp_path):
    seen = {}

    def spy(model, data, *args, **kwargs):
        seen["data"] = data
        return [1.0] * 20 + [0.5] * 20

    monkeypatch.setattr(bridges, "train_bridge", spy)
    bridges.build_asset(tmp_path / "b.safetensors", seed=0, quick=True, variant="shape_cnn")
    data = seen["data"]
    train = make_vqa(64, seed=TRAIN_SEED)
    index, kinds, questions, answers = training_mix(train)
    assert data.questions == questions and data.answers == answers and data.image_index.tolist() == index
    assert kinds.count(BINDING) > 0 and data.captions == train.captions
    assert torch.equal(data.vqa_batch["text"], training_data(train, data.features).vqa_batch["text"])


def test_validation_scenes_and_pairs_are_disjoint_from_train_and_test():
    values = chapter_values("04", "reduced")
    train = make_vqa(values["train_images"], seed=TRAIN_SEED)
    val = evaluation_split("validation", values["test_images"], values["test_pairs"])
    test = evaluation_split("test", values["test_images"], values["test_pairs"])
    assert len(set(SPLIT_SEEDS["validation"]) | set(SPLIT_SEEDS["test"]) | {TRAIN_SEED}) == 7
    assert not set(val.vqa.scenes) & set(train.scenes)
    assert not set(val.vqa.scenes) & set(test.vqa.scenes)
    images = lambda t: {bytes(x.numpy().tobytes()) for x in t}  # noqa: E731
    val_images = images(val.vqa.images) | images(val.pairs.images)
    assert not val_images & (images(train.images) | images(test.vqa.images) | images(test.pairs.images))
    assert max(val.binding[0]) < len(val.vqa.scenes)  # the validation binding questions ask of validation images


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="validation, test"):
        evaluation_split("dev", 10, 2)
