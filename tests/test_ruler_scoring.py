"""RULER scoring: the two string-match metrics, per-length means, effective length and wAvg,
checked against the paper's GPT-4 row (Table 3)."""

from __future__ import annotations

import pytest

from course_lib.longctx.ruler.scoring import (
    effective_length,
    length_scores,
    string_match_all,
    string_match_part,
    weighted_average,
)

# Paper Table 3, GPT-4 (claimed 128K): scores at 4K, 8K, 16K, 32K, 64K, 128K; wAvg inc 89.0, dec 94.1.
GPT4 = {4096: 96.6, 8192: 96.3, 16384: 95.2, 32768: 93.2, 65536: 87.0, 131072: 81.2}


def test_weighted_averages_reproduce_the_gpt4_row():
    assert round(weighted_average(GPT4, "inc"), 1) == 89.0
    assert round(weighted_average(GPT4, "dec"), 1) == 94.1
    assert weighted_average({1: 50.0, 2: 50.0}, "inc") == 50.0


def test_effective_length_of_the_gpt4_row_is_64k():
    assert effective_length(GPT4, 85.6) == 65536  # Llama-2-7B at 4K is the threshold
    assert effective_length({4096: 80.0, 8192: 90.0}, 85.6) is None  # the paper's "<4K"
    assert effective_length({4096: 85.6}, 85.6) == 4096  # reaching the threshold counts
    assert effective_length({1: 90.0, 2: 80.0, 3: 90.0}, 85.6) == 1  # a dip ends it


def test_string_match_all_counts_the_fraction_of_references_found():
    assert string_match_all(["the numbers are 123 and 456"], [["123", "456"]]) == 100.0
    assert string_match_all(["only 123"], [["123", "456"]]) == 50.0
    assert string_match_all(["ABC", "x"], [["abc"], ["y"]]) == 50.0  # case-insensitive, mean over samples


def test_string_match_part_needs_one_reference():
    assert string_match_part(["Paris, France"], [["paris", "lyon"]]) == 100.0
    assert string_match_part(["Rome"], [["paris", "lyon"]]) == 0.0
    assert string_match_all(["Paris"], [["paris", "lyon"]]) == 50.0


def test_length_scores_average_over_tasks():
    table = {"a": {1: 100.0, 2: 50.0}, "b": {1: 0.0, 2: 50.0}}
    assert length_scores(table) == {1: 50.0, 2: 50.0}
    with pytest.raises(ValueError, match="every task needs a score at every length"):
        length_scores({"a": {1: 1.0, 2: 1.0}, "b": {1: 1.0}})


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="same non-zero length"):
        string_match_all(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="same non-zero length"):
        string_match_all("abc", [["a"], ["b"], ["c"]])
    with pytest.raises(ValueError, match="non-empty list of strings"):
        string_match_part(["a"], ["a"])
    with pytest.raises(ValueError, match="'inc' weighs long lengths"):
        weighted_average(GPT4, "up")
