"""RULER generators: every task hits its target length under two tokenizers, the oracle recovers
every answer, samples are reproducible one by one, bad input gets a clear error."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from course_lib.longctx.ruler import tasks as T
from course_lib.longctx.ruler.evaluate import evaluate, make_samples
from course_lib.longctx.ruler.models import NeedleLookup, Oracle
from course_lib.longctx.ruler.templates import TASK_NAMES, TOKENS_TO_GENERATE
from course_lib.longctx.ruler.text import count_tokens, course_tokenizer

REDUCED = {"niah": 48, "variable_tracking": 30, "common_words_extraction": 40, "freq_words_extraction": 24, "qa": 16}
LENGTHS = (512, 1024, 2048)


def _close(sample, tokenizer, seed=0, budgets=REDUCED, vt_example_length=160) -> bool:
    """Never above the target, and the largest haystack that fits: the same sample with one more
    unit (an essay word, a whole noise paragraph, distractor needle or document) goes over it."""
    if sample.total_tokens > sample.length:
        return False
    bigger = T.generate_sample(sample.task, sample.length, tokenizer, sample.index, seed, tokens_to_generate=budgets,
                               vt_example_length=vt_example_length, haystack_size=sample.haystack_size + 1)
    return bigger.total_tokens > sample.length


@pytest.fixture(scope="module")
def word_grid():
    return make_samples(course_tokenizer(), LENGTHS, 3, tokens_to_generate=REDUCED, vt_example_length=160)


@pytest.fixture(scope="module")
def hf_grid(hf_tokenizer):
    return make_samples(hf_tokenizer, (1024, 2048), 2, seed=7, tokens_to_generate=REDUCED, vt_example_length=160)


def test_every_task_hits_its_length_with_the_word_tokenizer(word_grid):
    tok = course_tokenizer()
    for (task, length), samples in word_grid.items():
        for s in samples:
            assert s.prompt_tokens == count_tokens(tok, s.prompt)
            assert _close(s, tok), f"{task} at {length}: {s.total_tokens} tokens"


def test_every_task_hits_its_length_with_a_hugging_face_tokenizer(hf_grid, hf_tokenizer):
    for (task, length), samples in hf_grid.items():
        for s in samples:
            assert s.prompt_tokens == len(hf_tokenizer(s.prompt, add_special_tokens=False)["input_ids"])
            assert _close(s, hf_tokenizer, seed=7), f"{task} at {length} (BPE): {s.total_tokens} tokens"


def test_paper_budgets_at_4k_with_a_hugging_face_tokenizer(hf_tokenizer):
    for task in TASK_NAMES:
        s = T.generate_sample(task, 4096, hf_tokenizer, tokens_to_generate=TOKENS_TO_GENERATE)
        assert _close(s, hf_tokenizer, budgets=TOKENS_TO_GENERATE, vt_example_length=500) and s.tokens_to_generate == TOKENS_TO_GENERATE[T.TASKS[task].family]
        assert Oracle()(s.prompt).count(s.outputs[0]) >= 1


def test_the_oracle_scores_100_on_every_task_and_length(word_grid, hf_grid):
    for grid in (word_grid, hf_grid):
        result = evaluate(Oracle(), grid, "oracle", progress=False)
        for task, row in result.table.items():
            assert all(score == 100.0 for score in row.values()), (task, row)


def test_the_needle_lookup_solves_niah_and_fails_aggregation(word_grid):
    result = evaluate(NeedleLookup(), word_grid, "regex", progress=False)
    for task, row in result.table.items():
        if task.startswith("niah"):
            assert min(row.values()) == 100.0, task
        elif task in ("cwe", "fwe", "qa_1", "qa_2"):
            assert max(row.values()) == 0.0, task
    assert max(result.table["vt"].values()) == pytest.approx(20.0)  # one hop of five


def test_samples_are_reproducible_one_by_one():
    tok = course_tokenizer()
    for task in TASK_NAMES:
        a = T.generate_sample(task, 1024, tok, index=2, seed=3, tokens_to_generate=REDUCED, vt_example_length=160)
        batch = T.generate_samples(task, 1024, tok, 3, seed=3, tokens_to_generate=REDUCED, vt_example_length=160)
        assert a.prompt == batch[2].prompt and a.outputs == batch[2].outputs
        other = T.generate_sample(task, 1024, tok, index=2, seed=4, tokens_to_generate=REDUCED, vt_example_length=160)
        assert other.prompt != a.prompt


def test_needles_values_and_depths():
    tok = course_tokenizer()
    s = T.generate_sample("niah_single_2", 2048, tok, tokens_to_generate=REDUCED)
    assert re.fullmatch(r"[1-9]\d{6}", s.outputs[0])
    needle = re.search(r"One of the special magic numbers for ([a-z]+-[a-z]+) is: (\d{7})\.", s.input)
    assert needle and needle.group(2) == s.outputs[0]
    u = T.generate_sample("niah_single_3", 1024, tok, tokens_to_generate=REDUCED)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u.outputs[0])
    assert T.DEPTHS[:3] == [0, 3, 5] and T.DEPTHS[-1] == 100 and len(T.DEPTHS) == 40
    assert T.insert_at_depths(["a", "b", "c", "d"], ["X", "Y"], [50, 0]) == ["X", "a", "b", "Y", "c", "d"]  # positions sorted, items in order
    mk = T.generate_sample("niah_multikey_1", 2048, tok, tokens_to_generate=REDUCED)
    assert mk.input.count("One of the special magic numbers for") == 4 and len(mk.outputs) == 1
    mq = T.generate_sample("niah_multiquery", 2048, tok, tokens_to_generate=REDUCED)
    assert len(mq.outputs) == 4 and ", and " in mq.input.rsplit("\n", 1)[1]
    mk3 = T.generate_sample("niah_multikey_3", 1024, tok, tokens_to_generate=REDUCED)
    assert mk3.input.count("One of the special magic uuids for") > 5  # a haystack of distractor needles


def test_variable_tracking_chain_and_one_shot():
    s = T.generate_sample("vt", 1024, course_tokenizer(), tokens_to_generate=REDUCED, vt_example_length=160)
    main = s.input.split("Memorize and track")[-1]
    lines = [l.strip() for l in main.splitlines() if l.startswith("VAR")]
    assert len(lines) == 5 and all(len(n) == 5 and n.isupper() for n in s.outputs)
    assert lines[0] == f"VAR {s.outputs[0]} = {lines[0].split('= ')[1]}"
    assert all(lines[j + 1] == f"VAR {s.outputs[j + 1]} = VAR {s.outputs[j]}" for j in range(4))
    example = s.input.split("Memorize and track")[1]
    assert re.search(r"they are:  [A-Z]{3} [A-Z]{3} [A-Z]{3} [A-Z]{3} [A-Z]{3}\n", example)


def test_common_words_are_the_most_frequent():
    s = T.generate_sample("cwe", 2048, course_tokenizer(), tokens_to_generate=REDUCED)
    listing = s.input.split("most often.\n")[-1].split("\nQuestion:")[0]
    counts = Counter(re.findall(r"\d+\. (\S+)", listing))
    assert all(counts[w] == 6 for w in s.outputs) and len(s.outputs) == 10  # reference below 4K: 6 and 1
    assert max(c for w, c in counts.items() if w not in s.outputs) == 1
    numbers = [int(n) for n in re.findall(r"(\d+)\. \S+", listing)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert T.cwe_repeats(8192) == ((40, 10, 3), (30, 3))


def test_frequent_words_follow_the_zeta_law():
    assert T.zeta(2.0) == pytest.approx(3.141592653589793**2 / 6, rel=1e-9)
    assert T.fwe_counts(1000, 5, 2.0) == [int(1000 * k**-2 / T.zeta(2.0)) for k in range(1, 6)]
    s = T.generate_sample("fwe", 2048, course_tokenizer(), tokens_to_generate=REDUCED)
    coded = s.input.split("coded words. ")[1].split("\nQuestion:")[0].split()
    counts = Counter(coded)
    assert counts.most_common(1)[0][0] == "..."  # rank 1 is noise
    assert [w for w, _ in counts.most_common(4)[1:]] == s.outputs
    assert len(counts) <= (2048 - REDUCED["freq_words_extraction"]) // 50  # vocabulary of max_len // 50


def test_qa_is_a_labelled_synthetic_substitute():
    tok = course_tokenizer()
    q1 = T.generate_sample("qa_1", 1024, tok, tokens_to_generate=REDUCED)
    q2 = T.generate_sample("qa_2", 1024, tok, tokens_to_generate=REDUCED)
    assert re.search(r"Question: (Where was|What does) [A-Z][a-z]+ [A-Z][a-z]+ (born|work as)\?$", q1.input)
    assert "In which country was" in q2.input.rsplit("Question:", 1)[1]
    assert q2.outputs[0] in q2.input
    assert "stand-in" in T.qa_facts.__doc__


def test_too_short_a_length_and_unknown_task_are_explained():
    with pytest.raises(ValueError, match="too short for task 'cwe'.*at least"):
        T.generate_sample("cwe", 256, course_tokenizer(), tokens_to_generate=REDUCED)
    with pytest.raises(KeyError, match="unknown RULER task 'niah'.*niah_single_1"):
        T.generate_sample("niah", 1024, course_tokenizer())
    with pytest.raises(TypeError, match="encode"):
        count_tokens(object(), "text")


def test_binary_search_finds_the_largest_fitting_size():
    assert T.largest_fitting(lambda n: n <= 1000) == 1000
    assert T.largest_fitting(lambda n: n <= 0) == 0
    assert T.largest_fitting(lambda n: False) is None


def test_haystacks_are_whole_units():
    """Noise, distractor-needle and document haystacks end on a whole unit, as in the reference (an essay
    haystack is counted in words there, so its last sentence may be cut)."""
    from course_lib.longctx.ruler.templates import NOISE

    tok = course_tokenizer()
    for length in (512, 1024):
        noise = T.generate_sample("niah_single_1", length, tok, tokens_to_generate=REDUCED)
        context = noise.input.split("\n", 1)[1].rsplit("\nWhat is", 1)[0]
        lines = [l for l in context.split("\n") if l and "special magic" not in l]
        assert lines and all(l == NOISE for l in lines), lines[-1]
        assert len(lines) == noise.haystack_size
        needles = T.generate_sample("niah_multikey_3", length, tok, tokens_to_generate=REDUCED)
        body = needles.input.split("\n", 1)[1].rsplit("\nWhat are", 1)[0].rsplit("\nWhat is", 1)[0]
        lines = [l for l in body.split("\n") if l]
        pattern = r"One of the special magic uuids for [0-9a-f-]{36} is: [0-9a-f-]{36}\."
        assert all(re.fullmatch(pattern, l) for l in lines), [l for l in lines if not re.fullmatch(pattern, l)][:1]
        qa = T.generate_sample("qa_1", length, tok, tokens_to_generate=REDUCED)
        docs = re.split(r"Document \d+:\n", qa.input)[1:]
        docs[-1] = docs[-1].split("\n\nAnswer the question")[0]
        assert all(d.strip().endswith(".") for d in docs), docs[-1][-60:]
        vt = T.generate_sample("vt", length, tok, tokens_to_generate=REDUCED, vt_example_length=160)
        main = vt.input.split("Memorize and track")[-1].split("\nQuestion:")[0]
        noise_lines = [l.strip() for l in main.split("\n")[1:] if l.strip() and not l.startswith("VAR")]
        assert noise_lines and all(l == NOISE for l in noise_lines), noise_lines[-1]
