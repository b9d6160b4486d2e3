"""Pre-training of chapter 04's frozen parts, each on its own objective, and their shipped assets.

The encoders and the LM are trained once here and shipped as safetensors assets
(``python -m course_lib.assets build ch04_shape_cnn`` etc.); the notebook loads and freezes
them. They stand in for BRAVE's public encoders (EVA-CLIP, CLIP, DINOv2...) and FlanT5-XL.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from course_lib import assets
from course_lib.lm.decoder import TinyDecoder, TinyDecoderConfig
from course_lib.vlm.data import IGNORE, lm_labels, lm_pretraining_text
from course_lib.vlm.encoders import TOKEN_CELL, build_encoder, freeze
from course_lib.vlm.world import ANS, VOCAB, random_scene, render

ENCODER_STEPS = {"shape_cnn": 500, "colour_net": 300, "layout_vit": 500}
LM_STEPS = 4000


def cell_targets(scenes: list) -> dict[str, torch.Tensor]:
    """Per-cell shape and colour classes (0 = empty, else 1 + index), occupancy and count class."""
    shape = torch.zeros(len(scenes), 4, dtype=torch.long)
    colour = torch.zeros(len(scenes), 4, dtype=torch.long)
    for i, s in enumerate(scenes):
        for o in s.objects:
            shape[i, o.cell], colour[i, o.cell] = 1 + o.shape, 1 + o.colour
    return {"shape": shape, "colour": colour, "occupied": (shape > 0).float(), "count": (shape > 0).sum(1) - 1}


def encoder_loss(name: str, model: nn.Module, images: torch.Tensor, targets: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each encoder's own objective and its accuracy: shape per cell, colour per cell, or layout + count."""
    out = model(images)
    if name == "layout_vit":
        occupied = targets["occupied"][:, TOKEN_CELL]  # (B, 16): is this token's cell occupied?
        loss = F.binary_cross_entropy_with_logits(out[:, :16], occupied) + F.cross_entropy(out[:, 16:], targets["count"])
        acc = ((out[:, :16] > 0).float() == occupied).all(1) & (out[:, 16:].argmax(1) == targets["count"])
        return loss, acc.float().mean()
    y = targets["shape" if name == "shape_cnn" else "colour"]
    return F.cross_entropy(out.flatten(0, 1), y.flatten()), (out.argmax(-1) == y).float().mean()


def random_images(num: int, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``num`` rendered random scenes and their per-cell targets (chapter 04 encoder pre-training)."""
    scenes = [random_scene(generator) for _ in range(num)]
    return torch.stack([render(s, generator=generator) for s in scenes]), cell_targets(scenes)


def pretrain_encoder(name: str, steps: int, seed: int = 0, batch_size: int = 64, lr: float = 3e-3) -> tuple[nn.Module, dict]:
    """Train encoder ``name`` on its own objective (chapter 04); returns it and its metrics."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = build_encoder(name)
    pool_images, pool_targets = random_images(2048, g)
    test_images, test_targets = random_images(512, g)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    losses = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(pool_images), (batch_size,), generator=g)
        loss, _ = encoder_loss(name, model, pool_images[idx], {k: v[idx] for k, v in pool_targets.items()})
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        _, acc = encoder_loss(name, model, test_images, test_targets)
    return model, {"steps": steps, "test_accuracy": round(acc.item(), 4), **loss_summary(losses)}


def loss_summary(losses: list[float]) -> dict[str, float]:
    """The manifest's loss_start / loss_end, rounded."""
    return {k: round(v, 4) for k, v in assets.loss_metrics(losses).items()}


def lm_config() -> TinyDecoderConfig:
    """The sizes of chapter 04's tiny LM (the ``ch04_tiny_lm`` asset)."""
    return TinyDecoderConfig(vocab_size=len(VOCAB), dim=64, depth=3, num_heads=4, max_len=64)


def pretrain_lm(steps: int, seed: int = 0, batch_size: int = 64, lr: float = 3e-3) -> tuple[TinyDecoder, dict]:
    """Pre-train the tiny LM on the world's text: captions, and questions answered from the caption."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    tokens = lm_pretraining_text(3000, seed)
    test = lm_pretraining_text(200, seed + 1)
    labels, test_labels = lm_labels(tokens), lm_labels(test)
    lm = TinyDecoder(lm_config())
    opt = torch.optim.AdamW(lm.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(tokens), (batch_size,), generator=g)
        loss = F.cross_entropy(lm(tokens[idx]).flatten(0, 1), labels[idx].flatten(), ignore_index=IGNORE)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    lm.eval()
    with torch.no_grad():
        pred = lm(test).argmax(-1)
        answer_pos = test == ANS  # the word after <ans> is the answer, read from the caption
        acc = (pred[answer_pos] == test_labels[answer_pos]).float().mean().item()
    return lm, {"steps": steps, "answer_from_caption_accuracy": round(acc, 4), **loss_summary(losses)}


def build_asset(out_path: Path, *, seed: int, quick: bool = False, variant: str) -> dict:
    """Asset builder of ``ch04_<variant>`` (see course_lib.assets.Recipe): pre-train the encoder
    ``variant`` (a key of ``ENCODER_STEPS``) or, for ``'tiny_lm'``, the LM, and save its weights."""
    start = time.perf_counter()
    if variant == "tiny_lm":
        model, metrics = pretrain_lm(20 if quick else LM_STEPS, seed)
    elif variant in ENCODER_STEPS:
        model, metrics = pretrain_encoder(variant, 20 if quick else ENCODER_STEPS[variant], seed)
    else:
        raise ValueError(f"no chapter-04 frozen part {variant!r}; the variants are {', '.join([*ENCODER_STEPS, 'tiny_lm'])}")
    assets.save_safetensors(model.state_dict(), out_path)
    return {**metrics, "train_seconds": round(time.perf_counter() - start, 1)}


def load_encoder(name: str) -> nn.Module:
    """Encoder ``name`` with its shipped pre-trained weights, frozen (chapter 04)."""
    model = build_encoder(name)
    model.load_state_dict(assets.load(f"ch04_{name}"))
    return freeze(model)


def load_lm() -> TinyDecoder:
    """The shipped pre-trained tiny LM, frozen (chapter 04)."""
    lm = TinyDecoder(lm_config())
    lm.load_state_dict(assets.load("ch04_tiny_lm"))
    return freeze(lm)

