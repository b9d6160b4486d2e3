r"""View-dependent colour from spherical harmonics of degree 0 or 1 (3DGS §4, Ramamoorthi & Hanrahan 2001), chapter 05.

.. math:: c(\mathbf{d}) = \max\Big(0,\; \tfrac12 + C_0\, k_0 + C_1\,(-y\, k_1 + z\, k_2 - x\, k_3)\Big),
          \quad C_0 = \tfrac{1}{2\sqrt{\pi}},\; C_1 = \sqrt{\tfrac{3}{4\pi}}

where :math:`\mathbf{d} = (x, y, z)` is the unit direction from the camera to the Gaussian and
:math:`k_i \in \mathbb{R}^3` the coefficients (the same real-SH convention as the 3DGS code and gsplat).
"""

from __future__ import annotations

import math

import torch

SH_C0 = 0.5 / math.sqrt(math.pi)  # 0.28209479
SH_C1 = math.sqrt(3.0 / (4.0 * math.pi))  # 0.48860251


def rgb_to_sh0(rgb: torch.Tensor) -> torch.Tensor:
    """Degree-0 coefficient that makes a Gaussian show colour ``rgb`` (..., 3) from every side (chapter 05)."""
    return (rgb - 0.5) / SH_C0


def eval_sh(sh0: torch.Tensor, sh1: torch.Tensor | None, dirs: torch.Tensor | None) -> torch.Tensor:
    """Colour (N, 3) from sh0 (N, 3), optional sh1 (N, 3, 3) (the three degree-1 coefficients) and view dirs (N, 3) (chapter 05)."""
    color = 0.5 + SH_C0 * sh0
    if sh1 is not None:
        if dirs is None:
            raise ValueError("degree-1 SH needs view directions")
        x, y, z = torch.nn.functional.normalize(dirs, dim=-1).unbind(-1)
        color = color + SH_C1 * (-y[:, None] * sh1[:, 0] + z[:, None] * sh1[:, 1] - x[:, None] * sh1[:, 2])
    return color.clamp(min=0.0)
