"""Chapter 03's claims judged on one split's per-seed scores, and chosen on the validation split (iLLaMA 2404.06773).

Every row of Table 17 is trained with the same seeds; two runs with the same seed differ only by the row's change,
so each row's effect is paired over seeds and carries a 95% Student-t interval (``course_lib.claims``).
:func:`judge` turns one split's accuracies into the chapter's claims: the collapse of the causal mask with the
class token first, the recovery by the post-sequence class token and by the modified mask, how close each repaired
model comes to the bidirectional one, and the gains of SwiGLU, RoPE, augmentation and the soft mask.
:func:`choose_on_validation` (``course_lib.claims``) then asserts on the test split only the claims that reproduced
on the validation split.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from course_lib.claims import Claim, paired_interval, verdict_at_least, verdict_greater, verdict_not_worse
from course_lib.vision.illama import llamafication_steps

# each row's parent: the row it changes (the ablation and the post-sequence class token both repair the causal row)
PARENT = {"+ SwiGLU": "ViT", "+ RMSNorm": "+ SwiGLU", "+ causal mask": "+ RMSNorm", "+ post-sequence cls": "+ causal mask",
          "(ablation) modified mask": "+ causal mask", "+ RoPE": "+ post-sequence cls", "+ learnable PE back": "+ RoPE",
          "+ data augmentation": "+ learnable PE back", "+ soft mask": "+ data augmentation"}
COLLAPSED, BIDIRECTIONAL = "+ causal mask", "+ RMSNorm"  # the collapsed causal row; the last bidirectional row
REPAIRS = ("+ post-sequence cls", "(ablation) modified mask")
GAINS = ("+ SwiGLU", "+ RoPE", "+ data augmentation", "+ soft mask")  # each judged against its parent row
RECOVERY_GAIN = 50.0  # points: "recovers" = the whole interval of the gain over the collapsed row above this
RECOVERY_MARGIN = 5.0  # points: "recovers to the bidirectional model" = not worse than it by more than this (the whole
# interval); a repaired model that beats the bidirectional one passes too, and its run column prints the sign
CHANCE_SLACK = 0.01  # "at chance": accuracy at most the most frequent class's share plus one point ...
LOSS_SLACK = 0.05  # ... and loss within this of the label entropy (the loss of predicting the label prior)


def paired_effect(accuracy: Mapping[str, Sequence[float]], name: str, baseline: str) -> tuple[float, float, float]:
    """``(mean, low, high)`` in accuracy points: row ``name`` minus row ``baseline``, paired by seed."""
    return paired_interval([100 * (a - b) for a, b in zip(accuracy[name], accuracy[baseline], strict=True)])


def judge(accuracy: Mapping[str, Sequence[float]], collapsed_loss: float, chance: float, entropy: float) -> list[Claim]:
    """The chapter's claims on one split.

    ``accuracy[row]``: the row's accuracy (a fraction) on this split, one per seed, in the same seed order for
    every row. ``collapsed_loss``: the collapsed row's mean cross-entropy on this split; ``chance``: the most
    frequent class's share of this split; ``entropy``: the entropy of the training labels. Every returned claim
    is marked asserted; :func:`course_lib.claims.choose_on_validation` decides which the run asserts.
    """
    paper = {step.name: step.paper_tiny for step in llamafication_steps()}
    collapsed_acc = sum(accuracy[COLLAPSED]) / len(accuracy[COLLAPSED])
    claims = [Claim(f"causal mask, class token first: collapse to chance (Table 17: {paper[COLLAPSED]}%)",
                    f"accuracy {100 * collapsed_acc:.1f}% (most frequent class {100 * chance:.1f}%), loss {collapsed_loss:.3f} "
                    f"(label entropy {entropy:.3f})",
                    verdict_at_least(min(chance + CHANCE_SLACK - collapsed_acc, LOSS_SLACK - abs(collapsed_loss - entropy)), 0.0))]
    for name in REPAIRS:
        m, lo, hi = paired_effect(accuracy, name, COLLAPSED)
        claims.append(Claim(f"{name} recovers from the collapse (Table 17: {paper[COLLAPSED]} -> {paper[name]})",
                            f"{m:+.1f} points vs class token first, 95% CI [{lo:+.1f}, {hi:+.1f}]", verdict_greater(lo, hi, RECOVERY_GAIN)))
        m, lo, hi = paired_effect(accuracy, name, BIDIRECTIONAL)
        claims.append(Claim(f"{name} is no more than {RECOVERY_MARGIN:.0f} points below the bidirectional model "
                            f"(Table 17: {paper[name]} vs {paper[BIDIRECTIONAL]})",
                            f"{m:+.1f} points vs bidirectional, 95% CI [{lo:+.1f}, {hi:+.1f}]", verdict_not_worse(lo, hi, RECOVERY_MARGIN)))
    for name in GAINS:
        m, lo, hi = paired_effect(accuracy, name, PARENT[name])
        claims.append(Claim(f"{name} improves on {PARENT[name]} (Table 17: {paper[name] - paper[PARENT[name]]:+.1f})",
                            f"{m:+.1f} points, 95% CI [{lo:+.1f}, {hi:+.1f}]", verdict_greater(lo, hi)))
    return claims


def singular_values_needed(maps, share: float = 0.99):
    """Per attention map: how many of its singular values hold ``share`` of their sum (the paper's rank measure,
    §5), for ``maps`` of shape ``(..., N, N)``; returns a float tensor of the leading shape."""
    import torch

    s = torch.linalg.svdvals(maps)
    s = s / s.sum(-1, keepdim=True)
    return (s.cumsum(-1) < share).sum(-1).float() + 1


def rank_claim(vit_needed: Sequence[float], illama_needed: Sequence[float], tokens: int) -> Claim:
    """"iLLaMA's attention maps have a higher rank than the ViT's" (§5), on per-seed mean counts of singular values
    holding 99% of a map (:func:`singular_values_needed`), paired by seed (the two models share each seed)."""
    differences = [i - v for v, i in zip(vit_needed, illama_needed, strict=True)]
    m, lo, hi = paired_interval(differences)
    vit, ill = sum(vit_needed) / len(vit_needed), sum(illama_needed) / len(illama_needed)
    return Claim("iLLaMA's attention maps have a higher rank than the ViT's (§5)",
                 f"singular values holding 99% of a {tokens}x{tokens} map: ViT {vit:.1f}, iLLaMA {ill:.1f}; "
                 f"difference {m:+.1f}, 95% CI [{lo:+.1f}, {hi:+.1f}]", verdict_greater(lo, hi))
