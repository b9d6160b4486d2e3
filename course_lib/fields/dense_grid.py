r"""A dense multi-resolution grid: the reference the hash encoding is checked against (chapter 07).

Same levels (:math:`N_l = \lfloor N_{\min} b^l \rfloor`, Instant-NGP Eqs. 2-3) and the same trilinear
interpolation as :class:`~course_lib.fields.hash_grid.HashGrid`, but every level stores all of its
:math:`(N_l + 1)^3` vertices, vertex :math:`\mathbf{v}` at row :math:`v_x + (N_l+1) v_y + (N_l+1)^2 v_z`:
no table size, no hash, no collisions. Where a hash level's table holds every vertex the two encodings
are the same function; where it does not, distinct vertices share entries and they differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.fields.hash_grid import as_bounds, cell_corners, interpolate, level_resolutions, normalise_points


def dense_vertex_index(vertices: torch.Tensor, resolution: int) -> torch.Tensor:
    """Row of integer vertices (..., 3) in a level's dense table: ``v_x + (N+1) v_y + (N+1)^2 v_z`` (chapter 07)."""
    side = resolution + 1
    v = vertices.long()
    return v[..., 0] + side * (v[..., 1] + side * v[..., 2])


class DenseGrid(nn.Module):
    """One ``(N_l + 1)^3 x F`` table per level, trilinearly interpolated and concatenated (chapter 07).

    forward: points (N, 3) in world coordinates inside ``bounds`` -> (N, levels * features), level 0 first.
    ``volume(level)`` gives a level as a (F, N+1, N+1, N+1) tensor indexed [f, z, y, x] (the layout of
    ``torch.nn.functional.grid_sample``).
    """

    def __init__(self, levels: int, features: int, min_res: int, max_res: int, bounds: Sequence[Sequence[float]] | torch.Tensor) -> None:
        super().__init__()
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features={features!r} must be a positive integer (the F numbers stored per vertex)")
        self.resolutions = level_resolutions(levels, min_res, max_res)
        self.features = features
        self.register_buffer("bounds", as_bounds(bounds))
        self.tables = nn.ParameterList(nn.Parameter(torch.empty((res + 1) ** 3, features).uniform_(-1e-4, 1e-4)) for res in self.resolutions)

    @property
    def out_dim(self) -> int:
        return len(self.resolutions) * self.features

    def volume(self, level: int) -> torch.Tensor:
        side = self.resolutions[level] + 1
        return self.tables[level].reshape(side, side, side, self.features).permute(3, 0, 1, 2)  # (F, z, y, x)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        points01 = normalise_points(points, self.bounds, "dense grid")
        encoded = []
        for resolution, table in zip(self.resolutions, self.tables):
            corners, weights = cell_corners(points01, resolution)  # (N, 8, 3), (N, 8)
            encoded.append(interpolate(table, dense_vertex_index(corners, resolution), weights.to(table.dtype)))
        return torch.cat(encoded, dim=-1)  # (N, L * F)
