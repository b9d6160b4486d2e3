"""iLLaMA's model sizes and its LLaMAfication path, Table 17 of 2404.06773 (chapter 03)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from course_lib.vision.vit import ViTConfig, VisionTransformer

# Paper Tables 6 and 11: depth / dim / heads and the parameter counts (millions) they report.
ILLAMA_SIZES = {
    "tiny": dict(depth=12, dim=192, num_heads=3),
    "small": dict(depth=12, dim=384, num_heads=6),
    "base": dict(depth=12, dim=768, num_heads=12),
    "large": dict(depth=24, dim=1024, num_heads=16),
}
PAPER_PARAMS_M = {"tiny": 5.7, "small": 21.9, "base": 86.3, "large": 310.2}

# The switches that turn the ViT into iLLaMA (§3): RMSNorm, SwiGLU, causal mask, post-sequence
# class token, RoPE plus learnable PE. Biases stay in the attention, as in the paper's code.
ILLAMA_SWITCHES = dict(norm="rmsnorm", ffn="swiglu", mask="causal", cls_position="last", pos_embed="both")


def illama_config(size: str, **overrides) -> ViTConfig:
    """The :class:`ViTConfig` of iLLaMA-``size`` (tiny/small/base/large) at 224 px, ImageNet-1K classes."""
    if size not in ILLAMA_SIZES:
        raise ValueError(f"iLLaMA size {size!r} is not one of {sorted(ILLAMA_SIZES)}")
    return ViTConfig(**{**ILLAMA_SIZES[size], **ILLAMA_SWITCHES, **overrides})


def illama(size: str, **overrides) -> VisionTransformer:
    """iLLaMA-``size`` (build it under ``with torch.device('meta'):`` to count parameters without memory)."""
    return VisionTransformer(illama_config(size, **overrides))


def illama_tiny(**overrides) -> VisionTransformer:
    """iLLaMA-T: 12 layers, D = 192, 3 heads, 5.7M parameters (paper Table 6)."""
    return illama("tiny", **overrides)


def illama_small(**overrides) -> VisionTransformer:
    """iLLaMA-S: 12 layers, D = 384, 6 heads, 21.9M parameters (paper Table 6)."""
    return illama("small", **overrides)


def illama_base(**overrides) -> VisionTransformer:
    """iLLaMA-B: 12 layers, D = 768, 12 heads, 86.3M parameters (paper Table 6)."""
    return illama("base", **overrides)


def illama_large(**overrides) -> VisionTransformer:
    """iLLaMA-L: 24 layers, D = 1024, 16 heads, 310.2M parameters (paper Table 11)."""
    return illama("large", **overrides)


@dataclass(frozen=True)
class Step:
    """One row of Table 17: the model switches and the training extras (mixup, soft mask)."""

    name: str
    overrides: dict
    augment: bool = False
    soft_mask: bool = False
    paper_tiny: float | None = None
    paper_base: float | None = None


def llamafication_steps() -> list[Step]:
    """The rows of Table 17 in order, each with the cumulative switches of the rows above it.

    The modified-mask row is the paper's ablation beside '+ post-sequence class token': the
    causal model with the class token kept first and its row of the mask unmasked.
    """
    vit = {}
    swiglu = {**vit, "ffn": "swiglu"}
    rms = {**swiglu, "norm": "rmsnorm"}
    causal = {**rms, "mask": "causal"}
    post = {**causal, "cls_position": "last"}
    modified = {**causal, "mask": "modified"}
    rope = {**post, "pos_embed": "rope"}
    both = {**post, "pos_embed": "both"}
    return [
        Step("ViT", vit, paper_tiny=73.8, paper_base=81.5),
        Step("+ SwiGLU", swiglu, paper_tiny=74.3, paper_base=82.0),
        Step("+ RMSNorm", rms, paper_tiny=74.5, paper_base=81.7),
        Step("+ causal mask", causal, paper_tiny=0.1, paper_base=0.1),
        Step("+ post-sequence cls", post, paper_tiny=71.9, paper_base=80.6),
        Step("(ablation) modified mask", modified, paper_tiny=72.5, paper_base=80.4),
        Step("+ RoPE", rope, paper_tiny=72.6, paper_base=81.2),
        Step("+ learnable PE back", both, paper_tiny=73.2, paper_base=81.2),
        Step("+ data augmentation", both, augment=True, paper_tiny=74.3, paper_base=81.3),
        Step("+ soft mask", both, augment=True, soft_mask=True, paper_tiny=75.0, paper_base=81.6),
    ]


def step_config(base: ViTConfig, step: Step) -> ViTConfig:
    """``base`` (the size, image and class count) with a step's switches applied."""
    return replace(base, **step.overrides)
