"""A small radiance field: a hash grid and a tiny MLP head giving density and colour (chapter 07).

As in Instant-NGP's NeRF, the encoding of a point goes through one hidden layer; the first output is the
density (softplus keeps it >= 0), the next three the colour (sigmoid keeps it in [0, 1]). The colour does
not depend on the view direction: a simplification of this course, whose procedural streets are matte.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.fields.hash_grid import HashGrid


class RadianceField(nn.Module):
    """``HashGrid(levels, features, log2_table, min_res, max_res, bounds)`` -> Linear -> ReLU -> Linear(4) (chapter 07).

    forward: points (N, 3) inside ``bounds`` -> (density (N,) >= 0, colour (N, 3) in [0, 1]).
    """

    def __init__(
        self,
        bounds: Sequence[Sequence[float]] | torch.Tensor,
        levels: int = 8,
        features: int = 2,
        log2_table: int = 12,
        min_res: int = 2,
        max_res: int = 128,
        hidden: int = 64,
        table_size: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden={hidden!r} must be a positive integer (the width of the MLP head)")
        self.grid = HashGrid(levels, features, log2_table, min_res, max_res, bounds, table_size)
        self.head = nn.Sequential(nn.Linear(self.grid.out_dim, hidden), nn.ReLU(), nn.Linear(hidden, 4))

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.head(self.grid(points))  # (N, 4)
        return F.softplus(raw[:, 0]), torch.sigmoid(raw[:, 1:])
