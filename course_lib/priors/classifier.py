"""The judge: a small image encoder + classifier over the prompt classes (chapters 05-07).

Stands in for CLIP (prompt adherence of generated images) and for DINO (its pooled features
are the semantic embedding of DreamScene360's virtual-view regulariser). Convolutional with
global average pooling, so one net reads 32 x 32 views and 32 x 64 panoramas alike.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.priors.data import PROMPT_CLASSES


class PromptClassifier(nn.Module):
    """RGB (B, 3, H, W) in [-1, 1] -> logits over :data:`PROMPT_CLASSES` (B, K); :meth:`features` -> (B, D) (chapters 05-07)."""

    def __init__(self, width: int = 32, num_classes: int = len(PROMPT_CLASSES)) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())

        self.encoder = nn.Sequential(conv(3, width), conv(width, width), nn.AvgPool2d(2), conv(width, 2 * width), nn.AvgPool2d(2),
                                     conv(2 * width, 2 * width), nn.AvgPool2d(2), conv(2 * width, 2 * width))
        self.head = nn.Linear(2 * width, num_classes)

    def features(self, rgb: torch.Tensor) -> torch.Tensor:
        """Pooled image features (B, 2 * width): the course's stand-in for a DINO [CLS] / CLIP image embedding."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must be (B, 3, H, W) in [-1, 1], got {tuple(rgb.shape)}")
        if rgb.shape[-2] % 8 or rgb.shape[-1] % 8:
            raise ValueError(f"height and width must be multiples of 8, got {tuple(rgb.shape[-2:])}")
        return self.encoder(rgb).mean(dim=(2, 3))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(rgb))
