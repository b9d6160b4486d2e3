"""Small dense-prediction nets: the monocular depth prior and the layout segmenter (chapters 05-07).

The depth net stands in for Marigold / Depth Anything / DPT: RGB -> a relative depth map, known
only up to scale and shift per image (like real monocular depth), trained with a scale- and
shift-invariant loss (MiDaS, Ranftl et al., 2020, Eq. 5-6 with the least-squares alignment
replaced by per-image standardisation). The segmenter stands in for the segmentation model
that judges layout adherence in Urban Architect.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())


class DenseNet(nn.Module):
    """A three-level convolutional UNet, (B, in, H, W) -> (B, out, H, W), H and W multiples of 4 (chapters 05-07)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        self.enc1, self.enc2, self.enc3 = _block(in_channels, width), _block(width, 2 * width), _block(2 * width, 2 * width)
        self.dec2, self.dec1 = _block(4 * width, 2 * width), _block(3 * width, width)
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"input must be (B, C, H, W) with H and W multiples of 4, got {tuple(x.shape)}")
        e1 = self.enc1(x)  # (B, w, H, W)
        e2 = self.enc2(nn.functional.avg_pool2d(e1, 2))  # (B, 2w, H/2, W/2)
        e3 = self.enc3(nn.functional.avg_pool2d(e2, 2))  # (B, 2w, H/4, W/4)
        d2 = self.dec2(torch.cat([nn.functional.interpolate(e3, scale_factor=2.0), e2], dim=1))
        d1 = self.dec1(torch.cat([nn.functional.interpolate(d2, scale_factor=2.0), e1], dim=1))
        return self.head(d1)


def standardize(maps: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """Per-image zero mean, unit variance of (B, H, W) maps over the pixels of ``mask`` (all when None) (chapter 06)."""
    mask = torch.ones_like(maps, dtype=torch.bool) if mask is None else mask
    weight = mask.float()
    n = weight.sum(dim=(1, 2), keepdim=True).clamp(min=1)
    mean = (maps * weight).sum(dim=(1, 2), keepdim=True) / n
    var = (((maps - mean) ** 2) * weight).sum(dim=(1, 2), keepdim=True) / n
    return (maps - mean) / (var + eps).sqrt()


def scale_shift_invariant_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""MSE between per-image standardised prediction and target (chapter 06):
    :math:`\frac{1}{|M|}\sum_{p\in M} (\hat d_p - \hat d^*_p)^2`, :math:`\hat d = (d - \mu_d)/\sigma_d`; invariant to
    a positive scale and any shift of either map (the ambiguity of monocular depth, MiDaS Eq. 4)."""
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(f"pred and target must both be (B, H, W), got {tuple(pred.shape)} and {tuple(target.shape)}")
    mask = torch.ones_like(pred, dtype=torch.bool) if mask is None else mask
    diff = (standardize(pred, mask) - standardize(target, mask)) ** 2
    return (diff * mask).sum() / mask.sum().clamp(min=1)


def pearson(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Per-image Pearson correlation of (B, H, W) maps over ``mask`` (RealmDreamer Eq. 6's depth agreement) (chapter 06), (B,)."""
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"a and b must both be (B, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    mask = torch.ones_like(a, dtype=torch.bool) if mask is None else mask
    za, zb = standardize(a, mask), standardize(b, mask)
    return (za * zb * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp(min=1)


class DepthPrior(nn.Module):
    """Monocular depth (chapters 05-06): RGB (B, 3, H, W) in [-1, 1] -> relative depth (B, H, W), standardised per image.

    Larger = farther; the scale and shift are unknown, as for Marigold / Depth Anything: align
    them to metric depth with a least-squares fit (chapter 06) or a global alignment (chapter 05).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = DenseNet(3, 1, width)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must be (B, 3, H, W) in [-1, 1], got {tuple(rgb.shape)}")
        return standardize(self.net(rgb)[:, 0])
