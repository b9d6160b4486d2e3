r"""Photometric losses of 3DGS: L1 + D-SSIM (3DGS §7, eq. 7; SSIM: Wang et al. 2004), chapter 05.

.. math:: \mathcal{L} = (1 - \lambda)\, \mathcal{L}_1 + \lambda\, \mathcal{L}_{\text{D-SSIM}}, \qquad
          \mathcal{L}_{\text{D-SSIM}} = 1 - \mathrm{SSIM}, \quad \lambda = 0.2
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _gaussian_window(size: int, sigma: float, channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_map(img1: torch.Tensor, img2: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r"""Per-pixel SSIM (B, C, H, W) of two images (H, W, C) or (B, H, W, C) in [0, 1], 11x11 Gaussian window, σ = 1.5,
    zero padding (Wang et al. 2004, eq. 13) (chapters 05-06; chapter 06 averages it inside a mask).

    .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}{(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}
    """
    if img1.shape != img2.shape:
        raise ValueError(f"ssim needs two images of the same shape, got {tuple(img1.shape)} and {tuple(img2.shape)}")
    x = (img1 if img1.ndim == 4 else img1[None]).permute(0, 3, 1, 2)
    y = (img2 if img2.ndim == 4 else img2[None]).permute(0, 3, 1, 2)
    C = x.shape[1]
    w = _gaussian_window(window, sigma, C, x.dtype, x.device)
    pad = window // 2
    mu_x, mu_y = F.conv2d(x, w, padding=pad, groups=C), F.conv2d(y, w, padding=pad, groups=C)
    sxx = F.conv2d(x * x, w, padding=pad, groups=C) - mu_x**2
    syy = F.conv2d(y * y, w, padding=pad, groups=C) - mu_y**2
    sxy = F.conv2d(x * y, w, padding=pad, groups=C) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))


def ssim(img1: torch.Tensor, img2: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of two images (H, W, C) or (B, H, W, C) in [0, 1]: the mean of :func:`ssim_map` (chapter 05)."""
    return ssim_map(img1, img2, window, sigma).mean()


def l1_dssim_loss(render: torch.Tensor, target: torch.Tensor, lam: float = 0.2) -> torch.Tensor:
    """3DGS eq. 7: (1 - λ) L1 + λ (1 - SSIM), λ = 0.2 (chapter 05)."""
    return (1 - lam) * (render - target).abs().mean() + lam * (1 - ssim(render, target))


def psnr(img: torch.Tensor, target: torch.Tensor) -> float:
    r"""Peak signal-to-noise ratio for images in [0, 1]: :math:`-10 \log_{10} \mathrm{MSE}` (dB) (chapter 05)."""
    mse = float(((img - target) ** 2).mean())
    return math.inf if mse == 0 else -10.0 * math.log10(mse)
