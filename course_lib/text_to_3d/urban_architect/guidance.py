r"""Layout-Guided Variational Score Distillation (Urban Architect Eq. 3), chapter 07.

.. math:: \nabla_\theta \mathcal{L}_{\text{LG-VSD}} = \mathbb{E}_{t,\epsilon,c}\Big[\omega(t)\,
          \big(\epsilon_{\text{pretrain}}(x_t, t, y, F(L(c))) - \epsilon_\phi(x_t, t, c, y, F(L(c)))\big)\,
          \frac{\partial g(\theta, c)}{\partial \theta}\Big],\qquad \omega(t) = 1 - \bar\alpha_t

- :math:`\epsilon_{\text{pretrain}}`: the frozen layout prior with classifier-free guidance (CFG 7.5 in the paper,
  3 at this chapter's 32 px), conditioned on the layout's semantic + depth render :math:`L(c)` from the same
  camera :math:`c` (through ControlNet :math:`F` in the paper; by input concatenation here).
- :math:`\epsilon_\phi`: the particle estimator, a LoRA of the same prior plus a camera embedding, run without
  guidance (CFG 1), trained alongside on the current renders by the DDPM objective with the camera dropped 10 % of
  the time (:func:`estimator_loss`).
- Without the layout (the paper's "w/o LG-VSD" ablation) both see the empty condition; SDS replaces
  :math:`\epsilon_\phi` by the sampled noise :math:`\epsilon`.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from course_lib.diffusion.distillation import sds_weight
from course_lib.diffusion.schedule import add_noise, batch_timesteps
from course_lib.priors.shipped import text_eps_fn
from course_lib.priors.tiny_prior import TinyPrior

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def prior_eps_fn(prior: TinyPrior, prompts: list[str], condition: torch.Tensor | None, scale: float) -> EpsFn:
    r"""The frozen prior with classifier-free guidance, :math:`\epsilon(\varnothing) + s(\epsilon(y, L) - \epsilon(\varnothing))` (chapter 07).

    ``condition`` (B, C+1, H, W) is the layout condition of each image (:func:`~.layout.layout_condition`), or
    ``None`` for no layout (the empty condition in both branches: the unguided ablation). The unconditional
    branch drops the prompt and the layout together, as the prior was trained. This is
    :func:`~course_lib.priors.shipped.text_eps_fn` with the empty condition as its unconditional extra.
    """
    if condition is not None:
        return text_eps_fn(prior, prompts, scale, condition, torch.zeros_like(condition))
    empties: dict[tuple[int, ...], EpsFn] = {}  # no layout: the empty condition, sized by the first x_t of each shape

    def eps_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        size = tuple(x_t.shape[-2:])
        if size not in empties:
            empty = x_t.new_zeros(len(prompts), prior.config.extra_channels, *size)
            empties[size] = text_eps_fn(prior, prompts, scale, empty, empty)
        return empties[size](x_t, t)

    return eps_fn


def vsd_gradient(eps_prior: EpsFn, eps_estimator: EpsFn, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    r"""The (LG-)VSD gradient on the render, :math:`w(t)\,(\epsilon_{\text{pretrain}}(x_t, t) - \epsilon_\phi(x_t, t))` with
    :math:`x_t = \sqrt{\bar\alpha_t}\,x + \sqrt{1-\bar\alpha_t}\,\epsilon`, :math:`w = 1 - \bar\alpha_t` (Urban Architect Eq. 3) (chapter 07).

    Computed without gradient (neither UNet's Jacobian is used). x, noise (B, 3, H, W), t (B,) -> (B, 3, H, W).
    """
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must hold one timestep per image, shape ({x.shape[0]},), got {tuple(t.shape)}")
    with torch.no_grad():
        x_t = add_noise(x.detach(), noise, t)
        return sds_weight(t).view(-1, 1, 1, 1) * (eps_prior(x_t, t) - eps_estimator(x_t, t))


def sds_gradient(eps_prior: EpsFn, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    r"""SDS, :math:`w(t)\,(\epsilon_{\text{pretrain}}(x_t, t) - \epsilon)` (DreamFusion Eq. 3): VSD with the estimator replaced by the noise (chapter 07)."""
    return vsd_gradient(eps_prior, lambda x_t, t_: noise, x, t, noise)


def distillation_loss(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    r""":math:`\tfrac12\|x - \mathrm{sg}[x - g]\|^2`: its gradient with respect to the render ``x`` is ``grad`` (chapter 07)."""
    return 0.5 * ((x - (x - grad).detach()) ** 2).sum()


def camera_pose(viewmats: torch.Tensor) -> torch.Tensor:
    """The estimator's camera input: the flattened 3x4 world-to-camera matrix, (B, 12) from (B, 4, 4) (chapter 07).

    (The reference code feeds the 4x4 camera-to-world matrix; the same information.)"""
    if viewmats.ndim != 3 or viewmats.shape[1:] != (4, 4):
        raise ValueError(f"viewmats must be (B, 4, 4), got {tuple(viewmats.shape)}")
    return viewmats[:, :3].reshape(-1, 12)


class ParticleEstimator(nn.Module):
    r"""VSD's particle estimator :math:`\epsilon_\phi(x_t, t, c, y, L)`: a LoRA of the frozen prior's UNet plus a camera embedding (chapter 07).

    The LoRA (rank ``rank``, :mod:`peft` through diffusers' ``add_adapter``) adapts the attention projections and the
    ResNet convolutions; the camera pose (B, 12) goes through a small MLP whose output is added to the UNet's time
    embedding (the reference code's class embedding). The MLP's last layer and LoRA's B matrices start at zero, so
    at the start :math:`\epsilon_\phi` equals the unguided prior. ``pose=None`` or a zero pose is "no camera".
    """

    def __init__(self, prior: TinyPrior, rank: int = 4) -> None:
        super().__init__()
        from peft import LoraConfig

        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank={rank!r} must be a positive integer (the LoRA rank)")
        self.prior = copy.deepcopy(prior).requires_grad_(False)
        targets = ["to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2"]
        self.prior.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, init_lora_weights=True))
        width = self.prior.unet.time_embedding.linear_2.out_features
        self.camera = nn.Sequential(nn.Linear(12, width), nn.SiLU(), nn.Linear(width, width))
        nn.init.zeros_(self.camera[2].weight), nn.init.zeros_(self.camera[2].bias)
        self._pose_embedding: torch.Tensor | None = None
        self.prior.unet.time_embedding.register_forward_hook(self._add_camera)

    def _add_camera(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if self._pose_embedding is None:
            return output
        return output + self._pose_embedding.to(output.dtype)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, extra: torch.Tensor, pose: torch.Tensor | None) -> torch.Tensor:
        self._pose_embedding = None if pose is None else self.camera(pose)
        try:
            return self.prior(x_t, batch_timesteps(t, x_t.shape[0]), tokens, extra)
        finally:
            self._pose_embedding = None

    def eps_fn(self, prompts: list[str], condition: torch.Tensor | None, pose: torch.Tensor | None) -> Callable:
        """``eps(x_t, t[, pose])``: the estimator at CFG 1 (conditional branch only) for these prompts and layout; the
        third argument, when given, replaces ``pose`` (as :func:`estimator_loss` does to drop the camera)."""
        tokens = self.prior.text.encode(prompts)

        def eps(x_t: torch.Tensor, t: torch.Tensor, pose_: torch.Tensor | None = pose) -> torch.Tensor:
            extra = x_t.new_zeros(x_t.shape[0], self.prior.config.extra_channels, *x_t.shape[-2:]) if condition is None else condition
            return self(x_t, t, tokens, extra, pose_)

        return eps


def estimator_loss(eps_estimator: Callable, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, pose: torch.Tensor,
                   dropout: float, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The particle estimator's DDPM loss on the current renders (ProlificDreamer Eq. 10; Urban Architect §3.2) (chapter 07):
    :math:`\|\epsilon_\phi(x_t, t, c) - \epsilon\|^2` averaged, with ``x`` detached (only :math:`\phi` learns) and each
    image's camera ``pose`` (B, 12) replaced by zeros with probability ``dropout`` (one draw per image from ``generator``).
    ``eps_estimator(x_t, t, pose)``."""
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout={dropout} must be a probability in [0, 1]")
    drop = torch.rand(x.shape[0], generator=generator) < dropout
    pose = torch.where(drop[:, None], torch.zeros_like(pose), pose)
    x_t = add_noise(x.detach(), noise, t)
    return ((eps_estimator(x_t, t, pose) - noise) ** 2).mean()
