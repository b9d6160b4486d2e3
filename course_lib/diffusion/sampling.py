r"""DDIM sampling, inpainting and inversion, and circular MultiDiffusion for panoramas (chapters 05-06).

Every sampler takes a noise predictor ``eps_fn(x_t, t) -> eps`` and calls it with ``t`` a (B,) integer
tensor (:func:`~course_lib.diffusion.schedule.batch_timesteps`), so guidance,
inpainting conditions and window fusion compose by wrapping functions.

DDIM (Song et al., 2021, Eq. 12 with :math:`\sigma_t = 0`):

.. math:: x_{t'} = \sqrt{\bar\alpha_{t'}}\,\underbrace{\frac{x_t - \sqrt{1-\bar\alpha_t}\,\epsilon}{\sqrt{\bar\alpha_t}}}_{\hat x_0}
          + \sqrt{1-\bar\alpha_{t'}}\,\epsilon

run from high to low noise it samples; run from low to high it is DDIM inversion.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_lib.diffusion.schedule import alphas_cumprod, batch_timesteps, ddim_scheduler

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t (B, ...), t (B,)) -> eps (B, ...)


def ddim_timesteps(num_steps: int, strength: float = 1.0) -> list[int]:
    """The descending DDIM timesteps of diffusers' :class:`~diffusers.DDIMScheduler` (chapter 05).

    ``strength < 1`` keeps only the last ``round(strength * num_steps)`` steps (SDEdit-style partial noising)."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength={strength} must lie in (0, 1]")
    if num_steps == 1 and strength < 1.0:
        raise ValueError("ddim_timesteps(1, strength) cannot honour strength < 1: one DDIM step always starts at the top "
                         "timestep. To denoise in one step from a chosen noise level t, use denoise_from(eps_fn, x_t, t) "
                         "(or ddim_timesteps(n, strength) with n > 1 for a partial schedule).")
    steps = [int(t) for t in ddim_scheduler(num_steps).timesteps]
    return steps[num_steps - max(1, round(strength * num_steps)):]


def _alpha(t: int, acp: torch.Tensor) -> torch.Tensor:
    return acp[t] if t >= 0 else torch.tensor(1.0)


def ddim_step(x: torch.Tensor, eps: torch.Tensor, alpha_from: torch.Tensor, alpha_to: torch.Tensor) -> torch.Tensor:
    r"""One deterministic DDIM move from noise level :math:`\bar\alpha_{from}` to :math:`\bar\alpha_{to}` (DDIM Eq. 12, :math:`\sigma=0`) (chapter 05)."""
    x0 = (x - (1 - alpha_from).sqrt() * eps) / alpha_from.sqrt()
    return alpha_to.sqrt() * x0 + (1 - alpha_to).sqrt() * eps


def predict_x0(eps_fn: EpsFn, x_t: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
    r"""The clean image the prior sees in ``x_t`` at noise level ``t`` (DDPM Eq. 4 solved for :math:`x_0`) (chapter 06):

    .. math:: \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon(x_t, t)}{\sqrt{\bar\alpha_t}}

    ``t`` is an int or a (B,) tensor, one level per sample."""
    t = batch_timesteps(t, x_t.shape[0])
    a = alphas_cumprod()[t].view(-1, *([1] * (x_t.ndim - 1)))
    return (x_t - (1 - a).sqrt() * eps_fn(x_t, t)) / a.sqrt()


def denoise_from(eps_fn: EpsFn, x_t: torch.Tensor, t: int | torch.Tensor, steps: int = 1) -> torch.Tensor:
    r"""Denoise ``x_t`` from the chosen noise level ``t`` to a clean sample in ``steps`` DDIM steps (chapter 06).

    ``steps=1`` is :func:`predict_x0` (RealmDreamer's one-step :math:`\hat x`); more steps walk down evenly spaced
    levels ``t, ..., 0`` with :func:`ddim_step`. ``t`` is an int or a (B,) tensor; with several steps each sample
    follows its own levels."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be at least 1")
    t = batch_timesteps(t, x_t.shape[0])
    if steps == 1:
        return predict_x0(eps_fn, x_t, t)
    acp = alphas_cumprod()
    view = (-1, *([1] * (x_t.ndim - 1)))
    for k in range(steps):
        now = (t.float() * (steps - k) / steps).round().long()
        nxt = (t.float() * (steps - k - 1) / steps).round().long()
        a_now = acp[now].view(view)
        a_next = torch.where(nxt.view(view) > 0, acp[nxt.clamp(min=0)].view(view), torch.ones_like(a_now)) if k < steps - 1 else torch.ones_like(a_now)
        x_t = ddim_step(x_t, eps_fn(x_t, now), a_now, a_next)
    return x_t


def ddim_sample(eps_fn: EpsFn, x_t: torch.Tensor, timesteps: list[int], progress: Callable | None = None) -> torch.Tensor:
    """Denoise ``x_t`` (at noise level ``timesteps[0]``) along the descending ``timesteps`` down to x_0 (chapter 05)."""
    if not timesteps or any(a <= b for a, b in zip(timesteps, timesteps[1:])):
        raise ValueError(f"timesteps must be a non-empty descending list, got {timesteps}")
    acp = alphas_cumprod()
    targets = timesteps[1:] + [-1]
    for t, t_next in (progress or (lambda it: it))(list(zip(timesteps, targets))):
        x_t = ddim_step(x_t, eps_fn(x_t, batch_timesteps(t, x_t.shape[0])), _alpha(t, acp), _alpha(t_next, acp))
    return x_t


def ddim_inpaint(eps_fn: EpsFn, x_t: torch.Tensor, timesteps: list[int], image: torch.Tensor, mask: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    r"""DDIM inpainting with known-region replacement (chapter 06): after every :func:`ddim_step` to level
    :math:`t'`, the known pixels (``mask = 0``) are set to the true image noised to that level,

    .. math:: x_{t'} \leftarrow m \odot x_{t'} + (1-m) \odot \big(\sqrt{\bar\alpha_{t'}}\,I + \sqrt{1-\bar\alpha_{t'}}\,\epsilon\big),
              \quad \epsilon \sim \mathcal N(0, I)

    (RePaint, Lugmayr et al., 2022, Eq. 8, without its resampling jumps; diffusers' SD inpainting pipelines do
    the same). The net then always denoises a hidden region surrounded by the true scene at the right noise
    level, and the last step returns the known pixels exactly. ``image`` (B, C, H, W), ``mask`` (B, 1, H, W)
    with 1 = fill; ``eps_fn`` may itself be conditioned on the masked image (an inpainting prior)."""
    if not timesteps or any(a <= b for a, b in zip(timesteps, timesteps[1:])):
        raise ValueError(f"timesteps must be a non-empty descending list, got {timesteps}")
    if image.shape != x_t.shape or mask.shape != (x_t.shape[0], 1, *x_t.shape[2:]):
        raise ValueError(f"image must have the shape of x_t {tuple(x_t.shape)} and mask (B, 1, H, W) = {(x_t.shape[0], 1, *x_t.shape[2:])}; "
                         f"got image {tuple(image.shape)}, mask {tuple(mask.shape)}")
    acp = alphas_cumprod()
    hidden = mask.bool().expand_as(x_t)
    for t, t_next in zip(timesteps, timesteps[1:] + [-1]):
        alpha_next = _alpha(t_next, acp)
        x_t = ddim_step(x_t, eps_fn(x_t, batch_timesteps(t, x_t.shape[0])), _alpha(t, acp), alpha_next)
        known = alpha_next.sqrt() * image + (1 - alpha_next).sqrt() * torch.randn(x_t.shape, generator=generator)
        x_t = torch.where(hidden, x_t, known)
    return x_t


def ddim_invert(eps_fn: EpsFn, x0: torch.Tensor, timesteps: list[int]) -> torch.Tensor:
    """DDIM inversion (chapter 06): run :func:`ddim_step` upwards from the clean image ``x0`` to noise level ``timesteps[0]``.

    ``timesteps`` is the same descending list :func:`ddim_sample` takes, so ``ddim_sample(eps_fn,
    ddim_invert(eps_fn, x0, ts), ts)`` returns approximately ``x0`` (exactly in the limit of small steps).
    The noise at each level is predicted at the level above, as in diffusers' DDIMInverseScheduler.
    """
    if not timesteps or any(a <= b for a, b in zip(timesteps, timesteps[1:])):
        raise ValueError(f"timesteps must be a non-empty descending list, got {timesteps}")
    acp = alphas_cumprod()
    ascending = timesteps[::-1]
    sources = [-1] + ascending[:-1]
    x = x0
    for t_from, t in zip(sources, ascending):
        x = ddim_step(x, eps_fn(x, batch_timesteps(t, x.shape[0])), _alpha(t_from, acp), _alpha(t, acp))
    return x


def window_offsets(width: int, window: int, stride: int, circular: bool) -> list[int]:
    """Left columns of the MultiDiffusion windows over a ``width``-wide canvas (chapter 05).

    Circular: ``0, stride, ...`` below ``width`` (windows wrap around the right edge); otherwise
    windows stay inside and the last one ends at the right edge."""
    if not 0 < window <= width or stride <= 0:
        raise ValueError(f"need 0 < window <= width and stride > 0, got window={window}, width={width}, stride={stride}")
    if circular:
        if width % stride:
            raise ValueError(f"for circular windows the stride ({stride}) must divide the width ({width}) so every column is covered alike")
        return list(range(0, width, stride))
    offsets = list(range(0, width - window + 1, stride))
    return offsets if offsets[-1] == width - window else offsets + [width - window]


def multidiffusion_eps(eps_fn: EpsFn, x_t: torch.Tensor, t: int | torch.Tensor, window: int, stride: int, circular: bool = True) -> torch.Tensor:
    r"""MultiDiffusion (Bar-Tal et al., 2023, Eq. 5; closed form of its least squares): average the noise
    predicted on overlapping windows of the canvas, per pixel (chapter 05).

    .. math:: \Psi(J_t)[p] = \frac{\sum_i F_i^{-1}\big(\epsilon(F_i(J_t))\big)[p]}{\sum_i \mathbb{1}[p \in F_i]}

    With ``circular=True`` the column index wraps (DreamScene360's 360° stitching): the window
    that starts near the right edge continues at column 0, so the two ends of the panorama are
    denoised together and meet without a seam. ``x_t`` (B, C, H, W); windows are full height.
    """
    width = x_t.shape[-1]
    total = torch.zeros_like(x_t)
    count = torch.zeros(width, dtype=x_t.dtype)
    for offset in window_offsets(width, window, stride, circular):
        cols = (offset + torch.arange(window)) % width
        total[..., cols] += eps_fn(x_t[..., cols], t)
        count[cols] += 1
    return total / count


def panorama_eps_fn(eps_fn: EpsFn, window: int, stride: int, circular: bool = True) -> EpsFn:
    """Wrap ``eps_fn`` so that each call fuses windows with :func:`multidiffusion_eps` (chapter 05)."""
    return lambda x_t, t: multidiffusion_eps(eps_fn, x_t, t, window, stride, circular)


def seam_error(images: torch.Tensor) -> float:
    """Mean absolute difference between the last and the first column of (B, C, H, W) images, divided by the
    mean difference between neighbouring columns inside: 1 means the wrap-around seam is as smooth as the rest (chapter 05)."""
    seam = (images[..., -1] - images[..., 0]).abs().mean()
    inside = (images[..., 1:] - images[..., :-1]).abs().mean()
    return float(seam / inside)
