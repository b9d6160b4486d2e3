r"""A global distance field over view directions: a small Fourier-feature MLP (chapter 05).

DreamScene360 (arXiv 2404.06903, §3.3, Eq. 2) fits one field :math:`\mathrm{MLP}(v;\Theta)` that gives the
distance of the scene in every unit view direction :math:`v` around the panorama centre; every
tangent tile's monocular depth is aligned to it. The reference code uses a multi-resolution hash
grid (16 levels) with a 2-layer, 64-wide MLP and outputs :math:`\mathrm{softplus}(\mathrm{mlp} + 1)`.
This course builds the hash grid in chapter 07; here a small MLP on Fourier features of the
direction stands in for it (NeRF's positional encoding, Mildenhall et al. 2020, Eq. 4):

.. math:: \gamma(v) = \big(v,\ \sin(2^k \pi v),\ \cos(2^k \pi v)\big)_{k=0}^{L-1}, \qquad
          r(v) = \mathrm{softplus}\big(\mathrm{MLP}(\gamma(v)) + 1\big) > 0
"""

from __future__ import annotations

import math

import torch
from torch import nn


def fourier_features(dirs: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    r""":math:`\gamma(v)` of unit directions (..., 3) -> (..., 3 + 6L), frequencies :math:`2^k\pi`, k < L (chapter 05)."""
    if dirs.shape[-1] != 3:
        raise ValueError(f"dirs must be (..., 3) unit directions, got shape {tuple(dirs.shape)}")
    freqs = math.pi * 2.0 ** torch.arange(num_frequencies, dtype=dirs.dtype, device=dirs.device)  # (L,)
    angles = (dirs[..., None, :] * freqs[:, None]).flatten(-2)  # (..., 3L)
    return torch.cat([dirs, angles.sin(), angles.cos()], dim=-1)


class DirectionField(nn.Module):
    """Distance (...) > 0 in each unit view direction (..., 3): softplus(MLP(γ(v)) + 1) (DreamScene360 Eq. 2's MLP(v; Θ)) (chapter 05)."""

    def __init__(self, num_frequencies: int = 5, width: int = 64, hidden_layers: int = 2) -> None:
        super().__init__()
        self.num_frequencies = num_frequencies
        layers: list[nn.Module] = []
        size = 3 + 6 * num_frequencies
        for _ in range(hidden_layers):
            layers += [nn.Linear(size, width), nn.ReLU()]
            size = width
        layers.append(nn.Linear(size, 1))
        self.mlp = nn.Sequential(*layers)
        nn.init.zeros_(self.mlp[-1].weight)  # starts as the constant softplus(1 + b): a sphere around the viewer
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, dirs: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(self.mlp(fourier_features(dirs, self.num_frequencies))[..., 0] + 1.0)
