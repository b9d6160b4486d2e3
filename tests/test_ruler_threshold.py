"""Chapter 02's threshold is fixed before the evaluation, not an evaluated model's own score,
and scores are rounded as the reference rounds them."""

from __future__ import annotations

from course_lib.config import chapter_values
from course_lib.longctx.ruler.evaluate import score
from course_lib.longctx.ruler.scoring import effective_length
from course_lib.longctx.ruler.tasks import Sample


def test_threshold_is_the_papers_fixed_number_at_both_scales():
    assert chapter_values("02", "reduced")["threshold"] == chapter_values("02", "full")["threshold"] == 85.6


def test_a_model_perfect_at_the_shortest_length_does_not_pass_by_construction():
    # with its own score at 128 as the bar, any drop at all would count; with the fixed bar a
    # small dip within noise does not shorten the effective length, and a collapse does
    threshold = chapter_values("02", "reduced")["threshold"]
    assert effective_length({128: 100.0, 160: 95.0, 192: 90.0}, threshold) == 192
    assert effective_length({128: 100.0, 160: 95.0, 192: 90.0}, 100.0) == 128
    assert effective_length({128: 100.0, 160: 35.0, 192: 90.0}, threshold) == 128


def test_scores_are_rounded_to_two_decimals():
    samples = [Sample(task="niah_multivalue", length=128, index=0, input="", answer_prefix="", outputs=["a", "b", "c"],
                      tokens_to_generate=8, prompt_tokens=0, haystack_size=0)]
    assert score("niah_multivalue", samples, ["a"]) == 33.33
