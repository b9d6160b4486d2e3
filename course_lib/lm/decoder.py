"""A tiny decoder-only LM from chapter 03's LLaMA-style blocks (chapter 04: BRAVE's frozen LM).

It stands in for FlanT5-XL (BRAVE 2404.07204, §3): pre-trained once on the text of the
chapter-04 world, then frozen. It accepts token ids or ready-made input embeddings, so a
bridge can put a *soft prompt* in front of the question.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.attention.block import TransformerBlock
from course_lib.attention.rmsnorm import RMSNorm
from course_lib.attention.rope import rope_angles
from course_lib.attention.sdpa import causal_mask


@dataclass(frozen=True)
class TinyDecoderConfig:
    """Sizes of :class:`TinyDecoder`."""

    vocab_size: int
    dim: int = 64
    depth: int = 3
    num_heads: int = 4
    max_len: int = 64


class TinyDecoder(nn.Module):
    """RMSNorm + SwiGLU + RoPE + causal mask: chapter 03's blocks as a language model (chapter 04).

    Each block is LLaMA's: RMSNorm, attention without biases, RoPE on queries and keys, and a
    SwiGLU of 4 x dim (2/3 of it, rounded up to a multiple of 16).
    """

    def __init__(self, cfg: TinyDecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.blocks = nn.ModuleList(
            TransformerBlock(cfg.dim, cfg.num_heads, norm="rmsnorm", ffn="swiglu", mlp_ratio=4.0, qkv_bias=False,
                             swiglu_multiple_of=16, norm_eps=1e-6)
            for _ in range(cfg.depth)
        )
        self.norm = RMSNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.register_buffer("rope", rope_angles(cfg.max_len, cfg.dim // cfg.num_heads), persistent=False)
        self.register_buffer("mask", causal_mask(cfg.max_len), persistent=False)

    def forward(self, input_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits (B, N, vocab) from ids (B, N) or embeddings (B, N, dim)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("TinyDecoder: give either input_ids or inputs_embeds, not both or neither")
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds  # (B, N, dim)
        n = x.shape[1]
        if n > self.cfg.max_len:
            raise ValueError(f"TinyDecoder: {n} tokens exceed max_len={self.cfg.max_len}")
        for block in self.blocks:
            x = block(x, self.mask[:n, :n], self.rope[:n])
        return self.head(self.norm(x))


@torch.no_grad()
def greedy_generate(lm: TinyDecoder, embeds: torch.Tensor, last: torch.Tensor, max_new_tokens: int, eos: int) -> list[list[int]]:
    """Greedy decoding after a right-padded batch of input embeddings (chapter 04).

    embeds: (B, N, dim); ``last[b]`` is the index of row b's last real position. Each step
    appends the arg-max token after that position (causal attention never sees the padding
    after it). Returns the generated ids of each row, without the ``eos``.
    """
    B = embeds.shape[0]
    room = max_new_tokens
    x = torch.cat((embeds, embeds.new_zeros(B, room, embeds.shape[-1])), dim=1)
    pos = last.clone()
    out: list[list[int]] = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    rows = torch.arange(B)
    for _ in range(max_new_tokens):
        logits = lm(inputs_embeds=x)[rows, pos]  # (B, vocab)
        token = logits.argmax(-1)
        for b in range(B):
            if not done[b]:
                if token[b] == eos:
                    done[b] = True
                else:
                    out[b].append(int(token[b]))
        pos = pos + 1
        x = x.clone()
        x[rows, pos] = lm.embed(token)
        if done.all():
            break
    return out
