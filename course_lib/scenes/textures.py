"""Procedural textures, one per surface kind, evaluated on hit points in object coordinates (chapters 05-07).

Every texture is a plain function of the hit point's local coordinates (and a seed), so a
surface looks the same from every camera: the renders are multi-view consistent, which is
what lets the course measure novel-view error against the true scene.
"""

from __future__ import annotations

import math

import torch

TEXTURES: tuple[str, ...] = ("plain", "grass", "checker", "stripes", "facade", "road", "foliage", "wood")
TEXTURE_ID: dict[str, int] = {name: i for i, name in enumerate(TEXTURES)}


def texture_id(name: str) -> int:
    """Integer id of the texture ``name`` (chapters 05-07)."""
    if name not in TEXTURE_ID:
        raise ValueError(f"unknown texture {name!r}; the textures are {list(TEXTURES)}")
    return TEXTURE_ID[name]


def smooth_noise(points: torch.Tensor, seed: int, frequency: float, octaves: int = 4) -> torch.Tensor:
    r"""A smooth pseudo-random field in [-1, 1]: a sum of ``octaves`` seeded plane waves (chapters 05-07).

    .. math:: n(p) = \frac{1}{K} \sum_{k=1}^{K} \sin(\omega_k \cdot p + \phi_k)

    points (R, 3) -> (R,). Deterministic in ``seed``; frequencies grow with k from ``frequency``.
    """
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(points.shape[0])
    for k in range(octaves):
        direction = torch.nn.functional.normalize(torch.randn(3, generator=gen), dim=0)
        phase = float(torch.rand((), generator=gen)) * 2 * math.pi
        total = total + torch.sin(points @ (direction * frequency * (1.7 ** k)) + phase)
    return total / octaves


def _in_band(x: torch.Tensor, period: float, lo: float, hi: float) -> torch.Tensor:
    """True where frac(x / period) lies in [lo, hi)."""
    f = torch.remainder(x / period, 1.0)
    return (f >= lo) & (f < hi)


def apply_textures(tex: torch.Tensor, base: torch.Tensor, local: torch.Tensor, seed: int) -> torch.Tensor:
    """Colour of each hit (chapter 05): texture ids (R,), base colours (R, 3), local hit points (R, 3) -> (R, 3)."""
    color = base.clone()
    n = smooth_noise(local, seed, frequency=2.0)  # (R,)
    x, y, z = local.unbind(-1)

    m = tex == TEXTURE_ID["grass"]
    color[m] = base[m] * (1.0 + 0.18 * n[m, None])
    m = tex == TEXTURE_ID["checker"]
    parity = (torch.floor(x / 0.5) + torch.floor(y / 0.5) + torch.floor(z / 0.5)).remainder(2)
    color[m] = base[m] * (0.7 + 0.3 * parity[m, None])
    m = tex == TEXTURE_ID["stripes"]
    color[m] = base[m] * (0.85 + 0.15 * torch.sign(torch.sin(2 * math.pi * z / 0.4))[m, None])
    m = tex == TEXTURE_ID["facade"]
    window = _in_band(x + y, 1.2, 0.3, 0.7) & _in_band(z, 1.5, 0.35, 0.8)
    facade = base * (0.92 + 0.08 * n[:, None])
    facade[window] = torch.tensor([0.18, 0.22, 0.32])
    color[m] = facade[m]
    m = tex == TEXTURE_ID["road"]
    marking = (y.abs() < 0.1) & _in_band(x, 3.0, 0.0, 0.5)
    road = base * (0.95 + 0.05 * n[:, None])
    road[marking] = torch.tensor([0.92, 0.92, 0.88])
    color[m] = road[m]
    m = tex == TEXTURE_ID["foliage"]
    leafy = smooth_noise(local, seed + 1, frequency=5.0)
    color[m] = base[m] * (0.8 + 0.25 * leafy[m, None])
    m = tex == TEXTURE_ID["wood"]
    grain = torch.sin(2 * math.pi * (x * 3.0 + 0.4 * n))
    color[m] = base[m] * (0.85 + 0.12 * grain[m, None])
    return color.clamp(0.0, 1.0)
