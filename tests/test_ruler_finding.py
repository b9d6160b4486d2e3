"""RULER's finding judged with its noise (course_lib.longctx.ruler.finding) and the task-mix model of chapter 02."""

import pytest
import torch

from course_lib.claims import FAILS, REPRODUCES, TIE
from course_lib.longctx.ruler.evaluate import RulerResult, evaluate, make_samples
from course_lib.longctx.ruler.finding import judge_effective_length, judge_length_scores, learned_tasks, length_intervals
from course_lib.longctx.ruler.models import ContextBlind, GreedyLM, Oracle
from course_lib.longctx.ruler.text import course_tokenizer
from course_lib.longctx.ruler.training import MIX_TASKS, RULER_ASSETS, load_model, recipe_for, reduced_settings

THRESHOLD = 85.6
LENGTHS = (128, 192, 256)


def _samples(num_samples: int, tasks=("niah_single_1", "qa_1"), lengths=LENGTHS):
    values = reduced_settings()
    return make_samples(course_tokenizer(), lengths, num_samples, tasks=tasks, seed=3,
                        tokens_to_generate=values["tokens_to_generate"], vt_example_length=values["vt_example_length"])


class UpTo:
    """The oracle on prompts of at most ``tokens`` tokens, silence on longer ones: a falling curve by design."""

    def __init__(self, tokens: int) -> None:
        self.tokens, self.tokenizer = tokens, course_tokenizer()

    def __call__(self, prompt: str, max_new_tokens: int) -> str:
        return Oracle()(prompt) if len(self.tokenizer.encode(prompt)) <= self.tokens else ""


def test_a_model_that_passes_short_and_fails_long_reproduces_with_its_effective_length():
    samples = _samples(40)
    finding = judge_effective_length(evaluate(UpTo(150), samples, "falls", progress=False), samples, THRESHOLD, LENGTHS)
    assert (finding.passes_short, finding.falls_below, finding.verdict) == (REPRODUCES, REPRODUCES, REPRODUCES)
    assert finding.effective == 128 and finding.claimed == 256
    assert finding.scores[128].score == 100.0 and finding.scores[256].high < THRESHOLD
    assert finding.sentences()[-1].endswith(f": {REPRODUCES}.")


def test_a_perfect_model_and_a_model_that_ignores_the_context_do_not_reproduce():
    samples = _samples(40)
    perfect = judge_effective_length(evaluate(Oracle(), samples, "oracle", progress=False), samples, THRESHOLD, LENGTHS)
    assert (perfect.passes_short, perfect.falls_below, perfect.verdict) == (REPRODUCES, FAILS, FAILS)
    assert perfect.effective == 256
    guess = lambda prompt, max_new_tokens: "1234567 carpenter"  # the same answer whatever the context holds
    blind = judge_effective_length(evaluate(guess, samples, "guess", progress=False), samples, THRESHOLD, LENGTHS)
    # it scores 0 everywhere: "effective < claimed" alone would hold, but a model that never passes shows nothing
    assert blind.falls_below == REPRODUCES and blind.passes_short == FAILS and blind.verdict == FAILS
    assert blind.effective is None and "<128" in blind.sentences()[2]
    assert blind.sentences()[-1].endswith(f"{FAILS} (it does not pass at its shortest length).")
    assert perfect.sentences()[-1].endswith(f"{FAILS} (it stays above the threshold up to its claimed length).")


def test_the_control_asks_the_question_without_the_context():
    sample = _samples(1, tasks=("niah_single_2",), lengths=(256,))[("niah_single_2", 256)][0]
    asked = []
    ContextBlind(lambda prompt, max_new_tokens: asked.append(prompt) or "").batch([sample.prompt], 8)
    assert asked[0].startswith("What is the special magic number for") and asked[0].endswith(sample.answer_prefix)
    assert len(asked[0]) < len(sample.prompt) // 4 and "One of the special magic" not in asked[0]


def test_a_perfect_score_on_few_samples_is_a_tie_not_a_pass():
    samples = _samples(2)  # 4 samples per length: a 95% interval reaching far below 85.6
    finding = judge_effective_length(evaluate(UpTo(150), samples, "few", progress=False), samples, THRESHOLD, LENGTHS)
    assert finding.scores[128].score == 100.0 and finding.scores[128].low < THRESHOLD
    assert finding.passes_short == TIE and finding.verdict == TIE


def test_intervals_use_each_samples_partial_credit():
    samples = _samples(10, tasks=("niah_multivalue",), lengths=(192,))  # 4 values per sample
    half = {key: [", ".join(s.outputs[:2]) for s in cell] for key, cell in samples.items()}
    result = RulerResult("half", {"niah_multivalue": {192: 50.0}}, half)
    score = length_intervals(result, samples)[192]
    assert score.score == 50.0 and score.samples == 10 and score.low < 50.0 < score.high


def test_bad_inputs_are_named():
    samples = _samples(2)
    result = evaluate(Oracle(), samples, "oracle", progress=False)
    with pytest.raises(ValueError, match="threshold"):
        judge_effective_length(result, samples, 0.856, LENGTHS)  # a fraction, not a percentage
    with pytest.raises(ValueError, match="beyond the claimed"):
        judge_effective_length(result, samples, THRESHOLD, (64, 96))
    uneven = {**samples, ("qa_1", 128): samples[("qa_1", 128)][:1]}
    with pytest.raises(ValueError, match="as many samples"):
        judge_effective_length(result, uneven, THRESHOLD, LENGTHS)
    with pytest.raises(KeyError, match="no predictions"):
        judge_effective_length(result, _samples(2, tasks=("fwe",)), THRESHOLD, LENGTHS)


def test_the_mix_recipe_trains_evenly_on_tasks_that_fit_its_shortest_length():
    recipe = recipe_for("ch02_ruler_mix")
    assert recipe.short_steps == 0 and recipe.tasks == MIX_TASKS and len(MIX_TASKS) >= 4
    assert recipe.train_lengths == tuple(range(128, 257, 16)) and recipe.claimed_length == 256
    full = RULER_ASSETS["ch02_ruler_full256"]
    assert (recipe.model, recipe.segment_len, recipe.memory) == (full.model, full.segment_len, full.memory)  # full256's model
    assert recipe.init_from == "ch02_ruler_full256" and recipe.train_lengths == full.train_lengths
    values = reduced_settings()
    for task in MIX_TASKS:  # every task of the mix has a prompt at the shortest training length
        make_samples(course_tokenizer(), (min(recipe.train_lengths),), 1, tasks=(task,),
                     tokens_to_generate=values["tokens_to_generate"], vt_example_length=values["vt_example_length"])


def test_shipped_mix_model_reads_its_context():
    """The shipped model scores more than the same model blind to the context, and the blind one does not
    show RULER's finding (it never passes)."""
    model, recipe = load_model("ch02_ruler_mix")
    assert recipe.tasks == MIX_TASKS and recipe.short_steps == 0
    tokenizer = course_tokenizer()
    samples = _samples(6, tasks=MIX_TASKS, lengths=(128, 256))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seeing = evaluate(GreedyLM(model, tokenizer), samples, "mix", progress=False)
        blind = evaluate(ContextBlind(GreedyLM(model, tokenizer)), samples, "blind", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert seeing.by_length()[128] >= blind.by_length()[128] + 30, (seeing.table, blind.table)
    assert judge_effective_length(blind, samples, THRESHOLD, recipe.train_lengths).verdict == FAILS


def test_scores_alone_give_the_same_finding_for_one_needle_tasks():
    samples = _samples(20, tasks=("niah_single_1", "niah_single_2"))
    result = evaluate(UpTo(150), samples, "falls", progress=False)
    from_samples = judge_effective_length(result, samples, THRESHOLD, LENGTHS)
    from_scores = judge_length_scores("falls", result.by_length(), 40, THRESHOLD, LENGTHS, result.effective_length(THRESHOLD))
    assert from_scores == from_samples


def test_a_model_that_learned_nothing_does_not_show_the_finding_from_its_scores():
    # scores of 0 everywhere fall below the threshold, but a model that never passes is no evidence
    nothing = judge_length_scores("local64", {128: 0.0, 192: 0.0, 256: 0.0}, 60, THRESHOLD, LENGTHS, None)
    assert (nothing.passes_short, nothing.falls_below, nothing.verdict) == (FAILS, REPRODUCES, FAILS)
    falls = judge_length_scores("full256", {128: 100.0, 192: 30.0, 256: 25.0}, 60, THRESHOLD, LENGTHS, 128)
    assert falls.verdict == REPRODUCES and falls.scores[192].high < THRESHOLD
    assert judge_length_scores("few", {128: 100.0, 192: 0.0}, 4, THRESHOLD, LENGTHS, 128).verdict == TIE


def test_learned_tasks_are_those_at_the_threshold_at_a_length():
    table = {"niah_single_1": {128: 100.0, 256: 0.0}, "fwe": {128: 0.0, 256: 0.0}, "qa_1": {128: 85.6, 256: 90.0},
             "niah_multikey_2": {128: 85.0, 256: 100.0}}
    result = RulerResult("r", table, {})
    assert learned_tasks(result, 128, THRESHOLD) == ("niah_single_1", "qa_1")
    assert learned_tasks(result, 256, THRESHOLD) == ("qa_1", "niah_multikey_2")


def test_a_result_restricted_to_some_tasks_scores_their_mean():
    result = RulerResult("r", {"a": {128: 100.0}, "b": {128: 0.0}, "c": {128: 50.0}}, {("a", 128): ["x"], ("b", 128): ["y"]})
    part = result.on_tasks(("a", "c"), "part")
    assert part.name == "part" and part.by_length() == {128: 75.0} and list(part.predictions) == [("a", 128)]
    with pytest.raises(ValueError, match="no scores"):
        result.on_tasks(("a", "z"))
    with pytest.raises(ValueError, match="empty"):
        result.on_tasks(())
