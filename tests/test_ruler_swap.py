"""Chapter 02's experiment on the learner's functions: inside ``your_functions`` the RULER
generators and the harness call them; a broken one changes the samples or the scores."""

from __future__ import annotations

import pytest

from course_lib.longctx.ruler import scoring, tasks
from course_lib.longctx.ruler.evaluate import evaluate, make_samples
from course_lib.longctx.ruler.models import Oracle
from course_lib.longctx.ruler.swap import your_functions
from course_lib.longctx.ruler.text import course_tokenizer

BUDGETS = {"niah": 48, "variable_tracking": 30, "common_words_extraction": 40, "freq_words_extraction": 24, "qa": 16}


def _grid():
    return make_samples(course_tokenizer(), (512,), 2, tasks=("niah_single_2", "vt", "fwe"), tokens_to_generate=BUDGETS,
                        vt_example_length=160)


def test_correct_functions_give_the_same_samples_and_scores_and_are_restored():
    reference = _grid()
    original, calls = tasks.largest_fitting, []

    def haystack_size(fits):
        calls.append(1)
        return original(fits)

    with your_functions(insert_needles=tasks.insert_at_depths, haystack_size=haystack_size, zeta_counts=tasks.fwe_counts,
                        string_match_all=scoring.string_match_all):
        mine = _grid()
        assert evaluate(Oracle(), mine, progress=False).by_length()[512] == 100.0
    assert calls and {k: [s.prompt for s in v] for k, v in mine.items()} == {k: [s.prompt for s in v] for k, v in reference.items()}
    assert tasks.largest_fitting is original
    assert scoring.METRIC_FUNCTIONS["string_match_all"] is scoring.string_match_all


def test_a_broken_needle_inserter_loses_the_needle():
    with your_functions(insert_needles=lambda pieces, needles, depths: list(pieces)):  # forgets the needles
        broken = make_samples(course_tokenizer(), (512,), 2, tasks=("niah_single_2",), tokens_to_generate=BUDGETS)
    assert evaluate(Oracle(), broken, progress=False).by_length()[512] < 100.0


def test_unknown_names_are_refused():
    with pytest.raises(ValueError):
        with your_functions(count_tokens=print):
            pass


def test_a_broken_tracer_loses_the_variable_chain():
    with your_functions(trace_variables=lambda text, value: []):  # finds no variable at all
        samples = make_samples(course_tokenizer(), (512,), 2, tasks=("vt",), tokens_to_generate=BUDGETS, vt_example_length=160)
        score = evaluate(Oracle(), samples, progress=False).by_length()[512]
    assert score < 100.0
    assert evaluate(Oracle(), samples, progress=False).by_length()[512] == 100.0  # course_lib's own tracer is back
