"""The pre-norm transformer block with iLLaMA's LLaMAfication switches (chapter 03).

One block, x + Attn(Norm(x)) then x + FFN(Norm(x)), whose parts are chosen by arguments:
LayerNorm or RMSNorm, the ViT's GELU MLP or LLaMA's SwiGLU, RoPE on queries and keys when the
caller passes angles, any mask. Chapter 03's ViT and iLLaMA stack it
(:class:`course_lib.vision.vit.Block`), and so does chapter 04's text decoder
(:class:`course_lib.lm.TinyDecoder`).
"""

from __future__ import annotations

import torch
from timm.layers import DropPath
from torch import nn

from course_lib.attention.mha import MultiHeadAttention
from course_lib.attention.rmsnorm import RMSNorm
from course_lib.attention.rope import apply_rope
from course_lib.attention.sdpa import scaled_dot_product_attention
from course_lib.attention.swiglu_ffn import SwiGLU, swiglu_hidden_dim

NORMS = ("layernorm", "rmsnorm")
FFNS = ("mlp", "swiglu")


class MLP(nn.Module):
    """The ViT feed-forward block: Linear, GELU, Linear (names as in timm: fc1, fc2) (chapter 03)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(MultiHeadAttention):
    """Chapter 01's multi-head attention, with RoPE on queries and keys when given angles (chapter 03)."""

    def __init__(self, dim: int, num_heads: int, bias: bool = True) -> None:
        super().__init__(dim, num_heads, causal=False, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, angles: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.split_heads(x)  # each (B, H, N, d_head)
        if angles is not None:
            q, k = apply_rope(q, angles), apply_rope(k, angles)
        return self.merge_heads(scaled_dot_product_attention(q, k, v, mask=mask))

    def attention_weights(self, x: torch.Tensor, mask: torch.Tensor | None = None, angles: torch.Tensor | None = None) -> torch.Tensor:
        """The attention maps softmax(QK^T/sqrt(d) + mask), (B, H, N, N): attention applied to V = identity."""
        q, k, _ = self.split_heads(x)
        if angles is not None:
            q, k = apply_rope(q, angles), apply_rope(k, angles)
        eye = torch.eye(q.shape[-2], dtype=q.dtype, device=q.device).expand(*q.shape[:-1], q.shape[-2])
        return scaled_dot_product_attention(q, k, eye, mask=mask)


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(Norm(x)), then x + FFN(Norm(x)) (chapter 03).

    ``norm``: ``'layernorm'`` or ``'rmsnorm'`` (eps ``norm_eps``); ``ffn``: ``'mlp'`` (hidden
    ``mlp_ratio * dim``) or ``'swiglu'`` (hidden :func:`swiglu_hidden_dim` of ``mlp_ratio`` and
    ``swiglu_multiple_of``); ``qkv_bias``: biases in the attention's projections; ``drop_path``:
    stochastic depth on both branches. RoPE is applied when ``forward`` gets ``angles``.
    """

    def __init__(self, dim: int, num_heads: int, *, norm: str = "layernorm", ffn: str = "mlp", mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, swiglu_multiple_of: int = 256, norm_eps: float = 1e-6, drop_path: float = 0.0) -> None:
        super().__init__()
        if norm not in NORMS or ffn not in FFNS:
            raise ValueError(f"TransformerBlock: norm={norm!r} must be one of {NORMS} and ffn={ffn!r} one of {FFNS}")
        make_norm = (lambda: nn.LayerNorm(dim, eps=norm_eps)) if norm == "layernorm" else (lambda: RMSNorm(dim, eps=norm_eps))
        self.norm1 = make_norm()
        self.attn = Attention(dim, num_heads, bias=qkv_bias)
        self.norm2 = make_norm()
        if ffn == "mlp":
            self.mlp = MLP(dim, int(dim * mlp_ratio))
        else:
            self.mlp = SwiGLU(dim, swiglu_hidden_dim(dim, mlp_ratio, swiglu_multiple_of))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, angles: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, N, dim); ``mask`` as in :func:`scaled_dot_product_attention`; ``angles``: RoPE angles from ``rope_angles``, (N, d_head / 2)."""
        x = x + self.drop_path(self.attn(self.norm1(x), mask, angles))
        return x + self.drop_path(self.mlp(self.norm2(x)))
