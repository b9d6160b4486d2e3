"""A training loop helper: fit Gaussians to posed images with L1 + D-SSIM and Adam (3DGS §7), chapter 05."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from course_lib.geometry.cameras import Camera
from course_lib.splatting.densify import Densifier
from course_lib.splatting.gaussians import GaussianParams
from course_lib.splatting.losses import l1_dssim_loss
from course_lib.splatting.renderer import render

# 3DGS learning rates (its train.py); means are scaled by the scene extent and decay to 1 % over training.
DEFAULT_LRS = {"means": 1.6e-4, "log_scales": 5e-3, "quats": 1e-3, "opacity_logits": 5e-2, "sh0": 2.5e-3, "sh1": 2.5e-3 / 20}


@dataclass
class FitResult:
    """Per-step losses and the densification counts of a :func:`fit_gaussians` run (chapter 05)."""

    losses: list[float] = field(default_factory=list)
    densify_log: list[tuple[int, dict]] = field(default_factory=list)


def make_optimizer(gaussians: GaussianParams, lrs: dict[str, float], scene_extent: float = 1.0) -> torch.optim.Adam:
    """Adam with one parameter group per Gaussian attribute (the 3DGS set-up); the means' lr is scaled by the extent (chapter 05)."""
    groups = []
    for name, lr in lrs.items():
        param = getattr(gaussians, name, None)
        if param is not None:
            groups.append({"params": [param], "lr": lr * (scene_extent if name == "means" else 1.0), "name": name, "base_lr": lr})
    return torch.optim.Adam(groups, eps=1e-15)


def fit_gaussians(
    gaussians: GaussianParams,
    cameras: list[Camera],
    images: torch.Tensor,
    steps: int,
    background: torch.Tensor | None = None,
    lrs: dict[str, float] | None = None,
    scene_extent: float = 1.0,
    ssim_lambda: float = 0.2,
    densifier: Densifier | None = None,
    seed: int = 0,
    backend: str = "auto",
    progress=None,
) -> FitResult:
    """Fit ``gaussians`` to ``images`` (V, H, W, 3) seen by ``cameras`` (V views) for ``steps`` Adam steps (3DGS §7) (chapter 05).

    Each step renders one random training view and minimises 3DGS eq. 7 (L1 + λ D-SSIM). The
    means' learning rate decays exponentially to 1 % of its start. ``progress`` wraps the step
    range (e.g. ``tqdm.auto.tqdm``).
    """
    if len(cameras) != images.shape[0]:
        raise ValueError(f"got {len(cameras)} cameras but {images.shape[0]} images; give one camera per image")
    lrs = {**DEFAULT_LRS, **(lrs or {})}
    optimizer = make_optimizer(gaussians, lrs, scene_extent)
    generator = torch.Generator().manual_seed(seed)
    result = FitResult()
    step_range = range(steps) if progress is None else progress(range(steps))
    for step in step_range:
        for group in optimizer.param_groups:
            if group["name"] == "means":
                group["lr"] = group["base_lr"] * scene_extent * 0.01 ** (step / max(steps - 1, 1))
        view = int(torch.randint(len(cameras), (1,), generator=generator))
        out = render(gaussians, cameras[view], background, backend=backend)
        loss = l1_dssim_loss(out.rgb, images[view], ssim_lambda)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        result.losses.append(float(loss.detach()))
        if densifier is not None:
            densifier.accumulate(out.info, gaussians.num)
            stats = densifier.step(step + 1, gaussians, optimizer)
            if any(stats.values()):
                result.densify_log.append((step + 1, stats))
    return result
