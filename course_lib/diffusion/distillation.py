r"""Score distillation: SDS (DreamFusion) and the VSD hook (chapters 06-07).

A differentiable renderer :math:`x = g(\theta)` is pulled towards the prior's modes by a
gradient that never back-propagates through the diffusion UNet. Both losses are written in the
stop-gradient ("reparameterised") form

.. math:: \mathcal{L} = \tfrac12\,\big\|x - \mathrm{sg}[x - \nabla_x]\big\|^2 \quad\Rightarrow\quad \partial\mathcal{L}/\partial x = \nabla_x,

so ``loss.backward()`` delivers exactly the score-distillation gradient to :math:`\theta`.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_lib.diffusion.schedule import add_noise, alphas_cumprod


def sds_weight(t: torch.Tensor) -> torch.Tensor:
    r"""DreamFusion's weighting :math:`w(t) = 1 - \bar\alpha_t`, (B,) (chapter 06)."""
    return 1 - alphas_cumprod()[t]


def sample_timesteps(batch: int, t_min: float = 0.02, t_max: float = 0.98, generator: torch.Generator | None = None) -> torch.Tensor:
    """Integer timesteps ~ U(t_min T, t_max T) (DreamFusion; RealmDreamer uses U(0.1, 0.95)) (chapters 06-07)."""
    if not 0.0 <= t_min < t_max <= 1.0:
        raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
    T = alphas_cumprod().shape[0]
    return torch.randint(int(t_min * T), int(t_max * T), (batch,), generator=generator)


def _stop_gradient_loss(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    target = (x - grad).detach()
    return 0.5 * ((x - target) ** 2).sum()


def sds_loss(eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, t: torch.Tensor,
             noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Score Distillation Sampling (Poole et al., 2022, DreamFusion Eq. 3) (chapter 06):

    .. math:: \nabla_\theta \mathcal{L}_{SDS} = \mathbb{E}_{t,\epsilon}\Big[w(t)\,\big(\hat\epsilon_\phi(x_t; y, t) - \epsilon\big)\,\frac{\partial x}{\partial\theta}\Big],
              \quad x_t = \sqrt{\bar\alpha_t}\,x + \sqrt{1-\bar\alpha_t}\,\epsilon,\ w(t) = 1 - \bar\alpha_t

    ``eps_fn(x_t, t)`` is the (guided) prior with ``t`` a (B,) tensor; it runs without gradient (the
    UNet Jacobian is dropped). ``x`` (B, C, H, W) is the render; returns a scalar whose gradient w.r.t. ``x``
    is the SDS gradient above.
    """
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must hold one timestep per image, shape ({x.shape[0]},), got {tuple(t.shape)}")
    noise = torch.randn(x.shape, generator=generator) if noise is None else noise
    with torch.no_grad():
        x_t = add_noise(x.detach(), noise, t)
        grad = sds_weight(t).view(-1, 1, 1, 1) * (eps_fn(x_t, t) - noise)
    return _stop_gradient_loss(x, grad)


def vsd_loss(eps_pretrained: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], eps_particle: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
             x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Variational Score Distillation (Wang et al., 2023, ProlificDreamer Eq. 9; Urban Architect Eq. 3) (chapter 07):

    .. math:: \nabla_\theta \mathcal{L}_{VSD} = \mathbb{E}_{t,\epsilon,c}\Big[w(t)\,\big(\epsilon_{pretrain}(x_t, t, y) - \epsilon_\phi(x_t, t, c, y)\big)\,\frac{\partial x}{\partial\theta}\Big]

    The hook: ``eps_particle`` is the particle estimator :math:`\epsilon_\phi` (a LoRA / small trainable copy of
    the prior, camera-conditioned through :class:`~course_lib.diffusion.unets.PoseEncoder`), which chapter 07
    trains alongside with :func:`particle_estimator_loss`. With ``eps_particle`` returning the sampled noise
    this reduces to :func:`sds_loss`.
    """
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must hold one timestep per image, shape ({x.shape[0]},), got {tuple(t.shape)}")
    noise = torch.randn(x.shape, generator=generator) if noise is None else noise
    with torch.no_grad():
        x_t = add_noise(x.detach(), noise, t)
        grad = sds_weight(t).view(-1, 1, 1, 1) * (eps_pretrained(x_t, t) - eps_particle(x_t, t))
    return _stop_gradient_loss(x, grad)


def particle_estimator_loss(eps_particle: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The particle estimator's own loss (ProlificDreamer Eq. 10) (chapter 07): the DDPM objective on the current
    renders, :math:`\|\epsilon_\phi(x_t, t, c, y) - \epsilon\|^2` with ``x`` detached (only :math:`\phi` learns)."""
    x = x.detach()
    t = sample_timesteps(x.shape[0], 0.0, 1.0, generator)
    noise = torch.randn(x.shape, generator=generator)
    return ((eps_particle(add_noise(x, noise, t), t) - noise) ** 2).mean()
