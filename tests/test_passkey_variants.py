"""RULER-style passkey variants (chapter 02): whole sentences, within the length, one true key,
distractors of the answer's type that are never the answer."""

from __future__ import annotations

import pytest
import torch

from course_lib.claims import FAILS, REPRODUCES, difference_interval, verdict_greater
from course_lib.longctx.passkey import KEY_SENTENCE, PasskeyTask
from course_lib.longctx.passkey_variants import VARIANTS, variant_prompt

TASK = PasskeyTask(num_passkeys=100)


@pytest.mark.parametrize("kind", VARIANTS)
def test_prompts_are_whole_sentences_within_the_length(kind):
    g = torch.Generator().manual_seed(0)
    for length, depth in [(256, 0.0), (256, 0.5), (1000, 1.0), (97, 0.3)]:
        ids, key_at = variant_prompt(TASK, kind, length, depth, passkey=42, generator=g)
        assert length - 12 <= len(ids) <= length
        key = TASK.encode(KEY_SENTENCE.format(key=42))
        assert ids[key_at:key_at + len(key)] == key
        text = TASK.decode(ids[TASK.intro_len:-TASK.question_len])
        assert text.endswith(".") and text.count("remember it") == 1
        numbers = [w for w in text.split() if w.isdigit()]
        assert set(numbers) == {"42"} if kind == "vanilla" else "42" in numbers


def test_distractors_are_never_the_passkey_and_do_occur():
    g = torch.Generator().manual_seed(1)
    for kind in VARIANTS[1:]:
        ids, key_at = variant_prompt(TASK, kind, 2048, 0.5, passkey=7, generator=g)
        body = TASK.decode(ids[:key_at] + ids[key_at + TASK.key_len:]).split()
        distractors = [w for w in body if w.isdigit()]
        assert len(distractors) > 10 and "7" not in distractors


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError):
        variant_prompt(TASK, "multivalue", 256, 0.5, 3, torch.Generator())


def test_vanilla_is_not_enough_verdict():
    # the claim: a model perfect on vanilla passkeys drops by more than 30 points on a variant (24 prompts each)
    d, low, high = difference_interval(24 / 24, 24, 0 / 24, 24)
    assert verdict_greater(low, high, 0.3) == REPRODUCES
    # a broken variant that is as easy as vanilla (e.g. distractors never inserted): does not reproduce
    d, low, high = difference_interval(24 / 24, 24, 24 / 24, 24)
    assert verdict_greater(low, high, 0.3) == FAILS
