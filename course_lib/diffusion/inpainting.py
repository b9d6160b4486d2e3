"""Inpainting conditions: masks, masked images and the inputs of an inpainting prior (chapter 06).

Convention of SD-inpainting: the UNet sees :math:`[x_t, m, (1-m)\\odot I]` with ``m = 1`` where the
model must fill. The "no image" condition :math:`\\varnothing` of RealmDreamer's 3-way guidance is
a full mask with an empty (zero) image, so the same net is also a text-to-image prior.
"""

from __future__ import annotations

import torch


def inpaint_condition(image: torch.Tensor | None, mask: torch.Tensor | None, batch: int | None = None,
                      size: tuple[int, int] | None = None) -> torch.Tensor:
    """The extra input channels (B, 1 + 3, H, W): mask and masked image (chapter 06).

    ``image`` (B, 3, H, W) in [-1, 1] and ``mask`` (B, 1, H, W) with 1 = fill; ``image=None`` gives the
    empty image condition (mask of ones, zero image) for ``batch`` images of ``size``.
    """
    if image is None:
        if batch is None or size is None:
            raise ValueError("without an image, pass batch= and size=(H, W) for the empty condition")
        return torch.cat([torch.ones(batch, 1, *size), torch.zeros(batch, 3, *size)], dim=1)
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be (B, 3, H, W) in [-1, 1], got {tuple(image.shape)}")
    if mask is None or mask.shape != (image.shape[0], 1, *image.shape[2:]):
        raise ValueError(f"mask must be (B, 1, H, W) = {(image.shape[0], 1, *image.shape[2:])} with 1 where to fill, got "
                         f"{None if mask is None else tuple(mask.shape)}")
    mask = mask.float()
    return torch.cat([mask, image * (1 - mask)], dim=1)


def random_masks(batch: int, size: tuple[int, int], generator: torch.Generator | None = None) -> torch.Tensor:
    """Random training masks (B, 1, H, W) (chapter 06): one or two rectangles of 1/8 to 1/2 of each side."""
    H, W = size
    masks = torch.zeros(batch, 1, H, W)
    for b in range(batch):
        for _ in range(int(torch.randint(1, 3, (1,), generator=generator))):
            h = int(torch.randint(H // 8, H // 2 + 1, (1,), generator=generator))
            w = int(torch.randint(W // 8, W // 2 + 1, (1,), generator=generator))
            top = int(torch.randint(0, H - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, W - w + 1, (1,), generator=generator))
            masks[b, :, top : top + h, left : left + w] = 1.0
    return masks


def masked_mse(x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean squared error of ``x`` against ``target`` (B, C, H, W) over the pixels where ``mask`` (B, 1, H, W) = 1,
    every channel counted (chapter 06): how well a fill recovers the hidden part of the true scene."""
    region = mask.bool().expand_as(target)
    return float(((x - target)[region] ** 2).mean())


def blur_fill(image: torch.Tensor, mask: torch.Tensor, iterations: int = 64) -> torch.Tensor:
    """A non-learned baseline (chapter 06): fill the masked region by repeated 3x3 averaging of the known pixels
    (harmonic inpainting), the reference the learned prior must beat."""
    known = 1 - mask.float()
    x = image * known
    weight = known.clone()
    kernel = torch.ones(1, 1, 3, 3)
    for _ in range(iterations):
        s = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(x.shape[1], 1, 3, 3), groups=x.shape[1])
        w = torch.nn.functional.conv2d(torch.nn.functional.pad(weight, (1, 1, 1, 1), mode="replicate"), kernel)
        fill = s / w.clamp(min=1e-6)
        x = torch.where(known.bool(), image, torch.where(w > 0, fill, x))
        weight = torch.where(w > 0, torch.ones_like(weight), weight)
    return x
