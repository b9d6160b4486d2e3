"""Chapter 03 reduced scale: the digits data and the short training loop (mixup, soft-mask schedule)."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.vision import TrainRecipe, ViTConfig, VisionTransformer, evaluate, load_digits_dataset, train_classifier
from course_lib.vision.training import lr_at


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def test_digits_split(digits):
    assert digits.train.images.shape == (1347, 1, 8, 8) and digits.test.images.shape == (450, 1, 8, 8)
    assert set(digits.test.labels.tolist()) == set(range(10))
    assert abs(digits.train.images.mean().item()) < 1e-4 and abs(digits.train.images.std().item() - 1) < 1e-3
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_dataset(test_fraction=1.5)


def test_the_validation_split_is_disjoint_stratified_and_leaves_the_test_split_as_it_was(digits):
    split = load_digits_dataset(validation_fraction=0.15)
    train, validation, test = (set(s.indices.tolist()) for s in (split.train, split.validation, split.test))
    assert not train & validation and not train & test and not validation & test
    assert len(train | validation | test) == 1797 and (len(train), len(validation), len(test)) == (1077, 270, 450)
    assert torch.equal(split.test.indices, digits.test.indices) and torch.equal(split.test.labels, digits.test.labels)
    assert digits.validation is None and set(digits.train.indices.tolist()) == train | validation
    everything = torch.cat([split.train.labels, split.validation.labels, split.test.labels])
    share = torch.bincount(everything, minlength=10).float() / len(everything)
    for part in (split.train, split.validation, split.test):  # stratified: each class's share as in the whole set
        counts = torch.bincount(part.labels, minlength=10).float()
        assert (counts - share * len(part)).abs().max() <= 1.0
    assert abs(split.train.images.mean().item()) < 1e-4, "standardised with the training split's statistics"
    with pytest.raises(ValueError, match="validation_fraction"):
        load_digits_dataset(validation_fraction=0.75)


def test_training_scores_the_validation_split_when_there_is_one():
    split = load_digits_dataset(validation_fraction=0.15)
    model = _model()
    result = train_classifier(model, split, TrainRecipe(epochs=1, batch_size=128), seed=0)
    assert (result.validation_accuracy, result.validation_loss) == evaluate(model, split.validation)
    assert (result.test_accuracy, result.test_loss) == evaluate(model, split.test)


def _model(**switches):
    torch.manual_seed(0)
    return VisionTransformer(ViTConfig(image_size=8, patch_size=2, in_chans=1, num_classes=10, dim=16, depth=1, num_heads=2,
                                       swiglu_multiple_of=8, **switches))


def test_training_learns_and_runs_the_soft_mask_schedule(digits):
    model = _model(norm="rmsnorm", ffn="swiglu", mask="causal", cls_position="last", pos_embed="both")
    recipe = TrainRecipe(epochs=8, batch_size=128, lr=1e-2, warmup_epochs=1, mixup_alpha=0.1, cutmix_alpha=0.1,
                         soft_mask_schedule="linear", soft_mask_cutoff_epochs=4)
    result = train_classifier(model, digits, recipe, seed=0)
    assert result.losses[-1] < result.losses[0]
    assert result.test_accuracy > 0.3 and result.test_loss < math.log(10)
    steps = len(digits.train) // 128
    assert result.alphas[0] == 1.0 and result.alphas[2 * steps] == pytest.approx(0.5) and result.alphas[4 * steps:] == [0.0] * (4 * steps)
    assert model.soft_mask_alpha == 0.0


def test_training_is_deterministic(digits):
    recipe = TrainRecipe(epochs=1, batch_size=128)
    a = train_classifier(_model(), digits, recipe, seed=3)
    b = train_classifier(_model(), digits, recipe, seed=3)
    assert a.losses == b.losses and a.test_accuracy == b.test_accuracy
    assert a.validation_accuracy is None and a.validation_loss is None  # no validation split in this dataset


def test_lr_schedule():
    assert lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(99, 100, 10, 1.0) < 0.01


def test_training_runs_the_schedule_it_is_given(digits):
    """Chapter 03 passes the learner's soft_mask_alpha: the alphas the model trains with are that function's."""
    model = _model(norm="rmsnorm", ffn="swiglu", mask="causal", cls_position="last", pos_embed="both")
    recipe = TrainRecipe(epochs=2, batch_size=128, lr=1e-2, warmup_epochs=1, soft_mask_schedule="linear", soft_mask_cutoff_epochs=2)
    calls = []

    def stuck(step, cutoff_step, schedule):  # a wrong schedule: alpha never leaves 0.7
        calls.append((step, cutoff_step, schedule))
        return 0.7

    result = train_classifier(model, digits, recipe, seed=0, alpha_fn=stuck)
    steps = len(digits.train) // 128
    assert result.alphas == [0.7] * (2 * steps) and calls[0] == (0, 2 * steps, "linear")
    assert model.soft_mask_alpha == 0.0, "evaluation is causal whatever the schedule"
