"""Patch embedding: an image becomes a sequence of tokens (chapter 03)."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    r"""Split an image into P x P patches and project each to D features (ViT, Dosovitskiy et al. 2021, eq. 1).

    A convolution with kernel = stride = P is the linear map :math:`x_p E` of every flattened patch.
    (B, C, H, W) -> (B, HW/P^2, D), patches in row-major order.
    """

    def __init__(self, image_size: int, patch_size: int, in_chans: int, dim: int) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} is not a multiple of patch_size={patch_size}")
        self.image_size, self.patch_size, self.in_chans = image_size, patch_size, in_chans
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        expected = (self.in_chans, self.image_size, self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"PatchEmbed expects images of shape (B, {', '.join(map(str, expected))}), got {tuple(images.shape)}")
        return self.proj(images).flatten(2).transpose(1, 2)  # (B, N, D)
