"""Chapter 04's splits: the validation split's scenes are neither training nor test scenes, the test
split is the one the shipped bridges' build records were scored on, and the bridges' recipe trains on
the training scenes' own questions (no binding questions)."""

from __future__ import annotations

import pytest
import torch

from course_lib.config import chapter_values
from course_lib.vlm import bridges
from course_lib.vlm.splits import SPLIT_SEEDS, TRAIN_SEED, evaluation_split
from course_lib.vlm.world import make_pairs, make_vqa

def test_the_bridge_recipe_trains_on_the_training_scenes_own_questions(monkeypatch, tmp_path):
    seen = {}

    def spy(model, data, *args, **kwargs):
        seen["data"] = data
        return [1.0] * 20 + [0.5] * 20

    monkeypatch.setattr(bridges, "train_bridge", spy)
    bridges.build_asset(tmp_path / "b.safetensors", seed=0, quick=True, variant="shape_cnn")
    data, train = seen["data"], make_vqa(64, seed=TRAIN_SEED)
    assert data.questions == train.questions and data.answers == train.answers
    assert data.image_index.tolist() == train.image_index and data.captions == train.captions


def test_the_test_split_is_the_one_the_build_records_were_scored_on():
    test = evaluation_split("test", 20, 5)
    assert torch.equal(test.vqa.images, make_vqa(20, seed=bridges.TEST_SEED).images)
    assert torch.equal(test.pairs.images, make_pairs(5, seed=bridges.PAIR_SEED).images)
    assert TRAIN_SEED == bridges.TRAIN_SEED


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
