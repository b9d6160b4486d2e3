r"""Distil the priors into the Gaussians from sampled poses (RealmDreamer §3.2-3.4, chapter 06).

Every step renders one sampled pose, builds the fill mask (the occlusion volume's share of a pixel above
one half, or an empty pixel below the horizon), and applies one of two image losses at the same budget:

- ``"inpaint"``: inpainting distillation (Eq. 5) with the inpainting prior, 3-way guided (Eq. 2), conditioned
  on the render and the mask; plus depth distillation (Eq. 6) unless ``depth_weight = 0``;
- ``"sds"``: the DreamFusion baseline, SDS with the text-to-image branch of the same prior (2-way guidance),
  :math:`w(t) = 1 - \bar\alpha_t`, scaled by the same image weight.

Both keep the same anchors: the visible part of the sampled pose stays close to the starting render
(:math:`I_{pc}`) and the reference view close to the reference image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

from course_lib.diffusion import sds_loss
from course_lib.diffusion.distillation import sample_timesteps
from course_lib.geometry import Camera
from course_lib.splatting import GaussianParams, make_optimizer
from course_lib.text_to_3d.realmdreamer.losses import depth_distillation_loss, distillation_target, inpainting_distillation_loss
from course_lib.text_to_3d.realmdreamer.pipeline import InitialScene
from course_lib.text_to_3d.realmdreamer.render import render_layers

METHODS = ("inpaint", "sds")
LEARNING_RATES = {"means": 2e-3, "log_scales": 5e-3, "opacity_logits": 5e-2, "sh0": 2e-2}
# (prompts, image, mask, scale_image, scale_text) -> eps_fn; image=None: text only. (B, 3, H, W) in [-1, 1] -> (B, H, W)
GuidedPrior = Callable[..., Callable]
DepthBatch = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DistillSettings:
    """One distillation run's recipe (chapter 06); the reduced defaults live in ``config.CHAPTER_06``."""

    method: str = "inpaint"
    steps: int = 150
    scale_image: float = 1.0
    scale_text: float = 3.0
    t_range: tuple[float, float] = (0.1, 0.95)
    image_weight: float = 1.0
    ssim_weight: float = 0.2
    anchor_weight: float = 1.0
    reference_weight: float = 1.0
    depth_weight: float = 0.05
    sample_steps: int = 1
    opacity_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}: choose one of {METHODS}")


def to_net(rgb: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> (1, 3, H, W) in [-1, 1], the priors' convention (chapter 06)."""
    return rgb.permute(2, 0, 1)[None] * 2 - 1


def below_horizon(camera: Camera) -> torch.Tensor:
    """(H, W) bool: pixels whose ray points downwards, where an empty pixel is missing ground, not sky (chapter 06)."""
    return camera.rays()[1][..., 2] < 0


def fill_mask(layers, camera: Camera) -> torch.Tensor:
    """(H, W) bool: where to fill, the occlusion volume's share above one half or an empty pixel below the horizon (chapter 06)."""
    return ((layers.unknown > 0.5) & (layers.alpha > 0.5)) | ((layers.alpha < 0.5) & below_horizon(camera))


def distill(scene: InitialScene, poses: list[Camera], prompt: str, guided_prior: GuidedPrior, depth_model: DepthBatch,
            settings: DistillSettings, seed: int, progress: Callable | None = None, history: list[float] | None = None, *,
            start: GaussianParams | None = None, loss_fn: Callable | None = None, target_fn: Callable | None = None,
            depth_loss_fn: Callable | None = None, sds_grad_fn: Callable | None = None) -> GaussianParams:
    r"""Run ``settings.steps`` steps from a copy of ``scene.gaussians`` over ``poses`` (chapter 06); returns the Gaussians.

    ``guided_prior(prompts, image, mask, scale_image, scale_text)`` returns a noise predictor (image=None: text
    only), ``depth_model`` maps (B, 3, H, W) in [-1, 1] to relative depth (B, H, W). ``start`` (default
    ``scene.gaussians``) is copied, never changed. ``loss_fn``, ``target_fn``, ``depth_loss_fn`` and ``sds_grad_fn``
    replace :func:`inpainting_distillation_loss`, :func:`distillation_target`, :func:`depth_distillation_loss` and the
    SDS gradient :math:`w(t)(\hat\epsilon - \epsilon)` (the notebook passes the learner's). ``history`` collects each step's
    distillation residual, the mean squared change :math:`\|x - \hat x\|^2` inside the fill mask (SDS: its
    gradient's size), which falls as the render comes to agree with the prior."""
    loss_fn, target_fn = loss_fn or inpainting_distillation_loss, target_fn or distillation_target
    depth_loss_fn = depth_loss_fn or depth_distillation_loss
    g = torch.Generator().manual_seed(seed)
    start = scene.gaussians if start is None else start
    gaussians = GaussianParams(*(getattr(start, n).detach().clone() for n in ("means", "log_scales", "quats", "opacity_logits", "sh0")))
    optimizer = make_optimizer(gaussians, LEARNING_RATES)
    with torch.no_grad():
        anchors = [to_net(render_layers(gaussians, scene.unknown, cam, scene.background).rgb) for cam in poses]
    reference = to_net(scene.image)
    for _ in (progress or (lambda it: it))(range(settings.steps)):
        k = int(torch.randint(len(poses), (1,), generator=g))
        cam = poses[k]
        layers = render_layers(gaussians, scene.unknown, cam, scene.background)
        x = to_net(layers.rgb)
        mask = fill_mask(layers, cam).float()[None, None].detach()
        t = sample_timesteps(1, *settings.t_range, generator=g)
        noise = torch.randn(x.shape, generator=g)
        if settings.method == "inpaint":
            eps_fn = guided_prior([prompt], x.detach().clamp(-1, 1), mask, settings.scale_image, settings.scale_text)
            x_hat = target_fn(eps_fn, x, t, noise, settings.sample_steps)
            residual = float(((mask * (x.detach() - x_hat)) ** 2).sum() / mask.sum().clamp(min=1) / 3)
            loss = loss_fn(x, x_hat, mask, anchors[k], settings.image_weight, settings.ssim_weight, settings.anchor_weight)
            if settings.depth_weight > 0:
                with torch.no_grad():
                    prior_depth = depth_model(x_hat)
                opaque = (layers.alpha > 0.5)[None]
                loss = loss + settings.depth_weight * depth_loss_fn(layers.depth[None], prior_depth, opaque)
        else:
            eps_fn = guided_prior([prompt], None, None, 1.0, settings.scale_text)
            if sds_grad_fn is None:
                sds = sds_loss(eps_fn, x, t, noise)
            else:
                with torch.no_grad():
                    grad = sds_grad_fn(eps_fn, x.detach(), t, noise)
                sds = 0.5 * ((x - (x - grad).detach()) ** 2).sum()
            residual = float(2 * sds.detach()) / x.numel()
            loss = settings.image_weight * sds / x.numel()
            loss = loss + settings.anchor_weight * (((1 - mask) * (x - anchors[k])) ** 2).mean()
        ref = to_net(render_layers(gaussians, scene.unknown, scene.reference, scene.background).rgb)
        loss = loss + settings.reference_weight * ((ref - reference) ** 2).mean()
        if settings.opacity_weight > 0:
            o = gaussians.opacities().clamp(1e-4, 1 - 1e-4)
            loss = loss + settings.opacity_weight * (-(o * o.log() + (1 - o) * (1 - o).log())).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if history is not None:
            history.append(residual)
    return gaussians


def variant(base: DistillSettings, **changes) -> DistillSettings:
    """A copy of ``base`` with ``changes`` (chapter 06)."""
    return replace(base, **changes)
