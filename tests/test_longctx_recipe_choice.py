"""Chapter 01's filler-repeats bound chosen on validation prompts: the criterion, the tie rule and the prompts."""

from __future__ import annotations

import torch

from course_lib.longctx import recipe_choice
from course_lib.longctx.passkey import PasskeyTask


def test_the_best_validation_score_wins_and_a_tie_goes_to_the_least_departure():
    assert recipe_choice.choose({1.0: 0.4, 16.0: 0.9, 256.0: 1.0, 4096.0: 0.95}) == 256.0
    assert recipe_choice.choose({1.0: 0.4, 16.0: 1.0, 256.0: 1.0, 4096.0: 1.0}) == 16.0
    assert recipe_choice.CANDIDATES[0] == 1.0  # the paper's plain recipe is a candidate


def test_each_candidate_is_the_delta_recipe_with_its_bound_and_is_scored_on_validation_prompts(monkeypatch):
    trained, asked = [], []

    def fake_train(model, task, recipe, progress=False):
        trained.append((recipe.memory, recipe.filler_repeats_max, recipe.steps))
        return []

    def fake_accuracy(model, task, length, depth, samples, seed=1):
        asked.append((length, samples, seed))
        return 0.5

    monkeypatch.setattr(recipe_choice, "passkey_accuracy", fake_accuracy)
    scores = recipe_choice.validation_scores(candidates=(1.0, 256.0), length=512, samples=3, train=fake_train)
    assert scores == {1.0: 0.5, 256.0: 0.5}
    assert [r for _, r, _ in trained] == [1.0, 256.0] and {m for m, _, _ in trained} == {"delta"}
    assert {seed for _, _, seed in asked} == {recipe_choice.VALIDATION_SEED} != {1}  # not the notebook's test prompts
    assert len(asked) == 4  # start and middle, per candidate


def test_validation_prompts_differ_from_the_test_prompts():
    task = PasskeyTask(num_passkeys=100)
    test = task.batch(4, 256, depth=0.5, generator=torch.Generator().manual_seed(1))
    validation = task.batch(4, 256, depth=0.5, generator=torch.Generator().manual_seed(recipe_choice.VALIDATION_SEED))
    assert not torch.equal(test.answers, validation.answers)


def test_the_shipped_bound_is_the_validation_choice():
    """The configured bound (16) is what the rule picks over all four candidates: it scores the highest possible
    validation score, and the only smaller candidate (1, the plain recipe) scores less, so the larger ones cannot
    win (a tie goes to the smallest). Two trainings, about 3 CPU minutes on one thread."""
    from course_lib.config import chapter_values

    bound = chapter_values("01", "reduced")["filler_repeats_max"]
    smaller = [r for r in recipe_choice.CANDIDATES if r < bound]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scores = recipe_choice.validation_scores(candidates=(*smaller, bound))
    finally:
        torch.set_num_threads(threads)
    assert scores[bound] == 1.0 and all(scores[r] < 1.0 for r in smaller), scores
    assert recipe_choice.choose({**scores, **{r: 1.0 for r in recipe_choice.CANDIDATES if r > bound}}) == bound
