"""Chapter 04's bridge recipe chosen on the validation split: the rule, the split it scores, and that the shipped
BRAVE bridge is the recorded choice (``python -m course_lib.vlm.recipe_choice`` writes data/recipe_choices/ch04.json)."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib.config import chapter_values
from course_lib.vlm import recipe_choice


def test_the_best_score_wins_and_a_tie_goes_to_the_first_candidate():
    scores = {key: {"score": s} for key, s in zip(recipe_choice.CANDIDATES, (0.8, 0.9, 0.9, 0.85, 0.7, 0.6))}
    assert recipe_choice.choose(scores) == recipe_choice.CANDIDATES[1]
    assert recipe_choice.choose({key: {"score": 0.5} for key in recipe_choice.CANDIDATES}) == recipe_choice.CANDIDATES[0]
    assert recipe_choice.CANDIDATES[0][-1] is False  # the first (tie) candidate drops encoders in captioning only, as the paper
    assert recipe_choice.config_candidate() in recipe_choice.CANDIDATES


def test_the_candidates_differ_only_in_their_recipe_settings_and_score_the_validation_split(monkeypatch):
    values = chapter_values("04", "reduced")
    for candidate in recipe_choice.CANDIDATES:
        changed = recipe_choice.candidate_values(candidate, values)
        assert {k for k in values if values[k] != changed[k]} <= set(recipe_choice.KEYS)
        assert tuple(changed[k] for k in recipe_choice.KEYS) == candidate
    asked = []
    real_split = recipe_choice.evaluation_split

    def spy_split(name, *args):
        asked.append(name)
        return real_split(name, 12, 6)

    def fake_train(variant, data, lm, vals, seed):
        from course_lib.vlm.bridges import train_shipped_bridge
        assert variant == "brave" and seed == 0
        return train_shipped_bridge(variant, data, lm, vals, seed=seed, steps=(1, 1))

    monkeypatch.setattr(recipe_choice, "evaluation_split", spy_split)
    monkeypatch.setattr(recipe_choice, "training_data", lambda encoders, n: _small_training_data(encoders))
    scores = recipe_choice.validation_scores(candidates=recipe_choice.CANDIDATES[:1], train=fake_train)
    assert asked == ["validation"]  # never the test split
    entry = scores[recipe_choice.CANDIDATES[0]]
    assert entry["score"] == pytest.approx(sum(entry["accuracies"][k] for k in recipe_choice.SCORED) / 3)


def _small_training_data(encoders):
    from course_lib.vlm.bridges import training_data
    return training_data(encoders, 16)


def test_the_config_is_the_recorded_choice_and_the_shipped_brave_scores_what_the_record_says():
    """The record's choice is the config's recipe, its rule picks it from the recorded scores, and the shipped BRAVE
    bridge (built by that recipe) scores exactly the recorded validation accuracies (evaluation only: seconds)."""
    from course_lib.vlm.bridges import load_bridge
    from course_lib.vlm.encoders import ENCODER_NAMES
    from course_lib.vlm.pretraining import load_encoder, load_lm

    record = json.loads(recipe_choice.RECORD.read_text())
    values = chapter_values("04", "reduced")
    chosen = tuple(record["chosen"][k] for k in recipe_choice.KEYS)
    assert chosen == recipe_choice.config_candidate(values)
    rows = {tuple(r[k] for k in recipe_choice.KEYS): r for r in record["candidates"]}
    assert tuple(rows) == recipe_choice.CANDIDATES
    assert recipe_choice.choose({key: {"score": rows[key]["score"]} for key in recipe_choice.CANDIDATES}) == chosen
    encoders = {n: load_encoder(n) for n in ENCODER_NAMES}
    split, features = recipe_choice.validation_features(encoders, values)
    model = load_bridge("brave", {n: features["vqa"][n].shape[-1] for n in ENCODER_NAMES}, load_lm())
    with torch.no_grad():
        score, accuracies = recipe_choice.validation_score(model, split, features)
    assert {k: round(v, 6) for k, v in accuracies.items()} == rows[chosen]["accuracies"]
    assert round(score, 6) == rows[chosen]["score"]
