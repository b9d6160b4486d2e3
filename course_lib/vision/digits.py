"""scikit-learn's handwritten digits as a tiny image-classification set (chapter 03, reduced scale)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ImageSplit:
    """Images (N, C, H, W), float32, standardised, and integer labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ImageDataset:
    train: ImageSplit
    test: ImageSplit
    num_classes: int
    image_size: int
    in_chans: int


def load_digits_dataset(test_fraction: float = 0.25, seed: int = 0) -> ImageDataset:
    """The 1,797 8x8 greyscale digits shipped with scikit-learn (no download), split per class.

    Pixels (0..16) are standardised with the training split's mean and standard deviation.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} must lie strictly between 0 and 1")
    digits = load_digits()
    images = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target)
    mean, std = x_tr.mean(), x_tr.std()
    split = lambda x, y: ImageSplit(torch.from_numpy((x - mean) / std), torch.from_numpy(y).long())  # noqa: E731
    return ImageDataset(split(x_tr, y_tr), split(x_te, y_te), num_classes=10, image_size=8, in_chans=1)
