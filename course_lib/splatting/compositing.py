r"""Per-pixel opacity of a splat and front-to-back alpha compositing (3DGS eqs. 3-4), chapter 05.

.. math:: \alpha_i(p) = \min\big(0.99,\; o_i \exp(-\sigma_i(p))\big), \quad
          \sigma_i(p) = \tfrac12 (a\,\Delta x^2 + c\,\Delta y^2) + b\,\Delta x \Delta y

with :math:`\Delta = p - \mu'_i` and :math:`(a, b, c)` the conic. Sorted front to back,

.. math:: C(p) = \sum_i c_i\, \alpha_i \prod_{j<i} (1 - \alpha_j) \quad\text{(3DGS eq. 3)}

Contributions below 1/255 are skipped, and a pixel stops once its transmittance would drop
below 1e-4 (both as in the 3DGS CUDA rasterizer and gsplat).
"""

from __future__ import annotations

import torch

ALPHA_MAX = 0.99  # as in the 3DGS code; gsplat clamps at 0.999
ALPHA_MIN = 1.0 / 255.0
T_MIN = 1e-4


def pixel_centers(width: int, height: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H*W, 2) pixel centres (x, y) = (j + 0.5, i + 0.5), row-major: where both rasterizers evaluate the splats (chapter 05)."""
    i, j = torch.meshgrid(torch.arange(height, dtype=dtype, device=device), torch.arange(width, dtype=dtype, device=device), indexing="ij")
    return torch.stack([j + 0.5, i + 0.5], dim=-1).reshape(-1, 2)


def splat_alpha(delta: torch.Tensor, conics: torch.Tensor, opacities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Opacity of splats at pixel offsets ``delta`` (..., 2) with ``conics`` (..., 3) and ``opacities`` (...) (3DGS eq. 4: the Gaussian G, projected by eq. 5, times the opacity) (chapter 05).

    Returns (alpha, keep): alpha (...) clamped to 0.99, and the mask of contributions that count
    (sigma >= 0 and alpha >= 1/255).
    """
    dx, dy = delta[..., 0], delta[..., 1]
    sigma = 0.5 * (conics[..., 0] * dx * dx + conics[..., 2] * dy * dy) + conics[..., 1] * dx * dy
    alpha = torch.clamp(opacities * torch.exp(-sigma), max=ALPHA_MAX)
    return alpha, (sigma >= 0) & (alpha >= ALPHA_MIN)


def composite_weights(alphas: torch.Tensor) -> torch.Tensor:
    r"""Blending weights :math:`w_i = \alpha_i T_i`, :math:`T_i = \prod_{j<i}(1-\alpha_j)` along the last axis (3DGS eq. 3) (chapter 05).

    alphas (..., K) sorted front to back (zeros for padding) -> weights (..., K). A splat is
    dropped, with everything behind it, once it would bring the transmittance to 1e-4 or below.
    """
    T_after = torch.cumprod(1.0 - alphas, dim=-1)  # transmittance after each splat
    T_before = torch.cat([torch.ones_like(alphas[..., :1]), T_after[..., :-1]], dim=-1)
    alive = (T_after > T_MIN).detach()
    return alphas * T_before * alive
