"""Full-scale iLLaMA training on ImageNet-1K (chapter 03), with timm's data and augmentation utilities.

Launch on one node with 8 GPUs (the paper's set-up: 8 x 128 images x 4 accumulation steps = 4096)::

    torchrun --standalone --nproc_per_node=8 -m course_lib.vision.imagenet \\
        --data-path /data/imagenet --model tiny --output-dir runs/illama_tiny

``--data-path`` holds ``train/`` and ``val/`` in ImageFolder layout. The recipe per size follows
the paper's scripts (techmonsterwang/iLLaMA): AdamW, lr 4e-3, weight decay 0.05, 300 epochs,
RandAugment, mixup/cutmix, label smoothing 0.1, drop path and the soft-mask schedule.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from course_lib.vision.illama import illama
from course_lib.vision.soft_mask_schedule import soft_mask_alpha

# Per-size settings of the paper's ImageNet-1K scripts (batch 128 per GPU x 8 GPUs x 4 accumulation).
RECIPES = {
    "tiny": dict(drop_path=0.0, mixup=0.1, cutmix=0.1, soft_mask_schedule="constant", soft_mask_cutoff_epochs=50),
    "small": dict(drop_path=0.1, mixup=0.5, cutmix=0.5, soft_mask_schedule="linear", soft_mask_cutoff_epochs=50),
    "base": dict(drop_path=0.4, mixup=0.95, cutmix=1.0, soft_mask_schedule="linear", soft_mask_cutoff_epochs=25),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train iLLaMA on ImageNet-1K (launch with torchrun).")
    p.add_argument("--data-path", required=True, help="folder with train/ and val/ in ImageFolder layout")
    p.add_argument("--model", default="tiny", help=f"one of {sorted(RECIPES)}")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--warmup-epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128, help="per process")
    p.add_argument("--update-freq", type=int, default=4, help="gradient accumulation steps")
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--num-workers", type=int, default=8)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many optimiser steps (0: the full schedule)")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    args = p.parse_args(argv)
    if args.model not in RECIPES:
        p.error(f"--model {args.model!r}: ImageNet-1K recipes exist for {sorted(RECIPES)} (the paper pre-trains large on ImageNet-21K)")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but no CUDA GPU is visible: run on a GPU machine (or pass --device cpu for a smoke test)")
    for split in ("train", "val"):
        if not (Path(args.data_path) / split).is_dir():
            p.error(f"--data-path {args.data_path} has no {split}/ folder: ImageNet must be in ImageFolder layout (train/CLASS/*.JPEG)")
    return args


def build_loaders(args: argparse.Namespace, distributed: bool):
    """timm's RandAugment/random-erasing training transform and its eval transform over ImageFolder."""
    from timm.data import create_transform
    from torchvision.datasets import ImageFolder

    train_tf = create_transform(args.image_size, is_training=True, auto_augment="rand-m9-mstd0.5-inc1",
                                interpolation="bicubic", re_prob=0.25, re_mode="pixel", re_count=1)
    eval_tf = create_transform(args.image_size, is_training=False, interpolation="bicubic")
    train, val = ImageFolder(os.path.join(args.data_path, "train"), train_tf), ImageFolder(os.path.join(args.data_path, "val"), eval_tf)
    sampler = torch.utils.data.DistributedSampler(train, shuffle=True) if distributed else torch.utils.data.RandomSampler(train)
    train_loader = torch.utils.data.DataLoader(train, args.batch_size, sampler=sampler, num_workers=args.num_workers, drop_last=True, pin_memory=args.device == "cuda")
    val_loader = torch.utils.data.DataLoader(val, args.batch_size, shuffle=False, num_workers=args.num_workers)
    return train_loader, val_loader, len(train.classes)


def main(argv: list[str] | None = None) -> dict:
    from timm.data import Mixup
    from timm.loss import SoftTargetCrossEntropy
    from timm.optim import create_optimizer_v2
    from timm.scheduler import CosineLRScheduler

    args = parse_args(argv)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1 or "LOCAL_RANK" in os.environ
    if distributed:
        torch.distributed.init_process_group("nccl" if args.device == "cuda" else "gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    device = torch.device(args.device, int(os.environ.get("LOCAL_RANK", 0))) if args.device == "cuda" else torch.device("cpu")
    torch.manual_seed(rank)
    recipe = RECIPES[args.model]
    train_loader, val_loader, num_classes = build_loaders(args, distributed)
    model = illama(args.model, num_classes=num_classes, image_size=args.image_size, drop_path=recipe["drop_path"]).to(device)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    optimizer = create_optimizer_v2(model, "adamw", lr=args.lr, weight_decay=args.weight_decay)
    updates_per_epoch = max(len(train_loader) // args.update_freq, 1)
    scheduler = CosineLRScheduler(optimizer, t_initial=args.epochs * updates_per_epoch, warmup_t=args.warmup_epochs * updates_per_epoch,
                                  warmup_lr_init=1e-6, lr_min=1e-6, t_in_epochs=False)
    mixup = Mixup(mixup_alpha=recipe["mixup"], cutmix_alpha=recipe["cutmix"], label_smoothing=0.1, num_classes=num_classes)
    criterion = SoftTargetCrossEntropy()
    cutoff = recipe["soft_mask_cutoff_epochs"] * updates_per_epoch
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.device == "cuda")
    update, losses = 0, []
    for epoch in range(args.epochs):
        if distributed:
            train_loader.sampler.set_epoch(epoch)
        net.train()
        for i, (images, labels) in enumerate(train_loader):
            model.soft_mask_alpha = soft_mask_alpha(update, cutoff, recipe["soft_mask_schedule"])
            images, labels = mixup(images.to(device), labels.to(device))
            with autocast:
                loss = criterion(net(images), labels) / args.update_freq
            loss.backward()
            if (i + 1) % args.update_freq == 0:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                update += 1
                scheduler.step_update(update)
                losses.append(loss.item() * args.update_freq)
                if args.max_steps and update >= args.max_steps:
                    break
        if args.max_steps and update >= args.max_steps:
            break
    model.soft_mask_alpha = 0.0
    accuracy = evaluate(model, val_loader, device)
    result = {"model": args.model, "updates": update, "losses": losses, "val_top1": accuracy}
    if rank == 0:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, str(out / f"illama_{args.model}.safetensors"))
        (out / "result.json").write_text(json.dumps(result))
        print(json.dumps(result))
    if distributed:
        torch.distributed.destroy_process_group()
    return result


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, device: torch.device) -> float:
    """Top-1 accuracy (this process's share of the validation set) with the hard causal mask."""
    model.eval()
    correct = total = 0
    for images, labels in loader:
        correct += (model(images.to(device)).argmax(-1).cpu() == labels).sum().item()
        total += len(labels)
    return correct / max(total, 1)


if __name__ == "__main__":
    main()
