"""Adaptive density control: clone, split, prune, opacity reset (3DGS §5), chapter 05.

The course's own version of the strategy of the 3DGS paper (gsplat's ``DefaultStrategy`` does
the same on GPU). Every step the renderer's ``info["means2d"].grad`` is accumulated per visible
Gaussian; every ``every`` steps between ``start`` and ``stop``:

* Gaussians whose mean view-space positional gradient exceeds ``grad_threshold`` are
  *cloned* when small (under-reconstruction: copy it, the optimiser pulls the copies apart)
  and *split* in two when large (over-reconstruction: two samples from the Gaussian, scales
  divided by 1.6);
* Gaussians with opacity below ``min_opacity`` are pruned;
* every ``reset_every`` steps the opacities are clamped to 0.01 so that floaters must earn
  their opacity back (or get pruned).

The Adam moments of kept Gaussians are kept; new Gaussians start with zero moments.
The gradient statistic is the one of 3DGS and gsplat: the norm of d loss / d means2d with the
pixel gradient scaled by (W/2, H/2) to normalised device units, averaged over the steps in
which the Gaussian was visible. Left out of this version: 3DGS's extra pruning of Gaussians
that grow very large on screen (> 20 px) or in the world (> 0.1 x extent) after an opacity reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.splatting.covariance import quat_to_rotmat
from course_lib.splatting.gaussians import PARAM_NAMES, GaussianParams

SPLIT_SCALE_DIVISOR = 1.6  # 3DGS: the two children have scales s / (0.8 N) with N = 2


@dataclass
class DensifyConfig:
    """Thresholds and schedule of :class:`Densifier`; defaults follow 3DGS (its iteration counts scaled by the caller) (chapter 05)."""

    grad_threshold: float = 0.0002  # mean |d loss / d means2d| in normalised image units (3DGS: 0.0002)
    percent_dense: float = 0.01  # clone below, split above this fraction of the scene extent
    min_opacity: float = 0.005
    start: int = 500
    stop: int = 15000
    every: int = 100
    reset_every: int = 3000


class Densifier:
    """Accumulate positional gradients and apply clone/split/prune/reset to a :class:`GaussianParams` and its optimiser (chapter 05)."""

    def __init__(self, config: DensifyConfig, scene_extent: float, seed: int = 0) -> None:
        self.cfg = config
        self.extent = scene_extent
        self.grad_sum: torch.Tensor | None = None
        self.count: torch.Tensor | None = None
        self.generator = torch.Generator().manual_seed(seed)

    def accumulate(self, info: dict, num: int) -> None:
        """Add this step's view-space gradient norms (call after ``loss.backward()``)."""
        grad = info["means2d"].grad
        if grad is None:
            raise ValueError("info['means2d'] has no gradient: call accumulate after loss.backward() on a torch-backend render")
        if self.grad_sum is None or self.grad_sum.shape[0] != num:
            self.grad_sum, self.count = torch.zeros(num, device=grad.device), torch.zeros(num, device=grad.device)
        scale = torch.tensor([info["width"] / 2.0, info["height"] / 2.0], device=grad.device)  # pixels -> normalised units
        grad = grad.reshape(-1, 2)  # gsplat's info carries a leading camera axis
        visible = (info["radii"].reshape(-1, 2) > 0).all(dim=-1)
        self.grad_sum[visible] += (grad.detach()[visible] * scale).norm(dim=-1)
        self.count[visible] += 1

    def step(self, step: int, gaussians: GaussianParams, optimizer: torch.optim.Optimizer) -> dict[str, int]:
        """Apply the schedule at training step ``step``; returns how many Gaussians were cloned/split/pruned."""
        cfg, stats = self.cfg, {"cloned": 0, "split": 0, "pruned": 0}
        if not (cfg.start <= step < cfg.stop) or step % cfg.every or self.grad_sum is None:
            return stats
        with torch.no_grad():
            grads = self.grad_sum / self.count.clamp(min=1)
            high = grads > cfg.grad_threshold
            big = gaussians.scales().max(dim=1).values > cfg.percent_dense * self.extent
            clone, split = high & ~big, high & big
            stats["cloned"], stats["split"] = int(clone.sum()), int(split.sum())
            new = {name: getattr(gaussians, name)[clone] for name in PARAM_NAMES if getattr(gaussians, name) is not None}
            children = self._split_children(gaussians, split)
            new = {name: torch.cat([new[name], children[name]]) for name in new}
            keep = ~split
            _replace(gaussians, optimizer, keep, new)
            prune = gaussians.opacities() < cfg.min_opacity
            stats["pruned"] = int(prune.sum())
            _replace(gaussians, optimizer, ~prune, {})
            if step % cfg.reset_every == 0:
                reset_opacity(gaussians, optimizer, 0.01)
        self.grad_sum = self.count = None
        return stats

    def _split_children(self, g: GaussianParams, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Two children per masked Gaussian, sampled from it, scales divided by 1.6 (3DGS §5)."""
        scales = g.scales()[mask].repeat(2, 1)
        R = quat_to_rotmat(g.quats[mask]).repeat(2, 1, 1)
        offsets = torch.randn(scales.shape, generator=self.generator).to(scales.device) * scales
        children = {name: getattr(g, name)[mask].repeat(2, *([1] * (getattr(g, name).ndim - 1)))
                    for name in PARAM_NAMES if getattr(g, name) is not None}
        children["means"] = children["means"] + torch.einsum("nij,nj->ni", R, offsets)
        children["log_scales"] = children["log_scales"] - math.log(SPLIT_SCALE_DIVISOR)
        return children


def _replace(g: GaussianParams, optimizer: torch.optim.Optimizer, keep: torch.Tensor, new: dict[str, torch.Tensor]) -> None:
    """Keep the rows ``keep`` of every parameter, append the rows in ``new``, carry the Adam moments along."""
    for name in PARAM_NAMES:
        old = getattr(g, name)
        if old is None:
            continue
        extra = new.get(name, old[:0])
        param = nn.Parameter(torch.cat([old.data[keep], extra.detach()]))
        state = optimizer.state.pop(old, None)
        if state is not None:
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key] = torch.cat([state[key][keep], torch.zeros_like(extra)])
            optimizer.state[param] = state
        for group in optimizer.param_groups:
            group["params"] = [param if p is old else p for p in group["params"]]
        setattr(g, name, param)


def reset_opacity(g: GaussianParams, optimizer: torch.optim.Optimizer, ceiling: float = 0.01) -> None:
    """Clamp every opacity to at most ``ceiling`` and zero its Adam moments (3DGS §5) (chapter 05)."""
    with torch.no_grad():
        g.opacity_logits.clamp_(max=math.log(ceiling / (1.0 - ceiling)))
    state = optimizer.state.get(g.opacity_logits)
    if state:
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key].zero_()
