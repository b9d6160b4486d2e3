"""Tiny diffusers UNets (chapters 05-07) and the camera-pose token of VSD's particle estimator (chapter 07).

Small :class:`~diffusers.UNet2DConditionModel` / :class:`~diffusers.UNet2DModel` factories sized
for a CPU; the shipped priors built on them live in :mod:`course_lib.priors`.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel, UNet2DModel
from torch import nn


def tiny_condition_unet(in_channels: int, out_channels: int, block_out_channels: tuple[int, ...] = (32, 64, 64),
                        cross_attention_dim: int = 64, attention_head_dim: int = 16, sample_size: int = 32) -> UNet2DConditionModel:
    """A small :class:`~diffusers.UNet2DConditionModel` (chapter 05): one ResNet per level, cross-attention
    only at the lowest resolution (cheap on a CPU), GroupNorm with 8 groups."""
    levels = len(block_out_channels)
    if levels < 2:
        raise ValueError(f"block_out_channels needs at least two levels, got {block_out_channels}")
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=out_channels, layers_per_block=1,
        block_out_channels=block_out_channels, norm_num_groups=8, cross_attention_dim=cross_attention_dim,
        attention_head_dim=attention_head_dim,
        down_block_types=("DownBlock2D",) * (levels - 1) + ("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
    )


def tiny_unet(in_channels: int, out_channels: int, block_out_channels: tuple[int, ...] = (32, 64, 64), sample_size: int = 32) -> UNet2DModel:
    """A small unconditional :class:`~diffusers.UNet2DModel` for priors without text (chapter 05)."""
    levels = len(block_out_channels)
    return UNet2DModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=out_channels, layers_per_block=1,
        block_out_channels=block_out_channels, norm_num_groups=8,
        down_block_types=("DownBlock2D",) * (levels - 1) + ("AttnDownBlock2D",),
        up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
    )


class PoseEncoder(nn.Module):
    """Camera pose -> one conditioning token (chapter 07's VSD particle estimator, "camera pose as extra conditioning").

    The pose is the flattened 3x4 world-to-camera matrix ``viewmat[:3]`` (B, 12)."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(12, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        if pose.ndim != 2 or pose.shape[1] != 12:
            raise ValueError(f"pose must be (B, 12), the flattened viewmat[:3] of each camera; got {tuple(pose.shape)}")
        return self.mlp(pose)[:, None]  # (B, 1, dim)
