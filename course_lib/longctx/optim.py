"""One optimiser step of the long-context trainers: backward, gradient clipping, step, schedule (chapters 01-02)."""

from __future__ import annotations

import torch
from torch import nn


def clipped_step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                 loss: torch.Tensor, max_norm: float = 1.0) -> float:
    """Back-propagate ``loss``, clip the gradient norm to ``max_norm``, step the optimiser and its schedule;
    returns the loss as a float (chapters 01-02)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    scheduler.step()
    return loss.item()
