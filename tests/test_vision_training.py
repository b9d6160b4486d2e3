"""Chapter 03 reduced scale: the digits data and the short training loop (mixup, soft-mask schedule)."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.vision import TrainRecipe, ViTConfig, VisionTransformer, load_digits_dataset, train_classifier
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
