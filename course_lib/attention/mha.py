"""Multi-head attention (chapter 01), built on :func:`scaled_dot_product_attention`."""

from __future__ import annotations

import torch
from torch import nn

from course_lib.attention.sdpa import scaled_dot_product_attention


class MultiHeadAttention(nn.Module):
    r"""Multi-head self-attention: :math:`O = [A^1 \dots A^H] W_O` with per-head SDPA."""

    def __init__(self, d_model: int, num_heads: int, causal: bool = True, bias: bool = False) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.causal = causal
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N, D) -> q, k, v each (B, H, N, d_head)."""
        B, N, _ = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, self.d_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, N, d_head)
        return q, k, v

    def merge_heads(self, a: torch.Tensor) -> torch.Tensor:
        """(B, H, N, d_head) -> (B, N, D) through W_O."""
        B, H, N, d = a.shape
        return self.out(a.transpose(1, 2).reshape(B, N, H * d))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.split_heads(x)
        return self.merge_heads(scaled_dot_product_attention(q, k, v, mask=mask, causal=self.causal))
