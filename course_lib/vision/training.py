"""A short, deterministic CPU training loop for the reduced-scale LLaMAfication runs (chapter 03)."""

from __future__ import annotations

from typing import Callable

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy

from course_lib.vision.digits import ImageDataset, ImageSplit
from course_lib.vision.soft_mask_schedule import soft_mask_alpha
from course_lib.vision.vit import VisionTransformer


@dataclass(frozen=True)
class TrainRecipe:
    """Optimiser, schedule and the two training extras of Table 17 (mixup/cutmix, soft mask)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    label_smoothing: float = 0.0
    soft_mask_schedule: str | None = None  # "linear" or "constant"
    soft_mask_cutoff_epochs: int = 0


@dataclass
class TrainResult:
    test_accuracy: float
    test_loss: float
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch
    alphas: list[float] = field(default_factory=list)  # soft-mask alpha per step
    validation_accuracy: float | None = None  # None when the dataset has no validation split
    validation_loss: float | None = None


def lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    """Linear warm-up then cosine decay to zero."""
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


@torch.no_grad()
def evaluate(model: VisionTransformer, split: ImageSplit, batch_size: int = 512) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) with the hard mask (soft-mask alpha = 0, as at inference)."""
    model.eval()
    alpha, model.soft_mask_alpha = model.soft_mask_alpha, 0.0
    correct, loss = 0, 0.0
    for i in range(0, len(split), batch_size):
        logits = model(split.images[i : i + batch_size])
        labels = split.labels[i : i + batch_size]
        correct += (logits.argmax(-1) == labels).sum().item()
        loss += F.cross_entropy(logits, labels, reduction="sum").item()
    model.soft_mask_alpha = alpha
    return correct / len(split), loss / len(split)


def train_classifier(model: VisionTransformer, data: ImageDataset, recipe: TrainRecipe, seed: int = 0, progress=None,
                     alpha_fn: Callable[[int, int, str], float] = soft_mask_alpha) -> TrainResult:
    """Train with AdamW (warm-up + cosine), optional timm Mixup/CutMix and the soft-mask schedule on ``data.train``;
    score the validation split (if ``data`` has one) and the test split once, at the end.

    ``alpha_fn(step, cutoff_step, schedule)`` gives the soft mask's alpha at each update (chapter 03 passes the
    learner's ``soft_mask_alpha``, exercise 03-6)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)  # timm's Mixup draws from NumPy's global generator: same seed, same mixes
    steps_per_epoch = len(data.train) // recipe.batch_size  # drop the last partial batch (mixup needs even batches)
    total, warmup = recipe.epochs * steps_per_epoch, recipe.warmup_epochs * steps_per_epoch
    cutoff = recipe.soft_mask_cutoff_epochs * steps_per_epoch
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos_embed" not in n and "cls_token" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "pos_embed" not in n and "cls_token" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr)
    mix = None
    if recipe.mixup_alpha > 0 or recipe.cutmix_alpha > 0:
        mix = Mixup(mixup_alpha=recipe.mixup_alpha, cutmix_alpha=recipe.cutmix_alpha, label_smoothing=recipe.label_smoothing, num_classes=data.num_classes)
    soft_loss = SoftTargetCrossEntropy()
    result, step = TrainResult(0.0, 0.0), 0
    for _ in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(data.train), generator=generator)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            x, y = data.train.images[idx], data.train.labels[idx]
            if recipe.soft_mask_schedule is not None:
                model.soft_mask_alpha = alpha_fn(step, cutoff, recipe.soft_mask_schedule)
                result.alphas.append(model.soft_mask_alpha)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, warmup, recipe.lr)
            if mix is not None:
                x, y_soft = mix(x, y)
                loss = soft_loss(model(x), y_soft)
            else:
                loss = F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
            step += 1
        result.losses.append(epoch_loss / steps_per_epoch)
        if progress is not None:
            progress.update(1)
    model.soft_mask_alpha = 0.0
    if data.validation is not None:
        result.validation_accuracy, result.validation_loss = evaluate(model, data.validation)
    result.test_accuracy, result.test_loss = evaluate(model, data.test)
    return result
