r"""Fit the lifted Gaussians to the panorama's views, with DreamScene360's virtual-view regularisers (§3.4, Eq. 7), chapter 05.

.. math:: \mathcal L = \underbrace{(1-\lambda)\,\mathcal L_1 + \lambda\,\mathcal L_{D\text{-}SSIM}}_{\mathcal L_{RGB}\ \text{(3DGS eq. 7)}}
          + \lambda_{sem}\, \mathcal L_{sem} + \lambda_{geo}\, \mathcal L_{geo}

Each step renders one training view (a tangent tile of the panorama) for :math:`\mathcal L_{RGB}`;
when a regulariser is on, it also renders a virtual camera perturbed around that view
(:mod:`~course_lib.text_to_3d.dreamscene360.virtual_views`). No densification, as in the reference.
The state (Gaussians and their Adam moments) can be copied, so that branches with different
regularisers start from one shared fit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch

from course_lib.geometry.cameras import Camera
from course_lib.splatting.gaussians import GaussianParams
from course_lib.splatting.losses import l1_dssim_loss
from course_lib.splatting.renderer import render
from course_lib.splatting.training import DEFAULT_LRS, make_optimizer
from course_lib.text_to_3d.dreamscene360.virtual_views import depth_regulariser, gamma_schedule, perturb_camera, semantic_regulariser

ImageFn = Callable[[torch.Tensor], torch.Tensor]  # (B, 3, H, W) in [-1, 1] -> (B, H, W) depth or (B, D) features


@dataclass(frozen=True)
class Regularisers:
    """The virtual-view terms of one branch: weights (0 = off), the offset stages, and the functions that compute them (chapter 05).

    ``depth_model`` maps an RGB batch in [-1, 1] to relative depth; ``features`` to (B, D) image
    features; ``perturb`` and ``geo_loss`` have the signatures of :func:`perturb_camera` and
    :func:`depth_regulariser` (pass your own).
    """

    geo_weight: float = 0.0
    sem_weight: float = 0.0
    gammas: tuple[float, ...] = (1.0, 2.0, 4.0)
    depth_model: ImageFn | None = None
    features: ImageFn | None = None
    perturb: Callable[..., Camera] = perturb_camera
    geo_loss: Callable[..., torch.Tensor] = depth_regulariser

    @property
    def active(self) -> bool:
        return self.geo_weight > 0 or self.sem_weight > 0


@dataclass
class SceneFit:
    """Gaussians, their optimiser and the losses so far; :meth:`branch` copies it (chapter 05)."""

    gaussians: GaussianParams
    optimizer: torch.optim.Optimizer
    losses: dict[str, list[float]] = field(default_factory=lambda: {"rgb": [], "geo": [], "sem": []})

    @classmethod
    def start(cls, gaussians: GaussianParams, lrs: dict[str, float] | None = None) -> "SceneFit":
        """A fresh fit of a copy of ``gaussians`` (left as they are) with the 3DGS learning rates
        (:data:`~course_lib.splatting.training.DEFAULT_LRS`), scene extent 1."""
        gaussians = copy.deepcopy(gaussians)
        return cls(gaussians, make_optimizer(gaussians, {**DEFAULT_LRS, **(lrs or {})}, 1.0))

    def branch(self) -> "SceneFit":
        """An independent copy: Gaussians, Adam moments and loss history."""
        gaussians, optimizer, losses = copy.deepcopy((self.gaussians, self.optimizer, self.losses))
        return SceneFit(gaussians, optimizer, losses)


def _to_net(rgb: torch.Tensor) -> torch.Tensor:
    """A render (H, W, 3) in [0, 1] -> a network input (1, 3, H, W) in [-1, 1]."""
    return rgb.clamp(0, 1).permute(2, 0, 1)[None] * 2 - 1


def fit_scene(state: SceneFit, cameras: list[Camera], images: torch.Tensor, steps: int, regularisers: Regularisers = Regularisers(),
              dssim_weight: float = 0.2, seed: int = 0, progress: Callable | None = None) -> SceneFit:
    """Run ``steps`` Adam steps of Eq. 7 on ``state`` (in place; returned) (chapter 05).

    ``cameras`` and ``images`` (V, H, W, 3) in [0, 1] are the training views. ``seed`` fixes the view
    order and the virtual-camera draws, so branches with the same seed see the same views.
    """
    if len(cameras) != images.shape[0]:
        raise ValueError(f"got {len(cameras)} cameras but {images.shape[0]} images; give one camera per image")
    reg = regularisers
    if reg.geo_weight > 0 and reg.depth_model is None:
        raise ValueError("geo_weight > 0 needs a depth_model (the monocular depth of the virtual render)")
    if reg.sem_weight > 0 and reg.features is None:
        raise ValueError("sem_weight > 0 needs a features function (the [CLS]-like image features)")
    generator = torch.Generator().manual_seed(seed)
    camera_generator = torch.Generator().manual_seed(seed + 1)
    train_features = None
    if reg.sem_weight > 0:
        with torch.no_grad():
            train_features = reg.features(images.clamp(0, 1).permute(0, 3, 1, 2) * 2 - 1)  # (V, D)
    for step in (progress(range(steps)) if progress else range(steps)):
        view = int(torch.randint(len(cameras), (1,), generator=generator))
        out = render(state.gaussians, cameras[view], backend="torch")
        loss = l1_dssim_loss(out.rgb, images[view], dssim_weight)
        state.losses["rgb"].append(float(loss.detach()))
        if reg.active:
            virtual = reg.perturb(cameras[view], gamma_schedule(step, steps, reg.gammas), camera_generator)
            v_out = render(state.gaussians, virtual, backend="torch")
            if reg.geo_weight > 0:
                with torch.no_grad():
                    target = reg.depth_model(_to_net(v_out.rgb.detach()))[0]
                geo = reg.geo_loss(v_out.depth, target, v_out.alpha.detach() > 0.5)
                loss = loss + reg.geo_weight * geo
                state.losses["geo"].append(float(geo.detach()))
            if reg.sem_weight > 0:
                sem = semantic_regulariser(reg.features(_to_net(v_out.rgb)), train_features[view : view + 1])
                loss = loss + reg.sem_weight * sem
                state.losses["sem"].append(float(sem.detach()))
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
    return state
