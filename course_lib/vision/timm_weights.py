"""Load timm's ViT weights into the course's :class:`VisionTransformer` (chapter 03)."""

from __future__ import annotations

import torch


def timm_vit_state_dict(timm_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm ``VisionTransformer`` state dict to the course's names.

    Only the attention output projection differs (timm ``attn.proj``, the course's
    ``MultiHeadAttention.out`` of chapter 01); a timm feature the course's ViT lacks (e.g. a
    register token or layer scale) is refused with its name.
    """
    renamed = {}
    for name, tensor in timm_state.items():
        if ".ls1." in name or ".ls2." in name or name.startswith(("reg_token", "attn_pool", "fc_norm", "norm_pre")):
            raise ValueError(f"timm parameter {name!r} has no counterpart in the course's ViT (build timm with its defaults)")
        renamed[name.replace(".attn.proj.", ".attn.out.")] = tensor
    return renamed
