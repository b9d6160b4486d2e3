"""A Vision Transformer with every LLaMAfication step of iLLaMA as a switch (chapter 03).

``ViTConfig()`` is the ViT of Dosovitskiy et al. (LayerNorm, GELU MLP, bidirectional attention,
learnable position embedding, class token first); the fields ``norm``, ``ffn``, ``mask``,
``cls_position`` and ``pos_embed`` walk it to iLLaMA (2404.06773, Table 17), and
``model.soft_mask_alpha`` sets the soft mask of eq. 2 during training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.attention.block import FFNS, NORMS, TransformerBlock
from course_lib.attention.rmsnorm import RMSNorm
from course_lib.attention.rope import rope_angles
from course_lib.vision.masks import CLS_POSITIONS, MASK_KINDS, class_token_mask, soft_mask_bias
from course_lib.vision.patch_embed import PatchEmbed

POS_EMBEDS = ("learnable", "rope", "both")


@dataclass(frozen=True)
class ViTConfig:
    """Size and LLaMAfication switches of a :class:`VisionTransformer` (chapter 03; defaults: ViT-Tiny)."""

    image_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm: str = "layernorm"
    ffn: str = "mlp"
    mask: str = "bidirectional"
    cls_position: str = "first"
    pos_embed: str = "learnable"
    swiglu_multiple_of: int = 256
    drop_path: float = 0.0
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        for name, allowed in (("norm", NORMS), ("ffn", FFNS), ("mask", MASK_KINDS), ("cls_position", CLS_POSITIONS), ("pos_embed", POS_EMBEDS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"ViTConfig.{name}={getattr(self, name)!r}: choose one of {allowed}")
        if self.dim % self.num_heads:
            raise ValueError(f"ViTConfig: dim={self.dim} must be divisible by num_heads={self.num_heads}")
        if self.image_size % self.patch_size:
            raise ValueError(f"ViTConfig: image_size={self.image_size} must be a multiple of patch_size={self.patch_size}")

    @property
    def num_tokens(self) -> int:
        """Patches plus the class token."""
        return (self.image_size // self.patch_size) ** 2 + 1


class Block(TransformerBlock):
    """The block of a :class:`VisionTransformer`: course_lib's pre-norm transformer block with
    ``cfg``'s norm, FFN, widths and attention biases (chapter 03)."""

    def __init__(self, cfg: ViTConfig, drop_path: float = 0.0) -> None:
        super().__init__(cfg.dim, cfg.num_heads, norm=cfg.norm, ffn=cfg.ffn, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias,
                         swiglu_multiple_of=cfg.swiglu_multiple_of, norm_eps=cfg.norm_eps, drop_path=drop_path)


class VisionTransformer(nn.Module):
    """ViT (Dosovitskiy et al. 2021) and iLLaMA (2404.06773) in one model, chosen by :class:`ViTConfig` (chapter 03).

    The class token is prepended (``cls_position='first'``) or appended (``'last'``, the
    post-sequence class token of §3.2), and the head reads that token's final feature.
    """

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.soft_mask_alpha = 0.0
        self.patch_embed = PatchEmbed(cfg.image_size, cfg.patch_size, cfg.in_chans, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        if cfg.pos_embed in ("learnable", "both"):
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.dim))
        dpr = [cfg.drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]  # stochastic depth grows with depth
        self.blocks = nn.ModuleList(Block(cfg, dpr[i]) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps) if cfg.norm == "layernorm" else RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        self.register_buffer("hard_mask", class_token_mask(cfg.num_tokens, cfg.mask, cfg.cls_position), persistent=False)
        if cfg.pos_embed in ("rope", "both"):
            self.register_buffer("rope", rope_angles(cfg.num_tokens, cfg.dim // cfg.num_heads), persistent=False)
        else:
            self.rope = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Truncated-normal (std 0.02) weights and zero biases, as in ViT/DeiT and iLLaMA."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if hasattr(self, "pos_embed"):
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def no_weight_decay(self) -> set[str]:
        """Parameters without weight decay (read by timm's ``create_optimizer_v2``)."""
        return {"cls_token", "pos_embed"}

    @property
    def cls_index(self) -> int:
        return 0 if self.cfg.cls_position == "first" else self.cfg.num_tokens - 1

    def attention_mask(self) -> torch.Tensor | None:
        """None (bidirectional), the boolean hard mask, or the soft mask log S while alpha > 0."""
        if self.cfg.mask == "bidirectional":
            return None
        if self.soft_mask_alpha > 0:
            return soft_mask_bias(self.hard_mask, self.soft_mask_alpha)
        return self.hard_mask

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens with the class token in its place and the learnable PE added, (B, N+1, D)."""
        x = self.patch_embed(images)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        x = torch.cat((cls, x) if self.cfg.cls_position == "first" else (x, cls), dim=1)  # (B, N+1, D)
        if hasattr(self, "pos_embed"):
            x = x + self.pos_embed
        return x

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised class-token feature, (B, D)."""
        x, mask = self.tokens(images), self.attention_mask()
        for block in self.blocks:
            x = block(x, mask, self.rope)
        return self.norm(x)[:, self.cls_index]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images))  # (B, num_classes)

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Every layer's attention maps, (L, B, H, N+1, N+1)."""
        x, mask, maps = self.tokens(images), self.attention_mask(), []
        for block in self.blocks:
            maps.append(block.attn.attention_weights(block.norm1(x), mask, self.rope))
            x = block(x, mask, self.rope)
        return torch.stack(maps)
