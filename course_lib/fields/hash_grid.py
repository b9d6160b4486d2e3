r"""The multi-resolution hash encoding of Instant-NGP (Müller et al. 2022, §3), chapter 07.

A point :math:`\mathbf{x} \in [0, 1]^3` is encoded at :math:`L` levels. Level :math:`l` lays a grid of
resolution :math:`N_l` over the unit cube (Eqs. 2-3),

.. math:: N_l = \lfloor N_{\min} \cdot b^l \rfloor, \qquad
          b = \exp\left(\frac{\ln N_{\max} - \ln N_{\min}}{L - 1}\right),

finds the cell holding :math:`\mathbf{x} N_l`, looks up a feature vector of :math:`F` numbers for each of
the cell's 8 corners in a table of :math:`T` entries, and interpolates them trilinearly. A corner
:math:`\mathbf{v} \in \{0, \dots, N_l\}^3` is stored at entry (Eq. 4)

.. math:: h(\mathbf{v}) = \left(\bigoplus_{i=1}^{3} v_i \pi_i\right) \bmod T, \qquad
          \pi = (1,\ 2654435761,\ 805459861),

unless the level's :math:`(N_l + 1)^3` vertices fit in the table: then each vertex gets its own entry
(:math:`v_x + (N_l+1) v_y + (N_l+1)^2 v_z`, "1:1" in the paper) and the level is a dense grid. The
encoding is the concatenation of the :math:`L` interpolated feature vectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

PRIMES = (1, 2654435761, 805459861)  # pi_1 = 1 keeps x's bits; the others are large primes (Instant-NGP §3)
UINT32_MASK = 0xFFFFFFFF  # the CUDA code multiplies in uint32: products wrap modulo 2^32
CORNER_OFFSETS = torch.tensor([[(c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)])  # (8, 3): bit 0 is x, bit 1 y, bit 2 z


def level_resolutions(levels: int, min_res: int, max_res: int) -> list[int]:
    r"""Grid resolution of each level, :math:`N_l = \lfloor N_{\min} b^l \rfloor` (Instant-NGP Eqs. 2-3) (chapter 07).

    The growth factor :math:`b` spreads the levels geometrically from ``min_res`` to ``max_res``; a
    1e-9 nudge keeps round-off in exp/log from turning the finest level into ``max_res - 1``.
    """
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels={levels!r} must be a positive integer (the number L of grid resolutions)")
    if not isinstance(min_res, int) or not isinstance(max_res, int) or not 1 <= min_res <= max_res:
        raise ValueError(f"resolutions must be integers with 1 <= min_res <= max_res, got min_res={min_res!r}, max_res={max_res!r}")
    if levels == 1:
        if min_res != max_res:
            raise ValueError(f"a single level has one resolution: pass min_res == max_res (got {min_res} and {max_res})")
        return [min_res]
    growth = math.exp((math.log(max_res) - math.log(min_res)) / (levels - 1))
    return [math.floor(min_res * growth**level + 1e-9) for level in range(levels)]


def _check_resolution_and_table(resolution: int, table_size: int) -> None:
    if not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution={resolution!r} must be a positive integer (the number of grid cells along each axis)")
    if not isinstance(table_size, int) or table_size < 1:
        raise ValueError(f"table_size={table_size!r} must be a positive integer (the number T of entries of the level's table)")


def level_table_rows(resolution: int, table_size: int) -> int:
    """Entries a level needs: its ``(N+1)^3`` vertices when they fit in ``table_size``, else ``table_size`` (chapter 07)."""
    _check_resolution_and_table(resolution, table_size)
    return min(table_size, (resolution + 1) ** 3)


def spatial_hash(vertices: torch.Tensor, table_size: int) -> torch.Tensor:
    r"""Table entry of integer vertices (..., 3): :math:`(v_x \pi_1 \oplus v_y \pi_2 \oplus v_z \pi_3) \bmod T` (Instant-NGP Eq. 4) (chapter 07).

    The products wrap modulo :math:`2^{32}` as in the paper's uint32 CUDA code, so the entries are the
    paper's for every table size. Returns int64 (...,).
    """
    v = vertices.long()
    h = (v[..., 0] * PRIMES[0]) & UINT32_MASK
    h = h ^ ((v[..., 1] * PRIMES[1]) & UINT32_MASK)
    h = h ^ ((v[..., 2] * PRIMES[2]) & UINT32_MASK)
    return h % table_size


def vertex_index(vertices: torch.Tensor, resolution: int, table_size: int) -> torch.Tensor:
    """Table entry of integer vertices (..., 3) of a level of ``resolution`` cells per axis (chapter 07).

    1:1 (``v_x + (N+1) v_y + (N+1)^2 v_z``) when the level's ``(N+1)^3`` vertices fit in ``table_size``,
    the spatial hash (Instant-NGP Eq. 4) otherwise. Returns int64 (...,).
    """
    _check_resolution_and_table(resolution, table_size)
    v = vertices.long()
    side = resolution + 1
    if side**3 <= table_size:
        return v[..., 0] + side * (v[..., 1] + side * v[..., 2])
    return spatial_hash(v, table_size)


def _check_points01(points01: torch.Tensor) -> None:
    if not isinstance(points01, torch.Tensor) or points01.ndim != 2 or points01.shape[1] != 3:
        shape = tuple(points01.shape) if isinstance(points01, torch.Tensor) else type(points01).__name__
        raise ValueError(f"points must be a tensor of shape (N, 3), got {shape}")
    if not points01.is_floating_point():
        raise ValueError(f"points must be floating point, got {points01.dtype}")
    outside = ~((points01 >= 0) & (points01 <= 1)).all(dim=1)  # NaN counts as outside
    if outside.any():
        first = points01[outside][0].tolist()
        raise ValueError(
            f"{int(outside.sum())} of {points01.shape[0]} points lie outside the unit cube [0, 1]^3 (first: {first}); "
            "normalise world coordinates by the grid's bounds first"
        )


def cell_corners(points01: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The 8 corners of the grid cell holding each point and their trilinear weights (Instant-NGP §3) (chapter 07).

    With :math:`\mathbf{x}_l = \mathbf{x} N_l`, the cell's lower corner is :math:`\lfloor \mathbf{x}_l \rfloor`
    (the last cell for a coordinate equal to 1), :math:`\mathbf{f} = \mathbf{x}_l - \lfloor \mathbf{x}_l \rfloor`,
    and corner :math:`\mathbf{c} \in \{0,1\}^3` (bit 0 is x, bit 1 y, bit 2 z) has weight
    :math:`\prod_i f_i^{c_i} (1 - f_i)^{1 - c_i}`.

    points01 (N, 3) in [0, 1] -> corners (N, 8, 3) int64 in [0, N], weights (N, 8) summing to 1.
    """
    _check_points01(points01)
    scaled = points01 * resolution
    lower = torch.floor(scaled).clamp(max=resolution - 1)
    frac = scaled - lower  # (N, 3) in [0, 1]
    offsets = CORNER_OFFSETS.to(points01.device)  # (8, 3)
    corners = lower.long()[:, None, :] + offsets  # (N, 8, 3)
    per_axis = torch.where(offsets.bool(), frac[:, None, :], 1.0 - frac[:, None, :])  # (N, 8, 3)
    weights = per_axis[..., 0] * per_axis[..., 1] * per_axis[..., 2]  # (N, 8)
    return corners, weights


def level_corners(points01: torch.Tensor, resolution: int, table_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One level of the hash encoding: table entries of the 8 corners of each point's cell and their trilinear weights (Instant-NGP Eq. 4 and §3) (chapter 07).

    points01 (N, 3) in [0, 1] -> indices (N, 8) int64 in [0, T), weights (N, 8).
    """
    _check_resolution_and_table(resolution, table_size)
    corners, weights = cell_corners(points01, resolution)
    return vertex_index(corners, resolution, table_size), weights


def interpolate(table: torch.Tensor, indices: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""Trilinear interpolation of table rows: :math:`\sum_{c=1}^{8} w_c\, \theta[h_c]` (chapter 07).

    table (T, F), indices (N, 8), weights (N, 8) -> features (N, F).
    """
    return (weights[..., None] * table[indices]).sum(dim=1)  # (N, 8, F) -> (N, F)


def level_collisions(resolution: int, table_size: int) -> int:
    """How many of a level's ``(N+1)^3`` vertices share their table entry with an earlier vertex (chapter 07).

    Zero when the vertices fit in the table (1:1 indexing); at least ``(N+1)^3 - T`` otherwise.
    """
    _check_resolution_and_table(resolution, table_size)
    axis = torch.arange(resolution + 1)
    vertices = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    return vertices.shape[0] - torch.unique(vertex_index(vertices, resolution, table_size)).numel()


def as_bounds(bounds: Sequence[Sequence[float]] | torch.Tensor) -> torch.Tensor:
    """Axis-aligned box ``((x0, y0, z0), (x1, y1, z1))`` as a float32 (2, 3) tensor, checked (chapter 07)."""
    box = torch.as_tensor(bounds, dtype=torch.float32)
    if box.shape != (2, 3):
        raise ValueError(f"bounds must be ((x0, y0, z0), (x1, y1, z1)), i.e. shape (2, 3), got shape {tuple(box.shape)}")
    if not torch.isfinite(box).all() or not (box[1] > box[0]).all():
        raise ValueError(f"bounds must be finite with max > min on every axis, got {box.tolist()}")
    return box


def normalise_points(points: torch.Tensor, bounds: torch.Tensor, what: str = "grid") -> torch.Tensor:
    """World points (N, 3) inside ``bounds`` (2, 3) -> (N, 3) in [0, 1]^3 (chapter 07).

    Points more than 1e-5 of the box's size outside raise an error naming them; the rest (round-off on the
    faces) are clamped onto the box.
    """
    if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 3:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"points must be a tensor of shape (N, 3) in world coordinates, got {shape}")
    if not points.is_floating_point():
        raise ValueError(f"points must be floating point, got {points.dtype}")
    bounds = bounds.to(points)
    points01 = (points - bounds[0]) / (bounds[1] - bounds[0])
    outside = ~((points01 >= -1e-5) & (points01 <= 1 + 1e-5)).all(dim=1)  # NaN counts as outside
    if outside.any():
        first = points[outside][0].tolist()
        raise ValueError(
            f"{int(outside.sum())} of {points.shape[0]} points lie outside the {what}'s bounds "
            f"{bounds[0].tolist()} .. {bounds[1].tolist()} (first: {first}); query only points inside the box"
        )
    return points01.clamp(0.0, 1.0)


class HashGrid(nn.Module):
    r"""Multi-resolution hash encoding (Instant-NGP, Müller et al. 2022, Eqs. 2-4) over an axis-aligned box (chapter 07).

    ``levels`` grids from ``min_res`` to ``max_res`` cells per axis, ``features`` numbers per entry,
    :math:`T = 2^{\text{log2\_table}}` entries per level (or ``table_size`` when given, e.g. to match another
    model's parameter count; the hash works modulo any T) (fewer for coarse levels whose vertices all fit:
    those are indexed 1:1). Entries start uniform in :math:`[-10^{-4}, 10^{-4}]` as in the paper.

    forward: points (N, 3) in world coordinates inside ``bounds`` -> (N, levels * features), level 0 first.
    """

    def __init__(
        self,
        levels: int,
        features: int,
        log2_table: int,
        min_res: int,
        max_res: int,
        bounds: Sequence[Sequence[float]] | torch.Tensor,
        table_size: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features={features!r} must be a positive integer (the F numbers stored per table entry)")
        if not isinstance(log2_table, int) or not 0 <= log2_table <= 30:
            raise ValueError(f"log2_table={log2_table!r} must be an integer in [0, 30]: the table holds 2**log2_table entries per level")
        if table_size is not None and (not isinstance(table_size, int) or table_size < 1):
            raise ValueError(f"table_size={table_size!r} must be a positive integer (entries per level) or None for 2**log2_table")
        self.resolutions = level_resolutions(levels, min_res, max_res)
        self.table_size = 2**log2_table if table_size is None else table_size
        self.features = features
        self.register_buffer("bounds", as_bounds(bounds))
        self.tables = nn.ParameterList(
            nn.Parameter(torch.empty(level_table_rows(res, self.table_size), features).uniform_(-1e-4, 1e-4)) for res in self.resolutions
        )

    @property
    def levels(self) -> int:
        return len(self.resolutions)

    @property
    def out_dim(self) -> int:
        return self.levels * self.features

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        points01 = normalise_points(points, self.bounds, "hash grid")
        encoded = []
        for resolution, table in zip(self.resolutions, self.tables):
            indices, weights = level_corners(points01, resolution, self.table_size)  # (N, 8) each
            encoded.append(interpolate(table, indices, weights.to(table.dtype)))  # (N, F)
        return torch.cat(encoded, dim=-1)  # (N, L * F)

    def extra_repr(self) -> str:
        return f"resolutions={self.resolutions}, features={self.features}, table_size={self.table_size}"
