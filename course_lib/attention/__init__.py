"""Attention, from scaled dot-product to Infini-attention (chapter 01), reused by chapters 02-04;
LLaMA's RMSNorm, SwiGLU and RoPE (chapter 03)."""

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
from course_lib.attention.rmsnorm import RMSNorm, rms_norm
from course_lib.attention.swiglu_ffn import SwiGLU, swiglu, swiglu_hidden_dim
from course_lib.attention.rope import apply_rope, rope_angles

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
    "RMSNorm",
    "rms_norm",
    "SwiGLU",
    "swiglu",
    "swiglu_hidden_dim",
    "apply_rope",
    "rope_angles",
]
