"""Small dense-prediction nets: the monocular depth prior and the layout segmenter (chapters 05-07).

The depth net stands in for Marigold / Depth Anything / DPT: RGB -> a relative depth map, known
only up to scale and shift per image (like real monocular depth), trained with a scale- and
shift-invariant loss (MiDaS, Ranftl et al., 2020, Eq. 5-6 with the least-squares alignment
replaced by per-image standardisation: :func:`~course_lib.geometry.depth.scale_shift_invariant_loss`).
The segmenter stands in for the segmentation model that judges layout adherence in Urban Architect.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.geometry.depth import standardize


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())


class DenseUNet(nn.Module):
    """A three-level convolutional UNet for dense prediction, (B, in, H, W) -> (B, out, H, W), H and W multiples of 4:
    the backbone of the depth prior and of the layout segmenter (chapters 05-07)."""

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


class DepthPrior(nn.Module):
    """Monocular depth (chapters 05-06): RGB (B, 3, H, W) in [-1, 1] -> relative depth (B, H, W), standardised per image.

    Larger = farther; the scale and shift are unknown, as for Marigold / Depth Anything: align
    them to metric depth with a least-squares fit (chapter 06) or a global alignment (chapter 05).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = DenseUNet(3, 1, width)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must be (B, 3, H, W) in [-1, 1], got {tuple(rgb.shape)}")
        return standardize(self.net(rgb)[:, 0])
