r"""Layout-guided distillation of the street field (Urban Architect §3.2), chapter 07.

Start from a field initialised on the layout's palette images (a field distilled from scratch for a few hundred
steps does not make a street at this scale), then, at each step: render one training camera's 32 x 32 view,
noise it at :math:`t \sim \mathcal{U}(t_{\min}, t_{\max})`, and push the render along the (LG-)VSD or SDS
gradient; VSD also takes one step of its particle estimator on the same render. Every variant runs the same
number of steps from the same start with the same camera and noise draws (one seed drives all of them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Callable

import torch

from course_lib.diffusion.distillation import sample_timesteps
from course_lib.fields import StreetField
from course_lib.geometry import Camera
from course_lib.priors.tiny_prior import TinyPrior
from course_lib.text_to_3d.urban_architect import guidance
from course_lib.text_to_3d.urban_architect.layout import LayoutBoxes, layout_condition, render_layout
from course_lib.text_to_3d.urban_architect.street import RenderSettings, render_image


@dataclass(frozen=True)
class DistillSettings:
    """One distillation variant (chapter 07): ``method`` "vsd" or "sds"; ``layout`` whether the prior (and the
    estimator) see the layout condition; prior CFG ``scale``; ``t_range`` as fractions of the 1000 steps;
    ``steps``; Adam ``lr`` of the field; the estimator's LoRA ``rank``, AdamW ``estimator_lr`` and camera ``dropout``."""

    method: str = "vsd"
    layout: bool = True
    scale: float = 3.0
    t_range: tuple[float, float] = (0.02, 0.6)
    steps: int = 150
    lr: float = 1e-2
    rank: int = 4
    estimator_lr: float = 1e-3
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.method not in ("vsd", "sds"):
            raise ValueError(f"method={self.method!r}: choose 'vsd' (with a particle estimator) or 'sds'")


def variant(base: DistillSettings, **changes) -> DistillSettings:
    return replace(base, **changes)


def distill(field: StreetField, cameras: list[Camera], boxes: LayoutBoxes, prompt: str, prior: TinyPrior, settings: DistillSettings,
            render: RenderSettings, seed: int, history: list | None = None, progress: Callable | None = None,
            vsd_gradient_fn: Callable = guidance.vsd_gradient, estimator_loss_fn: Callable = guidance.estimator_loss,
            condition_fn: Callable = layout_condition) -> StreetField:
    """Distil a copy of ``field`` with ``settings`` over ``cameras``; returns the copy (chapter 07). The ``*_fn`` hooks
    take the learner's functions (same signatures as :mod:`.guidance` and :func:`.layout.layout_condition`)."""
    field = copy.deepcopy(field).requires_grad_(True)
    generator = torch.Generator().manual_seed(seed)
    layouts = render_layout(boxes, cameras, render.sky_distance)
    conditions = condition_fn(layouts.semantic, layouts.depth)
    poses = guidance.camera_pose(torch.stack([c.viewmat for c in cameras]))
    optimiser = torch.optim.Adam([p for p in field.parameters() if p.requires_grad], lr=settings.lr)
    estimator = None
    if settings.method == "vsd":
        with torch.random.fork_rng(devices=[]):  # LoRA's A matrices start random: from the run's seed, not the global stream
            torch.manual_seed(seed)
            estimator = guidance.ParticleEstimator(prior, settings.rank)
        estimator_optimiser = torch.optim.AdamW(estimator.trainable_parameters(), lr=settings.estimator_lr)
    steps = range(settings.steps) if progress is None else progress(range(settings.steps))
    for _ in steps:
        k = int(torch.randint(0, len(cameras), (1,), generator=generator))
        image = render_image(field, cameras[k], boxes, render, grad=True, generator=generator).colour
        x = image[None] * 2 - 1  # (1, 3, H, W) in [-1, 1]
        t = sample_timesteps(1, *settings.t_range, generator=generator)
        noise = torch.randn(x.shape, generator=generator)
        condition = conditions[k : k + 1] if settings.layout else None
        eps_prior = guidance.prior_eps_fn(prior, [prompt], condition, settings.scale)
        if estimator is None:
            grad = vsd_gradient_fn(eps_prior, lambda x_t, t_: noise, x, t, noise)  # SDS: the estimator is the noise itself
        else:
            grad = vsd_gradient_fn(eps_prior, estimator.eps_fn([prompt], condition, poses[k : k + 1]), x, t, noise)
        grad = torch.nan_to_num(grad)
        loss = guidance.distillation_loss(x, grad)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if estimator is not None:
            t_est = sample_timesteps(1, 0.02, 0.98, generator=generator)
            noise_est = torch.randn(x.shape, generator=generator)
            est_loss = estimator_loss_fn(estimator.eps_fn([prompt], condition, None), x.detach(), t_est, noise_est, poses[k : k + 1],
                                         settings.dropout, generator)
            estimator_optimiser.zero_grad(set_to_none=True)
            est_loss.backward()
            estimator_optimiser.step()
        if history is not None:
            history.append(float(grad.norm()))
    return field
