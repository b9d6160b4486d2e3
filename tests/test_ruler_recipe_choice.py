"""Chapter 02's training recipes chosen on validation samples: the rules, the samples, the record of both choices
(``python -m course_lib.longctx.ruler.recipe_choice retrieval|mix|shipped`` writes data/recipe_choices/ch02.json), and that the
shipped models are the recorded choices."""

from __future__ import annotations

import json

import torch

from course_lib import assets
from course_lib.longctx.ruler import recipe_choice
from course_lib.longctx.ruler.training import RULER_ASSETS, load_model, recipe_for

RETRIEVAL_MODELS = ("ch02_ruler_full256", "ch02_ruler_infini64", "ch02_ruler_local64")


def test_the_best_score_wins_and_a_tie_goes_to_the_first_candidate():
    keys = recipe_choice.RETRIEVAL_CANDIDATES
    assert recipe_choice.choose({k: {"score": s} for k, s in zip(keys, (50.0, 70.0, 70.0, 60.0))}) == keys[1]
    assert recipe_choice.choose({k: {"score": 10.0} for k in keys}) == keys[0]
    assert keys[0] == (min(s for s, _ in keys), min(lr for _, lr in keys))  # a tie goes to the cheaper recipe
    assert recipe_choice.MIX_CANDIDATES[0] == min(recipe_choice.MIX_CANDIDATES)


def test_candidates_are_scored_on_the_validation_seed_and_never_the_notebooks_test_seeds(monkeypatch):
    grids, trained = [], []

    def fake_grid(model, tokenizer, grid):
        grids.append(grid)
        return {f"{t}@{n}": 50.0 for t in grid["tasks"] for n in grid["lengths"]}

    def fake_train(model, tokenizer, recipe, progress=False):
        trained.append((recipe.memory, recipe.segment_len, recipe.steps, recipe.lr, recipe.short_steps))
        return []

    monkeypatch.setattr(recipe_choice, "grid_scores", fake_grid)
    monkeypatch.setattr(recipe_choice, "train_ruler", fake_train)
    scores = recipe_choice.retrieval_scores(candidates=((1500, 3e-3), (3000, 6e-3)))
    assert [e["score"] for e in scores.values()] == [50.0, 50.0]
    assert {g["seed"] for g in grids} == {recipe_choice.VALIDATION_SEED} and recipe_choice.VALIDATION_SEED not in (1, 4)
    assert {g["tasks"] for g in grids} == {RULER_ASSETS["ch02_ruler_full256"].tasks}
    short = RULER_ASSETS["ch02_ruler_full256"].short_steps
    assert trained == [("off", 256, 1500, 3e-3, short), ("delta", 64, 1500, 3e-3, short),
                       ("off", 256, 3000, 6e-3, short), ("delta", 64, 3000, 6e-3, short)]


def test_the_retrieval_record_is_complete_and_its_rule_picks_its_recorded_choice():
    """The record of the retrieval choice (data/recipe_choices/ch02.json) holds every candidate, scored on the validation
    seed, and the rule applied to its scores gives the choice it records."""
    record = json.loads(recipe_choice.RECORD.read_text())["retrieval"]
    rows = {(r["steps"], r["lr"]): r for r in record["candidates"]}
    assert tuple(rows) == recipe_choice.RETRIEVAL_CANDIDATES
    assert record["validation"]["seed"] == recipe_choice.VALIDATION_SEED
    for row in rows.values():
        assert set(row["models"]) == set(recipe_choice.RETRIEVAL_SCORED)
        assert abs(row["score"] - sum(m["score"] for m in row["models"].values()) / len(row["models"])) < 1e-3
    chosen = recipe_choice.choose({k: {"score": r["score"]} for k, r in rows.items()})
    assert chosen == (record["chosen"]["steps"], record["chosen"]["lr"])


def test_the_mix_record_is_complete_and_its_rule_picks_its_recorded_choice():
    record = json.loads(recipe_choice.RECORD.read_text())["mix"]
    rows = {r["lr"]: r for r in record["candidates"]}
    assert tuple(rows) == recipe_choice.MIX_CANDIDATES
    assert record["validation"]["seed"] == recipe_choice.VALIDATION_SEED
    for row in rows.values():
        assert abs(row["score"] - sum(row["cells"].values()) / len(row["cells"])) < 1e-3
        assert {c.split("@")[0] for c in row["cells"]} == set(RULER_ASSETS["ch02_ruler_mix"].tasks)
    assert recipe_choice.choose({k: {"score": r["score"]} for k, r in rows.items()}) == record["chosen"]["lr"]


def test_the_recipes_and_the_shipped_files_are_the_recorded_choices():
    """The config's steps and RULER_ASSETS' rates are the recorded choices, and every shipped model was trained by them
    (the recipe stored in each file's header)."""
    record = json.loads(recipe_choice.RECORD.read_text())
    retrieval, mix_lr = record["retrieval"]["chosen"], record["mix"]["chosen"]["lr"]
    for name in RETRIEVAL_MODELS:
        assert (recipe_for(name).steps, RULER_ASSETS[name].lr) == (retrieval["steps"], retrieval["lr"]), name
        shipped = load_model(name)[1]
        assert (shipped.steps, shipped.lr, shipped.seed) == (retrieval["steps"], retrieval["lr"], 0), name
    assert RULER_ASSETS["ch02_ruler_mix"].lr == mix_lr
    shipped = load_model("ch02_ruler_mix")[1]
    assert (shipped.lr, shipped.steps, shipped.init_from) == (mix_lr, recipe_for("ch02_ruler_mix").steps, "ch02_ruler_full256")


def test_the_shipped_files_score_exactly_their_recorded_validation_cells():
    """full256, infini64 and the task-mix model, loaded from their shipped files, score exactly the validation cells the
    record's shipped part holds (evaluation only). Where the mix's candidates ran on the kind of CPU that built the
    shipped mix (its MANIFEST record), its file also scores exactly its chosen candidate's cells (training is deterministic on one kind of CPU)."""
    torch.set_num_threads(1)
    record = json.loads(recipe_choice.RECORD.read_text())
    shipped = record["shipped"]
    assert tuple(shipped["models"]) == recipe_choice.SHIPPED_SCORED and shipped["validation"]["seed"] == recipe_choice.VALIDATION_SEED
    scores = recipe_choice.shipped_scores()
    for name, entry in shipped["models"].items():
        assert {k: round(v, 4) for k, v in scores[name]["cells"].items()} == entry["cells"], name
    mix_row = next(r for r in record["mix"]["candidates"] if r["lr"] == record["mix"]["chosen"]["lr"])
    if record["mix"]["cpu"] == assets.metadata("ch02_ruler_mix")["cpu"]:
        assert shipped["models"]["ch02_ruler_mix"]["cells"] == mix_row["cells"]
