"""RMSNorm, LLaMA's normalisation layer (chapter 03)."""

from __future__ import annotations

import torch
from torch import nn


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    r"""Root-mean-square normalisation (Zhang & Sennrich 2019), iLLaMA's norm (2404.06773, §3.1, Table 17).

    .. math:: \mathrm{RMSNorm}(x) = \frac{x}{\sqrt{\frac{1}{D}\sum_{i=1}^{D} x_i^2 + \epsilon}} \odot g

    Unlike LayerNorm it neither subtracts the mean nor adds a bias. x: (..., D), weight g: (D,).
    """
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"rms_norm: x has {x.shape[-1]} features in its last dimension but weight has {weight.shape[-1]}")
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)  # (..., D)
    return normed.type_as(x) * weight


class RMSNorm(nn.Module):
    """RMSNorm with a learnable gain (chapter 03; replaces LayerNorm in iLLaMA, Table 17 '+ RMSNorm')."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)
