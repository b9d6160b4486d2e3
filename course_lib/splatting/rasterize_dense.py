"""Dense reference rasterizer: every pixel against every Gaussian (3DGS eq. 3), chapter 05 (for tests).

Simple and slow: it builds a (pixels x Gaussians) table. The sparse rasterizer
(:mod:`course_lib.splatting.rasterize`) must give the same colours, depths, alphas and gradients.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_lib.splatting.compositing import composite_weights, pixel_centers, splat_alpha


def rasterize_dense(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    colors: torch.Tensor,
    opacities: torch.Tensor,
    depths: torch.Tensor,
    radii: torch.Tensor,
    width: int,
    height: int,
    background: torch.Tensor | None = None,
    composite: Callable[[torch.Tensor], torch.Tensor] = composite_weights,
) -> dict[str, torch.Tensor]:
    """Composite all unculled Gaussians at every pixel. Inputs are per Gaussian: means2d (N, 2), conics (N, 3), (chapter 05)
    colors (N, C), opacities (N,), depths (N,), radii (N, 2). Returns ``rgb`` (H, W, C), ``depth`` (H, W; expected
    depth of what is seen, 0 where nothing is) and ``alpha`` (H, W). ``composite`` turns the per-pixel front-to-back
    opacities (P, N) into blending weights (default: :func:`composite_weights`)."""
    ids = torch.nonzero((radii > 0).all(dim=-1)).flatten()
    ids = ids[torch.argsort(depths[ids].detach(), stable=True)]  # front to back
    pix = pixel_centers(width, height, means2d.dtype, means2d.device)  # (P, 2)
    delta = pix[:, None, :] - means2d[ids][None, :, :]  # (P, N, 2)
    alpha, keep = splat_alpha(delta, conics[ids][None], opacities[ids][None])
    weights = composite(torch.where(keep, alpha, torch.zeros_like(alpha)))  # (P, N)
    acc = weights.sum(dim=1)  # (P,)
    rgb = weights @ colors[ids]
    depth = (weights @ depths[ids]) / acc.clamp(min=1e-10)
    if background is not None:
        rgb = rgb + (1.0 - acc)[:, None] * background
    return {"rgb": rgb.reshape(height, width, -1), "depth": depth.reshape(height, width), "alpha": acc.reshape(height, width)}
