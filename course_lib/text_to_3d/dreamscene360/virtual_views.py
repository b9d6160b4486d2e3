r"""Virtual cameras and the regularisers that use them (DreamScene360, arXiv 2404.06903, §3.4, Eqs. 4-6), chapter 05.

The panorama is seen from one point only; a novel view from a step away shows what the training
views never constrained. DreamScene360 renders extra *virtual* cameras around each training camera,

.. math:: \mathbf c' = \mathbf c + \boldsymbol\delta, \qquad \boldsymbol\delta \sim \mathcal U[-0.05, 0.05]^3 \cdot \gamma,
          \quad \gamma \in \{1, 2, 4\} \text{ in stages,}

where no image exists, and regularises what they see:

* geometry: :math:`\mathcal L_{geo} = 1 - \mathrm{Pearson}(\hat D, D_{mono}(\hat I))`, the rendered depth
  :math:`\hat D` against the monocular depth of the rendered image :math:`\hat I` (the paper's
  version; the reference code compares with the *training* view's depth instead);
* semantics: :math:`\mathcal L_{sem} = 1 - \cos(\phi(\hat I), \phi(I))`, the [CLS] features (DINOv2 in the
  paper) of the virtual render and of the training image.

The monocular depth is a target: no gradient flows through the depth model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.geometry.cameras import Camera
from course_lib.geometry.depth import pearson

OFFSET = 0.05  # half-width of the uniform offset at gamma = 1


def perturb_camera(camera: Camera, gamma: float, generator: torch.Generator | None = None) -> Camera:
    r"""A virtual camera: the same orientation and intrinsics, the centre moved by :math:`\delta \sim \mathcal U[-0.05, 0.05]^3\cdot\gamma` (chapter 05).

    The offset is drawn as ``(torch.rand(3, generator=generator) * 2 - 1) * 0.05 * gamma`` in world
    coordinates; with :math:`R` the rotation of ``viewmat``, the new translation is :math:`t - R\delta`.
    """
    if gamma < 0:
        raise ValueError(f"gamma={gamma} must be non-negative (the paper uses 1, 2 and 4)")
    delta = (torch.rand(3, generator=generator) * 2 - 1) * OFFSET * gamma
    viewmat = camera.viewmat.clone()
    viewmat[:3, 3] = viewmat[:3, 3] - viewmat[:3, :3] @ delta
    return Camera(camera.K, viewmat, camera.width, camera.height)


def gamma_schedule(step: int, steps: int, gammas: tuple[float, ...] = (1.0, 2.0, 4.0)) -> float:
    """The paper's staged offset scale: the steps split into equal stages, gamma = 1, then 2, then 4 (chapter 05)."""
    if not 0 <= step < steps:
        raise ValueError(f"step {step} is outside 0..{steps - 1}")
    return gammas[min(len(gammas) - 1, step * len(gammas) // steps)]


def depth_regulariser(rendered_depth: torch.Tensor, prior_depth: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`\mathcal L_{geo} = 1 - \mathrm{Pearson}(\hat D, D_{mono})` averaged over a batch of (B, H, W) maps, over ``mask`` (chapter 05).

    Pearson is invariant to a positive scale and any shift of either map, which is all a monocular
    depth is known up to. ``prior_depth`` is a target: it is detached.
    """
    if rendered_depth.ndim == 2:
        rendered_depth, prior_depth = rendered_depth[None], prior_depth[None]
        mask = None if mask is None else mask[None]
    return 1.0 - pearson(rendered_depth, prior_depth.detach(), mask).mean()


def semantic_regulariser(features_virtual: torch.Tensor, features_train: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathcal L_{sem} = 1 - \cos(\phi(\hat I), \phi(I))` for (B, D) feature batches; the training image's are detached (chapter 05)."""
    return 1.0 - F.cosine_similarity(features_virtual, features_train.detach(), dim=-1).mean()
