"""scikit-learn's handwritten digits as a tiny image-classification set (chapter 03, reduced scale)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ImageSplit:
    """Images (N, C, H, W), float32, standardised, integer labels (N,) and each image's index in the source set (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ImageDataset:
    train: ImageSplit
    test: ImageSplit
    num_classes: int
    image_size: int
    in_chans: int
    validation: ImageSplit | None = None  # carved from the training part; None when no validation split was asked for


def load_digits_dataset(test_fraction: float = 0.25, seed: int = 0, validation_fraction: float = 0.0) -> ImageDataset:
    """The 1,797 8x8 greyscale digits shipped with scikit-learn (no download), split per class.

    The test split is cut first (``test_fraction`` of the digits, stratified, ``seed``), so it holds the same
    images whatever ``validation_fraction`` is; the validation split (``validation_fraction`` of all digits) is
    then cut, stratified, from the training part. Pixels (0..16) are standardised with the training split's
    mean and standard deviation.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} must lie strictly between 0 and 1")
    if not 0.0 <= validation_fraction < 1.0 - test_fraction:
        raise ValueError(f"validation_fraction={validation_fraction} must lie in [0, {1.0 - test_fraction:g}) "
                         f"(it is carved from the training part, which is 1 - test_fraction of the digits)")
    digits = load_digits()
    images = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    i_tr, i_te = train_test_split(np.arange(len(images)), test_size=test_fraction, random_state=seed, stratify=digits.target)
    i_va = None
    if validation_fraction > 0:
        i_tr, i_va = train_test_split(i_tr, test_size=validation_fraction / (1.0 - test_fraction), random_state=seed,
                                      stratify=digits.target[i_tr])
    mean, std = images[i_tr].mean(), images[i_tr].std()

    def split(i: np.ndarray) -> ImageSplit:
        return ImageSplit(torch.from_numpy((images[i] - mean) / std), torch.from_numpy(digits.target[i]).long(), torch.from_numpy(i))

    return ImageDataset(split(i_tr), split(i_te), num_classes=10, image_size=8, in_chans=1,
                        validation=split(i_va) if i_va is not None else None)
