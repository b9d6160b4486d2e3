"""Urban Architect's scalable hash grid: one small field per cell of the road, made when the camera gets there (chapter 07).

The street runs along +x. Space is cut into cells ``cell_size`` long along x (cell ``k`` covers
``k * cell_size <= x < (k + 1) * cell_size``) and spanning the street's cross-section (``lateral`` in y,
``vertical`` in z). Each cell owns a :class:`~course_lib.fields.radiance_field.RadianceField`; a sample
point is answered by the field of its cell (Urban Architect's scalable hash grid; cells keyed by ``round(p / 400)`` in the
reference code). Cells are created lazily, the first time a sample falls in them, so the parameters grow
with the distance driven and a new stretch of road never overwrites the entries of an old one.
Points outside the cross-section are empty space (density 0): they create nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.fields.radiance_field import RadianceField


class ScalableField(nn.Module):
    """A dictionary of per-cell radiance fields keyed by ``floor(x / cell_size)`` (Urban Architect, "scalable hash grid") (chapter 07).

    ``field_kwargs`` (levels, features, log2_table, min_res, max_res, hidden) configure every cell's
    :class:`RadianceField`; its grid covers the cell's box, so ``min_res`` / ``max_res`` count grid cells
    over the cell's length (and over the cross-section's width and height).

    forward: points (N, 3) -> (density (N,), colour (N, 3)); with ``grow=True`` (default) the cells of the
    points that lack one are created first (call :meth:`grow` yourself to learn which, e.g. to rebuild the
    optimiser as the reference code does); with ``grow=False`` points of missing cells get density 0.
    """

    def __init__(self, cell_size: float, lateral: tuple[float, float], vertical: tuple[float, float], **field_kwargs: int) -> None:
        super().__init__()
        if not cell_size > 0:
            raise ValueError(f"cell_size={cell_size!r} must be positive (the length of a cell along the road, in world units)")
        for name, (low, high) in (("lateral", lateral), ("vertical", vertical)):
            if not low < high:
                raise ValueError(f"{name}=({low}, {high}) must be an interval (min, max) with min < max")
        unknown = set(field_kwargs) - {"levels", "features", "log2_table", "min_res", "max_res", "hidden"}
        if unknown:
            raise ValueError(f"unknown cell field options {sorted(unknown)}; use levels, features, log2_table, min_res, max_res, hidden")
        self.cell_size = float(cell_size)
        self.lateral = (float(lateral[0]), float(lateral[1]))
        self.vertical = (float(vertical[0]), float(vertical[1]))
        self.field_kwargs = dict(field_kwargs)
        with torch.random.fork_rng(devices=[]):  # fail now, not at the first query, on bad options; leave the seed's stream alone
            RadianceField(self.cell_bounds(0), **self.field_kwargs)
        self.cells = nn.ModuleDict()

    def cell_bounds(self, key: int) -> torch.Tensor:
        """The box (2, 3) of cell ``key``: x in [key, key + 1) * cell_size, the cross-section in y and z."""
        x0 = key * self.cell_size
        return torch.tensor([[x0, self.lateral[0], self.vertical[0]], [x0 + self.cell_size, self.lateral[1], self.vertical[1]]])

    def cell_keys(self, points: torch.Tensor) -> torch.Tensor:
        """Cell of each point, ``floor(x / cell_size)`` (N,) int64; points outside the cross-section get no cell (mask (N,) bool returned too)."""
        if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 3 or not points.is_floating_point():
            shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
            raise ValueError(f"points must be a floating-point tensor of shape (N, 3) in world coordinates, got {shape}")
        if not torch.isfinite(points).all():
            raise ValueError("points have non-finite coordinates (NaN or inf); sample rays between finite near and far")
        y, z = points[:, 1], points[:, 2]
        inside = (y >= self.lateral[0]) & (y <= self.lateral[1]) & (z >= self.vertical[0]) & (z <= self.vertical[1])
        return torch.floor(points[:, 0] / self.cell_size).long(), inside

    def grow(self, points: torch.Tensor) -> list[str]:
        """Create the cells that ``points`` fall in and that do not exist yet; returns their keys, in x order."""
        keys, inside = self.cell_keys(points)
        new = [int(k) for k in torch.unique(keys[inside]).tolist() if str(int(k)) not in self.cells]
        device = points.device
        for key in new:
            self.cells[str(key)] = RadianceField(self.cell_bounds(key), **self.field_kwargs).to(device)
        return [str(key) for key in new]

    def num_cells(self) -> int:
        return len(self.cells)

    def num_parameters(self) -> int:
        """Trainable numbers in all cells (grids and heads)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, points: torch.Tensor, grow: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        if grow:
            self.grow(points)
        keys, inside = self.cell_keys(points)
        density = points.new_zeros(points.shape[0])
        colour = points.new_zeros(points.shape[0], 3)
        for key in torch.unique(keys[inside]).tolist():
            if str(key) not in self.cells:
                continue
            index = torch.nonzero(inside & (keys == key)).squeeze(1)
            cell_density, cell_colour = self.cells[str(key)](points[index])
            density = density.index_put((index,), cell_density)
            colour = colour.index_put((index,), cell_colour)
        return density, colour
