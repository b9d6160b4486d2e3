"""Attention masks of iLLaMA: bidirectional, causal, modified causal, and the soft mask (chapter 03)."""

from __future__ import annotations

import torch

MASK_KINDS = ("bidirectional", "causal", "modified")
CLS_POSITIONS = ("first", "last")


def class_token_mask(num_tokens: int, kind: str, cls_position: str = "first") -> torch.Tensor:
    r"""Boolean (N, N) mask, True where query i may attend to key j (iLLaMA 2404.06773, eq. 1 and §3.2).

    * ``bidirectional``: every token sees every token (ViT).
    * ``causal``: token i sees tokens 0..i, the additive mask :math:`M_{ij} = -\infty` for j > i of eq. 1.
    * ``modified``: causal, except that the class token (kept first) sees every token: its row is unmasked.

    ``cls_position`` says where the class token sits (``first``: index 0, ``last``: index N-1).
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"mask kind {kind!r} is not one of {MASK_KINDS}")
    if cls_position not in CLS_POSITIONS:
        raise ValueError(f"cls_position {cls_position!r} is not one of {CLS_POSITIONS}")
    if num_tokens < 1:
        raise ValueError(f"num_tokens={num_tokens}: a sequence needs at least one token")
    if kind == "bidirectional":
        return torch.ones(num_tokens, num_tokens, dtype=torch.bool)
    mask = torch.ones(num_tokens, num_tokens, dtype=torch.bool).tril()  # (N, N)
    if kind == "modified":
        cls = 0 if cls_position == "first" else num_tokens - 1
        mask[cls, :] = True
    return mask


def soft_mask(hard_mask: torch.Tensor, alpha: float) -> torch.Tensor:
    r"""The soft mask of iLLaMA (2404.06773, eq. 2): :math:`S = \alpha B + (1 - \alpha) C`.

    B is all ones (bidirectional), C the hard (causal) mask as 0/1. ``alpha`` goes from 1 to 0
    during training. Returns a float (N, N) matrix with entries alpha where C hides and 1 elsewhere.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"soft-mask alpha={alpha} must lie in [0, 1] (1: bidirectional, 0: the hard mask)")
    return alpha + (1.0 - alpha) * hard_mask.float()


def soft_mask_bias(hard_mask: torch.Tensor, alpha: float) -> torch.Tensor:
    r"""The soft mask as an additive score bias :math:`\log S` (``-inf`` where S = 0).

    :math:`\mathrm{softmax}(A + \log S) = \frac{\mathrm{softmax}(A) \odot S}{\text{row sums}}`: eq. 2 with
    its rows renormalised, so that alpha = 0 is exactly the causal mask of eq. 1 (the course's
    choice; the paper's code multiplies after the softmax and does not renormalise).
    """
    return torch.log(soft_mask(hard_mask, alpha))
