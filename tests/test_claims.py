"""The claim verdicts of chapters 01-04 with numbers: each claim says "does not reproduce" on
the numbers of a plausible broken variant, and a difference within noise is a tie."""

from __future__ import annotations

import pytest

from course_lib.claims import (
    FAILS,
    REPRODUCES,
    TIE,
    Claim,
    claims_table,
    difference_interval,
    failed_claims,
    paired_interval,
    verdict_at_least,
    verdict_greater,
    verdict_not_worse,
    wilson_interval,
)


def test_wilson_interval_contains_the_accuracy_and_narrows_with_n():
    low, high = wilson_interval(9, 24)
    assert low < 9 / 24 < high
    assert wilson_interval(90, 240)[1] - wilson_interval(90, 240)[0] < high - low
    assert wilson_interval(24, 24)[1] == 1.0 and wilson_interval(0, 24)[0] == 0.0
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_ch01_passkey_at_32k_plain_recipe_does_not_reproduce():
    # the claim "finds the passkey at 128x the training length" (bar: 80%), per position, 24 prompts
    assert verdict_greater(*wilson_interval(24, 24), 0.8) == REPRODUCES  # filler repeats: 100%
    assert verdict_greater(*wilson_interval(9, 24), 0.8) == FAILS  # the plain recipe: 38% at 32K


def test_ch03_soft_mask_gain_within_seed_noise_is_a_tie():
    mean, low, high = paired_interval([0.4, 0.2, -0.2])  # the per-seed differences of the first run, in points
    assert verdict_greater(low, high) == TIE
    assert verdict_greater(*paired_interval([0.4, 0.6, 0.5])[1:]) == REPRODUCES
    assert verdict_greater(*paired_interval([-0.4, -0.6, -0.5])[1:]) == FAILS


def test_ch03_recovery_is_two_sided_and_fails_for_the_collapsed_model():
    # "post-sequence class token recovers to within 5 points of the bidirectional model", paired over seeds
    collapsed = paired_interval([10.1 - 83.9, 10.0 - 80.5, 10.2 - 87.0])
    assert verdict_not_worse(collapsed[1], collapsed[2], margin=5.0) == FAILS
    recovered = paired_interval([1.2, 0.8, 1.5])
    assert verdict_not_worse(recovered[1], recovered[2], margin=5.0) == REPRODUCES


def test_ch04_shape_only_bridge_on_compositional_questions_does_not_reproduce_binding():
    # "compositional questions test binding: a shape-only bridge is at chance (0.5, at most 15 points above)"
    d, low, high = difference_interval(0.80, 300, 0.5, 300)  # the unbalanced questions of the first run
    assert verdict_greater(-high, -low, -0.15) == FAILS
    d, low, high = difference_interval(0.53, 196, 0.5, 196)  # the balanced ones (hard negatives)
    assert verdict_greater(-high, -low, -0.15) == REPRODUCES


def test_difference_interval_floors_a_perfect_score():
    d, low, high = difference_interval(1.0, 300, 1.0, 300)
    assert d == 0 and low < 0 < high  # two perfect scores tie; they are not "certainly equal"


def test_table_and_failed_claims():
    claims = [Claim("A beats B (Table 1)", "+3 [1, 5]", REPRODUCES), Claim("C beats D", "+0.1 [-1, 1]", TIE, asserted=False),
              Claim("E", "x", FAILS)]
    table = claims_table(claims)
    assert table.splitlines()[0] == "| paper claim | this run | verdict |"
    assert "(not asserted)" in table
    assert failed_claims(claims) == ["E: x -> does not reproduce"]
    assert verdict_at_least(16896, 16896) == REPRODUCES and verdict_at_least(1, 2) == FAILS


def test_difference_interval_stays_within_the_possible_range():
    d, low, high = difference_interval(1.0, 24, 0.0, 24)
    assert d == 1.0 and low < 1.0 and high == 1.0


def test_wilson_interval_holds_a_perfect_or_null_score_exactly():
    assert wilson_interval(60, 60)[1] == 1.0 and wilson_interval(0, 60)[0] == 0.0
    assert wilson_interval(60, 60)[0] < 1.0 and wilson_interval(0, 60)[1] > 0.0
