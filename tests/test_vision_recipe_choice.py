"""Chapter 03's recipe choice on the validation split: the test split is never scored, the best mean wins."""

from __future__ import annotations

import pytest

from course_lib.vision import load_digits_dataset, recipe_choice


def test_the_choice_never_scores_the_test_split_and_takes_the_best_mean(monkeypatch):
    data = load_digits_dataset(validation_fraction=0.15)
    seen = []

    class Result:
        def __init__(self, value):
            self.validation_accuracy = value

    def fake_train(model, split_data, recipe, seed=0):
        seen.append(split_data.test is split_data.validation)
        return Result(0.5 + 0.1 * model.cfg.depth + 0.01 * recipe.epochs)

    monkeypatch.setattr(recipe_choice, "train_classifier", fake_train)
    scores = recipe_choice.validation_scores(data, candidates=((1, 2), (2, 1)), seeds=(0, 1))
    assert all(seen) and len(seen) == 4
    assert recipe_choice.choose(scores) == (2, 1)
    assert recipe_choice.choose({(4, 20): [0.9, 0.9], (2, 20): [0.95, 0.8]}) == (4, 20)


def test_a_real_tiny_candidate_trains_and_a_dataset_without_validation_is_refused():
    data = load_digits_dataset(validation_fraction=0.15)
    scores = recipe_choice.validation_scores(data, candidates=((1, 1),), seeds=(0,))
    assert 0.0 <= scores[1, 1][0] <= 1.0
    with pytest.raises(ValueError, match="validation split"):
        recipe_choice.without_test(load_digits_dataset())


def test_the_chapters_recipe_is_the_validation_choice():
    """The reduced depth and epochs in course_lib.config are what the validation criterion picks (the markdown of
    chapter 03 and the config notes say so; this test runs the choice, about 2 CPU minutes on one thread)."""
    import torch

    from course_lib.config import chapter_values

    values = chapter_values("03", "reduced")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scores = recipe_choice.validation_scores(load_digits_dataset(validation_fraction=values["validation_fraction"]), values=values)
    finally:
        torch.set_num_threads(threads)
    assert recipe_choice.choose(scores) == (values["depth"], values["epochs"]), scores
    assert values["soft_mask_cutoff_epochs"] == values["epochs"] // 2
