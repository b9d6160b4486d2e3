"""The shipped retrieval-only RULER model (chapter 02) retrieves needles at its training length."""

import torch

from course_lib.longctx.ruler.evaluate import evaluate, make_samples
from course_lib.longctx.ruler.models import GreedyLM
from course_lib.longctx.ruler.text import course_tokenizer
from course_lib.longctx.ruler.training import RULER_ASSETS, load_model, reduced_settings


def test_niah128_recipe_trains_on_retrieval_only():
    recipe = RULER_ASSETS["ch02_ruler_niah128"]
    assert recipe.tasks == ("niah_single_1",) and recipe.claimed_length == 128


def test_shipped_niah128_model_finds_needles_at_its_training_length():
    model, recipe = load_model("ch02_ruler_niah128")
    assert recipe.tasks == ("niah_single_1",)
    tokenizer = course_tokenizer()
    values = reduced_settings()
    samples = make_samples(tokenizer, (128,), 4, tasks=("niah_single_1", "niah_single_2"), seed=7,
                           tokens_to_generate=values["tokens_to_generate"], vt_example_length=values["vt_example_length"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = evaluate(GreedyLM(model, tokenizer), samples, "niah128", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert result.table["niah_single_1"][128] >= 75, result.predictions


def test_shipped_niah256_model_finds_needles_at_256_tokens():
    model, recipe = load_model("ch02_ruler_niah256")
    assert recipe.claimed_length == 256
    tokenizer = course_tokenizer()
    values = reduced_settings()
    samples = make_samples(tokenizer, (256,), 4, tasks=("niah_single_1",), seed=7,
                           tokens_to_generate=values["tokens_to_generate"], vt_example_length=values["vt_example_length"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = evaluate(GreedyLM(model, tokenizer), samples, "niah256", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert result.table["niah_single_1"][256] >= 75, result.predictions
