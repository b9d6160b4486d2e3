"""Attention, from scaled dot-product to Infini-attention (chapter 01), reused by chapters 02-04."""

from course_lib.attention.sdpa import causal_mask, scaled_dot_product_attention
from course_lib.attention.mha import MultiHeadAttention
from course_lib.attention.infini import (
    InfiniAttention,
    MemoryState,
    elu_plus_one,
    gate_mix,
    memory_retrieve,
    memory_update_delta,
    memory_update_linear,
)
from course_lib.attention.tiny_lm import InfiniLMConfig, TinyInfiniLM

__all__ = [
    "causal_mask",
    "scaled_dot_product_attention",
    "MultiHeadAttention",
    "InfiniAttention",
    "MemoryState",
    "elu_plus_one",
    "gate_mix",
    "memory_retrieve",
    "memory_update_delta",
    "memory_update_linear",
    "InfiniLMConfig",
    "TinyInfiniLM",
]
