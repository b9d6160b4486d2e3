r"""Noise schedules of the tiny priors, from diffusers (chapters 05-07).

Forward process (DDPM, Ho et al., 2020, Eq. 4):
:math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon`, with the cosine
schedule of Nichol & Dhariwal (2021) over T = 1000 steps (better than linear at tiny resolution).
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler

NUM_TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"


def ddpm_scheduler() -> DDPMScheduler:
    """The training scheduler: DDPM, T = 1000, cosine betas, epsilon prediction (chapter 05)."""
    return DDPMScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE, prediction_type="epsilon")


def ddim_scheduler(num_steps: int) -> DDIMScheduler:
    """A DDIM scheduler with the same betas, set to ``num_steps`` inference steps (chapter 05)."""
    if num_steps < 1 or num_steps > NUM_TRAIN_TIMESTEPS:
        raise ValueError(f"num_steps={num_steps} must lie in 1..{NUM_TRAIN_TIMESTEPS}")
    scheduler = DDIMScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE, prediction_type="epsilon",
                              clip_sample=False, set_alpha_to_one=True)
    scheduler.set_timesteps(num_steps)
    return scheduler


def alphas_cumprod() -> torch.Tensor:
    r""":math:`\bar\alpha_t` for t = 0..T-1, (T,) float32 (chapter 05)."""
    return ddpm_scheduler().alphas_cumprod.float()


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    r""":math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon` (DDPM Eq. 4) for per-sample timesteps ``t`` (B,) (chapter 05)."""
    a = alphas_cumprod()[t].view(-1, *([1] * (x0.ndim - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def batch_timesteps(t: int | torch.Tensor, batch: int) -> torch.Tensor:
    """The one timestep convention of every noise function ``eps_fn(x_t, t)`` (chapters 05-07): a (B,) integer
    tensor, one timestep per sample (SDS and VSD draw them per sample). An int or a 0-d tensor is still
    accepted and means the same timestep for the whole batch."""
    t = torch.as_tensor(t)
    if t.is_floating_point():
        raise ValueError(f"timesteps must be integers in 0..{NUM_TRAIN_TIMESTEPS - 1}, got a {t.dtype} tensor")
    t = t.long()
    if t.ndim == 0:
        return t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be an int or a ({batch},) tensor of timesteps, one per sample; got shape {tuple(t.shape)}")
    return t
