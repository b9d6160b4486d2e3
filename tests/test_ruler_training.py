"""The tiny RULER models of chapter 02: their recipes, their training batches and what the shipped ones retrieve."""

import random

import torch

from course_lib.longctx.ruler.evaluate import evaluate, make_samples
from course_lib.longctx.ruler.models import GreedyLM
from course_lib.longctx.ruler.templates import NOISE
from course_lib.longctx.ruler.text import course_tokenizer
from course_lib.longctx.ruler.training import RULER_ASSETS, TrainingSamples, load_model, recipe_for, reduced_settings

MODELS = ("ch02_ruler_full256", "ch02_ruler_infini64", "ch02_ruler_local64")


def test_the_three_recipes_differ_only_in_their_attention():
    recipes = [RULER_ASSETS[name] for name in MODELS]
    assert [(r.memory, r.segment_len) for r in recipes] == [("off", 256), ("delta", 64), ("off", 64)]
    for r in recipes:
        assert r.claimed_length == 256 and min(r.train_lengths) == 128
        assert r.tasks == ("niah_single_1", "niah_single_2")
        assert (r.train_lengths, r.lr, r.model) == (recipes[0].train_lengths, recipes[0].lr, recipes[0].model)


def test_training_samples_have_the_drawn_length_and_end_with_eos():
    tokenizer = course_tokenizer()
    recipe = recipe_for("ch02_ruler_local64")
    data = TrainingSamples(tokenizer, recipe)
    rng = random.Random(0)
    budget = recipe.tokens_to_generate["niah"]
    unit = len(tokenizer.encode("\n" + NOISE))  # the noise haystack grows by whole paragraphs, the essay by words
    for length in (128, 192, 256):
        for _ in range(3):
            prompt, answer = data.draw(rng, length)
            assert length - budget - unit <= len(prompt) <= length - budget, (length, len(prompt))
            assert answer[-1] == tokenizer.eos_id and len(answer) <= budget


def _scores(name: str, lengths: tuple[int, ...], tasks: tuple[str, ...]) -> dict[str, dict[int, float]]:
    model, _ = load_model(name)
    tokenizer = course_tokenizer()
    values = reduced_settings()
    samples = make_samples(tokenizer, lengths, 6, tasks=tasks, seed=7,
                           tokens_to_generate=values["tokens_to_generate"], vt_example_length=values["vt_example_length"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return evaluate(GreedyLM(model, tokenizer), samples, name, progress=False).table
    finally:
        torch.set_num_threads(threads)


def test_shipped_full_attention_model_retrieves_at_128_and_falls_before_its_claimed_length():
    model, recipe = load_model("ch02_ruler_full256")
    assert recipe.claimed_length == 256 and recipe.short_steps == 500
    table = _scores("ch02_ruler_full256", (128, 256), ("niah_single_1", "niah_single_2", "niah_multikey_2"))
    trained = {n: (table["niah_single_1"][n] + table["niah_single_2"][n]) / 2 for n in (128, 256)}
    assert trained[128] >= 80 and trained[256] <= trained[128] - 30, table  # the trained tasks: 12 samples per length
    assert table["niah_multikey_2"][256] <= 50, f"the distractor task should fail at the claimed length: {table}"


def test_shipped_segment_models_load_with_their_recipes():
    for name, memory in [("ch02_ruler_infini64", "delta"), ("ch02_ruler_local64", "off")]:
        model, recipe = load_model(name)
        assert (recipe.memory, recipe.segment_len, model.cfg.memory) == (memory, 64, memory)
