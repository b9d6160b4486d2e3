r"""The sky as a function of the ray direction only (Urban Architect, "scalable hash grid"), chapter 07.

The sky is infinitely far: its colour depends on where a ray points, not where it starts. A tiny MLP
maps the unit direction to a colour; the renderer adds it behind everything, weighted by what the
samples let through, :math:`\hat{C} + (1 - A)\, \mathbf{c}_{\text{sky}}(\mathbf{d})`. (The reference code
uses a 100^3 grid over directions; an MLP is smaller and as smooth as a sky needs at this scale.)
"""

from __future__ import annotations

import torch
from torch import nn


class SkyField(nn.Module):
    """Direction (N, 3) -> colour (N, 3) in [0, 1]: Linear(3, hidden) -> ReLU -> Linear(hidden, hidden) -> ReLU -> Linear(hidden, 3) -> sigmoid (chapter 07)."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden={hidden!r} must be a positive integer (the width of the sky MLP)")
        self.mlp = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, directions: torch.Tensor) -> torch.Tensor:
        if not isinstance(directions, torch.Tensor) or directions.ndim != 2 or directions.shape[1] != 3:
            shape = tuple(directions.shape) if isinstance(directions, torch.Tensor) else type(directions).__name__
            raise ValueError(f"directions must be a tensor of shape (N, 3), got {shape}")
        norm = directions.norm(dim=-1, keepdim=True)
        if not (norm > 1e-9).all():
            raise ValueError("a ray direction is zero (or NaN): every ray needs a direction")
        return torch.sigmoid(self.mlp(directions / norm))
