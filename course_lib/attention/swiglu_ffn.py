"""The SwiGLU feed-forward network of LLaMA (chapter 03)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def swiglu_hidden_dim(dim: int, mlp_ratio: float = 4.0, multiple_of: int = 256) -> int:
    r"""Hidden width of the SwiGLU FFN: :math:`\frac{2}{3}\cdot r D` rounded *up* to a multiple of ``multiple_of``.

    Two thirds keep the parameter count of the three matrices close to the two of the ViT MLP
    (iLLaMA 2404.06773, §3.1; LLaMA, Touvron et al. 2023). E.g. D = 192 -> 512, D = 1024 -> 2816.
    """
    if dim <= 0 or multiple_of <= 0:
        raise ValueError(f"swiglu_hidden_dim: dim={dim} and multiple_of={multiple_of} must be positive")
    hidden = int(2 * int(dim * mlp_ratio) / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def swiglu(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor) -> torch.Tensor:
    r"""SwiGLU FFN (Shazeer 2020), iLLaMA's FFN (2404.06773, §3.1, Table 17 '+ SwiGLU').

    .. math:: \mathrm{FFN}(x) = W_2\left(\mathrm{SiLU}(W_1 x) \odot W_3 x\right)

    x: (..., D); w1, w3: (F, D); w2: (D, F) (``nn.Linear`` weight layout, no biases).
    """
    gate = F.silu(x @ w1.T)  # (..., F)
    return (gate * (x @ w3.T)) @ w2.T  # (..., D)


class SwiGLU(nn.Module):
    """SwiGLU feed-forward block without biases, as in LLaMA and iLLaMA (chapter 03)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim, bias=False)  # W1, the gated branch
        self.fc2 = nn.Linear(hidden_dim, dim, bias=False)  # W2, back to D
        self.fc3 = nn.Linear(dim, hidden_dim, bias=False)  # W3, the linear branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swiglu(x, self.fc1.weight, self.fc2.weight, self.fc3.weight)
