"""Scaled dot-product attention with masks (chapter 01)."""

from __future__ import annotations

import math

import torch


def causal_mask(num_queries: int, num_keys: int | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Boolean mask, True where query i may attend to key j (j <= i, aligned at the end).

    With ``num_keys > num_queries`` the queries are the last ``num_queries`` positions.
    """
    num_keys = num_queries if num_keys is None else num_keys
    offset = num_keys - num_queries
    q = torch.arange(num_queries, device=device)[:, None]
    k = torch.arange(num_keys, device=device)[None, :]
    return k <= q + offset


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    r"""Attention of Vaswani et al. (2017), the local path of Infini-attention (2404.07143, eq. 2).

    .. math:: A_{dot} = \mathrm{softmax}\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V

    q: (..., N_q, d_k), k: (..., N_k, d_k), v: (..., N_k, d_v). ``mask`` is boolean,
    broadcastable to (..., N_q, N_k), True = may attend, or (chapter 03) a float tensor added
    to the scores (an additive mask: 0 = attend, -inf = hidden, log S for iLLaMA's soft mask).
    ``causal=True`` adds the causal mask.
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., N_q, N_k)
    if mask is not None and mask.is_floating_point():
        scores = scores + mask
        mask = None
    if causal:
        cm = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
        mask = cm if mask is None else (mask & cm)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v  # (..., N_q, d_v)
