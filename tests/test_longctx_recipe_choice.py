"""Chapter 01's filler-repeats bound chosen on validation prompts: the criterion, the tie rule, the prompts, and that
the shipped models are the recorded choice (``python -m course_lib.longctx.recipe_choice`` writes
data/recipe_choices/ch01.json)."""

from __future__ import annotations

import json

import torch

from course_lib.config import chapter_values
from course_lib.longctx import recipe_choice
from course_lib.longctx.passkey import PasskeyTask


def test_the_best_worst_case_wins_and_a_tie_goes_to_the_least_departure():
    assert recipe_choice.choose({1.0: 0.4, 16.0: 0.9, 256.0: 1.0, 4096.0: 0.95}) == 256.0
    assert recipe_choice.choose({1.0: 0.4, 16.0: 1.0, 256.0: 1.0, 4096.0: 1.0}) == 16.0
    assert recipe_choice.CANDIDATES[0] == 1.0  # the paper's plain recipe is a candidate
    table = {16.0: {"a": {"start": 1.0, "middle": 0.9}, "b": {"start": 0.95, "middle": 1.0}},
             256.0: {"a": {"start": 0.97, "middle": 0.97}, "b": {"start": 0.97, "middle": 0.98}}}
    assert recipe_choice.validation_scores(table) == {16.0: 0.9, 256.0: 0.97}  # the worst model and position
    assert recipe_choice.choose(recipe_choice.validation_scores(table)) == 256.0


def test_each_candidate_trains_both_shipped_models_with_its_bound_and_is_scored_on_validation_prompts(monkeypatch):
    trained, asked = [], []

    def fake_train(model, task, recipe, progress=False):
        trained.append((recipe.memory, recipe.filler_repeats_max, recipe.steps))
        return []

    def fake_accuracy(model, task, length, depth, samples, seed=1):
        asked.append((length, samples, seed))
        return 0.5

    monkeypatch.setattr(recipe_choice, "passkey_accuracy", fake_accuracy)
    table = recipe_choice.validation_table(candidates=(1.0, 256.0), length=512, samples=3, train=fake_train)
    assert recipe_choice.validation_scores(table) == {1.0: 0.5, 256.0: 0.5}
    assert [(m, r) for m, r, _ in trained] == [("delta", 1.0), ("linear", 1.0), ("delta", 256.0), ("linear", 256.0)]
    assert {s for _, _, s in trained} == {chapter_values("01", "reduced")["train_steps"]}
    assert {seed for _, _, seed in asked} == {recipe_choice.VALIDATION_SEED} != {1}  # not the notebook's test prompts
    assert len(asked) == 8  # start and middle, per model and candidate


def test_validation_prompts_differ_from_the_test_prompts():
    task = PasskeyTask(num_passkeys=100)
    test = task.batch(4, 256, depth=0.5, generator=torch.Generator().manual_seed(1))
    validation = task.batch(4, 256, depth=0.5, generator=torch.Generator().manual_seed(recipe_choice.VALIDATION_SEED))
    assert not torch.equal(test.answers, validation.answers)


def test_the_shipped_bound_is_the_recorded_choice_and_the_shipped_models_score_what_the_record_says():
    """The record's choice is the configured bound, the rule picks it from the recorded scores, and the shipped
    Linear + Delta and Linear models (trained with that bound) score exactly the recorded validation accuracies
    (evaluation only, no training)."""
    from course_lib import assets
    from course_lib.longctx.passkey_training import PASSKEY_ASSETS, build_model

    record = json.loads(recipe_choice.RECORD.read_text())
    bound = chapter_values("01", "reduced")["filler_repeats_max"]
    assert record["chosen"] == bound and record["samples"] == recipe_choice.VALIDATION_SAMPLES
    rows = {r["filler_repeats_max"]: r for r in record["candidates"]}
    assert tuple(rows) == recipe_choice.CANDIDATES
    assert recipe_choice.choose({r: row["score"] for r, row in rows.items()}) == bound
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in recipe_choice.MODELS:
            recipe = PASSKEY_ASSETS[name]
            task = PasskeyTask(recipe.num_passkeys)
            model = build_model(recipe, task)
            model.load_state_dict(assets.load(name))
            got = recipe_choice.validation_accuracies(model.eval(), task, record["length"], record["samples"])
            assert got == rows[bound]["accuracies"][name], (name, got)
    finally:
        torch.set_num_threads(threads)
