"""Sparse differentiable rasterizer: each Gaussian only touches the pixels of its bounding box (3DGS §6), chapter 05.

The CUDA rasterizer of 3DGS sorts (tile, depth) keys and blends each tile's list in shared
memory. Here the same idea is written with PyTorch tensor operations:

1. list every (pixel, Gaussian) pair inside each Gaussian's 3.33-sigma bounding box and drop
   the pairs whose opacity is below 1/255 (no gradient flows through this bookkeeping);
2. sort the pairs by (pixel, depth) and give each pair its slot in its pixel's list;
3. recompute the surviving pairs' opacities with autograd, scatter them into a
   (pixels x longest list) table, and composite front to back with a cumulative product.

The work is proportional to the number of pairs, about N x (splat area), instead of
pixels x N for the dense reference; autograd supplies the backward pass.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_lib.splatting.compositing import composite_weights, pixel_centers, splat_alpha


@torch.no_grad()
def _pairs(means2d: torch.Tensor, conics: torch.Tensor, opacities: torch.Tensor, depths: torch.Tensor, radii: torch.Tensor, width: int, height: int):
    """(pixel, Gaussian) pairs that contribute, sorted by pixel then depth, with their slot in the pixel's list."""
    device = means2d.device
    ids = torch.nonzero((radii > 0).all(dim=-1)).flatten()
    m, r = means2d[ids], radii[ids].to(means2d.dtype)
    x0 = torch.ceil(m[:, 0] - r[:, 0] - 0.5).clamp(0, width - 1).long()  # first pixel column whose centre is in the box
    x1 = torch.floor(m[:, 0] + r[:, 0] - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(m[:, 1] - r[:, 1] - 0.5).clamp(0, height - 1).long()
    y1 = torch.floor(m[:, 1] + r[:, 1] - 0.5).clamp(-1, height - 1).long()
    nx, ny = (x1 - x0 + 1).clamp(min=0), (y1 - y0 + 1).clamp(min=0)
    counts = nx * ny  # pixels in each box
    owner = torch.repeat_interleave(torch.arange(len(ids), device=device), counts)  # (M,) index into ids
    local = torch.arange(owner.numel(), device=device) - (torch.cumsum(counts, 0) - counts)[owner]
    px = x0[owner] + local % nx[owner]
    py = y0[owner] + local // nx[owner]
    gid, pix = ids[owner], py * width + px

    delta = pixel_centers(width, height, means2d.dtype, device)[pix] - means2d[gid]
    _, keep = splat_alpha(delta, conics[gid], opacities[gid])
    gid, pix = gid[keep], pix[keep]

    rank = torch.empty_like(depths, dtype=torch.long)
    rank[torch.argsort(depths, stable=True)] = torch.arange(depths.numel(), device=device)
    order = torch.argsort(pix * depths.numel() + rank[gid])
    gid, pix = gid[order], pix[order]
    per_pixel = torch.bincount(pix, minlength=width * height)
    slot = torch.arange(pix.numel(), device=device) - (torch.cumsum(per_pixel, 0) - per_pixel)[pix]
    return gid, pix, slot, int(per_pixel.max()) if pix.numel() else 0


def rasterize(
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
    """Differentiable sparse rasterization (3DGS eq. 3), same inputs and outputs as (chapter 05)
    :func:`~course_lib.splatting.rasterize_dense.rasterize_dense`: ``rgb`` (H, W, C), ``depth`` (H, W), ``alpha`` (H, W).

    Gradients flow to means2d, conics, colors, opacities and depths. ``composite`` turns each pixel's
    front-to-back opacities (P, K), zero-padded, into blending weights (default: :func:`composite_weights`).
    """
    P = width * height
    gid, pix, slot, longest = _pairs(means2d.detach(), conics.detach(), opacities.detach(), depths.detach(), radii, width, height)
    delta = pixel_centers(width, height, means2d.dtype, means2d.device)[pix] - means2d[gid]  # (M, 2)
    alpha, _ = splat_alpha(delta, conics[gid], opacities[gid])  # (M,)
    table = torch.zeros(P, max(longest, 1), dtype=means2d.dtype, device=means2d.device).index_put((pix, slot), alpha)  # (P, K)
    w = composite(table)[pix, slot]  # (M,) weight of each pair
    acc = torch.zeros(P, dtype=means2d.dtype, device=means2d.device).index_add(0, pix, w)
    rgb = torch.zeros(P, colors.shape[-1], dtype=colors.dtype, device=colors.device).index_add(0, pix, w[:, None] * colors[gid])
    depth = torch.zeros(P, dtype=means2d.dtype, device=means2d.device).index_add(0, pix, w * depths[gid]) / acc.clamp(min=1e-10)
    if background is not None:
        rgb = rgb + (1.0 - acc)[:, None] * background
    return {"rgb": rgb.reshape(height, width, -1), "depth": depth.reshape(height, width), "alpha": acc.reshape(height, width)}
