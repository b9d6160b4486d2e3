"""Chapter 03's claims: each says "does not reproduce" (or is a tie, so it is not a reproduction) on the per-seed
accuracies of a plausible broken variant, and the claims asserted on test are those that reproduced on validation."""

from __future__ import annotations

import pytest

from course_lib.claims import FAILS, REPRODUCES, TIE, choose_on_validation, failed_claims, split_agreement
from course_lib.vision.verdicts import judge

CHANCE, ENTROPY = 0.102, 2.302
NOT_REPRODUCED = {TIE, FAILS}  # an asserted claim fails the run with either
GOOD = {  # a run where every claim holds: accuracy per seed (three seeds)
    "ViT": (0.70, 0.71, 0.69),
    "+ SwiGLU": (0.80, 0.82, 0.81),
    "+ RMSNorm": (0.82, 0.83, 0.84),
    "+ causal mask": (0.100, 0.101, 0.100),
    "+ post-sequence cls": (0.84, 0.86, 0.85),
    "(ablation) modified mask": (0.83, 0.84, 0.84),
    "+ RoPE": (0.89, 0.90, 0.91),
    "+ learnable PE back": (0.90, 0.91, 0.92),
    "+ data augmentation": (0.92, 0.93, 0.935),
    "+ soft mask": (0.935, 0.945, 0.95),
}


def _claim(claims, words):
    (claim,) = [c for c in claims if words in c.paper]
    return claim


def _row(name, accs):
    return judge({**GOOD, name: accs}, 2.303, CHANCE, ENTROPY)


def test_every_claim_reproduces_on_a_good_run():
    claims = judge(GOOD, 2.303, CHANCE, ENTROPY)
    assert len(claims) == 9
    assert [c.verdict for c in claims] == [REPRODUCES] * len(claims), [(c.paper, c.verdict) for c in claims if c.verdict != REPRODUCES]


@pytest.mark.parametrize("words, row, accs, verdicts", [
    # the causal mask not applied (class_token_mask returns the bidirectional mask): no collapse
    ("collapse to chance", "+ causal mask", (0.80, 0.82, 0.81), {FAILS}),
    # the post-sequence class token still placed first: it stays at chance
    ("+ post-sequence cls recovers", "+ post-sequence cls", (0.10, 0.11, 0.10), {FAILS}),
    # the modified mask does not unmask the class token's row: it stays at chance
    ("modified mask recovers", "(ablation) modified mask", (0.10, 0.10, 0.12), {FAILS}),
    # a repaired causal model far below the bidirectional one (e.g. the class token sees only a prefix)
    ("+ post-sequence cls is no more than", "+ post-sequence cls", (0.60, 0.62, 0.61), {FAILS}),
    ("modified mask is no more than", "(ablation) modified mask", (0.55, 0.60, 0.58), {FAILS}),
    # SwiGLU's gate dropped (a plain two-layer MLP that trains worse)
    ("+ SwiGLU improves", "+ SwiGLU", (0.66, 0.69, 0.67), NOT_REPRODUCED),
    # RoPE angles that do not depend on the position (every angle zero): the row loses the learnable PE
    ("+ RoPE improves", "+ RoPE", (0.80, 0.82, 0.81), NOT_REPRODUCED),
    # mixes that destroy the digits
    ("+ data augmentation improves", "+ data augmentation", (0.85, 0.86, 0.84), NOT_REPRODUCED),
    # a soft mask that never becomes causal at training time, so inference sees another mask
    ("+ soft mask improves", "+ soft mask", (0.90, 0.93, 0.94), NOT_REPRODUCED),
])
def test_a_broken_variant_does_not_reproduce(words, row, accs, verdicts):
    assert _claim(judge(GOOD, 2.303, CHANCE, ENTROPY), words).verdict == REPRODUCES
    assert _claim(_row(row, accs), words).verdict in verdicts


def test_a_collapse_that_learned_something_from_the_labels_alone_is_not_a_collapse_to_chance():
    # accuracy at chance but a loss far from the label entropy: the model did not settle on the label prior
    assert _claim(judge(GOOD, 2.9, CHANCE, ENTROPY), "collapse to chance").verdict == FAILS


def test_a_noisy_gain_is_a_tie():
    claim = _claim(_row("+ soft mask", (0.90, 0.99, 0.93)), "+ soft mask improves")
    assert claim.verdict == TIE


def test_a_claim_chosen_on_validation_is_asserted_and_fails_the_run_when_test_breaks():
    validation = judge(GOOD, 2.303, CHANCE, ENTROPY)
    chosen = choose_on_validation(validation, judge(GOOD, 2.303, CHANCE, ENTROPY))
    assert all(c.asserted for c in chosen) and not failed_claims(chosen)
    broken = choose_on_validation(validation, _row("+ post-sequence cls", (0.10, 0.11, 0.10)))
    assert any("+ post-sequence cls recovers" in line for line in failed_claims(broken))
    assert "validation: " in broken[1].run and "; test: " in broken[1].run


def test_a_claim_that_did_not_reproduce_on_validation_is_printed_not_asserted():
    validation = _row("+ soft mask", (0.90, 0.99, 0.93))  # a tie on validation
    chosen = choose_on_validation(validation, judge(GOOD, 2.303, CHANCE, ENTROPY))
    claim = _claim(chosen, "+ soft mask improves")
    assert not claim.asserted and claim.verdict == REPRODUCES and "-> " + TIE in claim.run
    assert not failed_claims(chosen)


def test_split_agreement_names_the_claims_whose_verdicts_differ():
    good = judge(GOOD, 2.303, CHANCE, ENTROPY)
    assert split_agreement(good, good) == ["the two splits give the same verdict on 9 of 9 claims"]
    lines = split_agreement(good, _row("+ RoPE", (0.80, 0.82, 0.81)))
    assert lines[0] == "the two splits give the same verdict on 8 of 9 claims"
    assert len(lines) == 2 and "+ RoPE improves" in lines[1] and f"validation {REPRODUCES}, test {FAILS}" in lines[1]


def test_rows_must_have_one_accuracy_per_seed():
    with pytest.raises(ValueError):
        _row("+ RoPE", (0.89, 0.90))


def test_singular_values_needed_counts_the_rank_of_a_map():
    import torch

    from course_lib.vision.verdicts import singular_values_needed

    n = 9
    alike = torch.softmax(torch.randn(1, n).expand(n, n), -1)  # every row the same: rank 1
    causal = torch.softmax(torch.randn(n, n).masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf")), -1)
    assert singular_values_needed(alike).item() == 1
    assert singular_values_needed(torch.eye(n)).item() == n  # equal singular values: all are needed
    assert singular_values_needed(torch.stack([alike, causal])).shape == (2,)
    assert singular_values_needed(causal).item() > singular_values_needed(alike).item()


def test_the_rank_claim_reproduces_and_fails_on_a_broken_variant():
    import torch

    from course_lib.vision.verdicts import rank_claim, singular_values_needed

    torch.manual_seed(0)
    n, seeds = 17, 3
    logits = [torch.randn(8, n, n) * 0.3 for _ in range(seeds)]  # flat logits: bidirectional maps are near rank 1
    causal = torch.ones(n, n).triu(1).bool()
    vit = [singular_values_needed(torch.softmax(x, -1)).mean().item() for x in logits]
    illama = [singular_values_needed(torch.softmax(x.masked_fill(causal, float("-inf")), -1)).mean().item() for x in logits]
    assert rank_claim(vit, illama, n).verdict == REPRODUCES
    # broken: the iLLaMA's maps taken without its causal mask (the mask not applied): no higher rank
    broken = [singular_values_needed(torch.softmax(x + 0.01 * torch.randn(n, n), -1)).mean().item() for x in logits]
    assert rank_claim(vit, broken, n).verdict in NOT_REPRODUCED
    # a difference within the seeds' noise is a tie, not a reproduction
    assert rank_claim([4.0, 6.0, 5.0], [6.5, 4.5, 5.6], n).verdict == TIE
