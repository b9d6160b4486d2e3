"""Chapter 01's claims: each reproduces on numbers like the run's and does not on those of a plausible broken variant."""

from __future__ import annotations

from course_lib.claims import FAILS, REPRODUCES, TIE
from course_lib.longctx.verdicts import beyond_training_claim, fixed_memory_claim, memory_off_claim

LENGTHS, SAMPLES, TRAIN = (256, 2048, 8192, 32768), 24, 256
POSITIONS = ("start", "middle", "end")


def _acc(start, middle=None, end=1.0):
    middle = start if middle is None else middle
    return {(n, p): v for n in LENGTHS for p, v in zip(POSITIONS, (start, middle, end))}


def test_retrieval_beyond_the_training_length():
    assert beyond_training_claim("Linear + Delta", _acc(1.0), 32768, TRAIN, SAMPLES).verdict == REPRODUCES
    # the paper's plain recipe at 32K (first run: 38% at the start): the memory read fades
    plain = beyond_training_claim("plain", _acc(9 / 24, 1.0), 32768, TRAIN, SAMPLES, positions=("start", "middle"))
    assert plain.verdict == FAILS and "worst position (start)" in plain.run and "plain" in plain.paper
    # a memory that is never written (the update dropped): chance at the start and middle
    assert beyond_training_claim("no update", _acc(0.0), 32768, TRAIN, SAMPLES).verdict == FAILS
    assert beyond_training_claim("few", _acc(20 / 24), 32768, TRAIN, SAMPLES).verdict == TIE  # 83%: within noise of 80%


def test_the_memory_off_baseline():
    assert memory_off_claim(_acc(0.0), LENGTHS, SAMPLES).verdict == REPRODUCES
    # a broken baseline whose "memory off" still carries the earlier segments (the state not reset): it finds keys
    assert memory_off_claim(_acc(0.9), LENGTHS, SAMPLES).verdict == FAILS


def test_the_memory_has_a_fixed_size():
    fixed = [(n, 16_896, 140_608, 2 * 2 * n * 128 * 4) for n in LENGTHS]
    assert fixed_memory_claim(fixed).verdict == REPRODUCES
    # a broken memory that appends each segment (a KV cache in disguise): the state grows with the length
    growing = [(n, 66 * n, 140_608 + 66 * n, 2 * 2 * n * 128 * 4) for n in LENGTHS]
    assert fixed_memory_claim(growing).verdict == FAILS
    # a fixed state but a streaming peak that grows (the prompt's activations kept): not a fixed footprint
    leaking = [(n, 16_896, 140_608 + n, 0) for n in LENGTHS]
    assert fixed_memory_claim(leaking).verdict == FAILS
