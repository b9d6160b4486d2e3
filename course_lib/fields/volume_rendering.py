r"""Volume rendering by the NeRF quadrature (Max 1995; Mildenhall et al. 2020, Eq. 3), chapter 07.

A ray :math:`\mathbf{r}(t) = \mathbf{o} + t \mathbf{d}` is cut into :math:`S` intervals of lengths
:math:`\delta_i` with a sample :math:`t_i` in each; a field gives density :math:`\sigma_i \ge 0` and colour
:math:`\mathbf{c}_i` there. Then

.. math:: \alpha_i = 1 - e^{-\sigma_i \delta_i}, \qquad
          T_i = \exp\Big(-\sum_{j<i} \sigma_j \delta_j\Big) = \prod_{j<i} (1 - \alpha_j), \qquad
          w_i = T_i \alpha_i,

.. math:: \hat{C} = \sum_i w_i \mathbf{c}_i, \qquad \hat{D} = \sum_i w_i t_i, \qquad A = \sum_i w_i,

colour, expected depth and opacity (the share of the ray stopped in [near, far]; :math:`1 - A` is what
reaches the background, e.g. the sky).

Departure from the NeRF code: :math:`\delta_i` is the width of the bin that sample :math:`i` stands for
(the bins tile [near, far], as mip-NeRF's do), not :math:`t_{i+1} - t_i` with an infinite last interval:
a sampled band in front of the sky must let light through behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RenderResult:
    """What :func:`volume_render` returns for R rays of S samples (chapter 07).

    colour (R, C), depth (R,) = sum_i w_i t_i, depth_normalised (R,) = depth / opacity (0 where the
    opacity is 0), opacity (R,) = sum_i w_i, weights (R, S).
    """

    colour: torch.Tensor
    depth: torch.Tensor
    depth_normalised: torch.Tensor
    opacity: torch.Tensor
    weights: torch.Tensor


def _near_far(value: float | torch.Tensor, name: str, num_rays: int) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.float32) if not isinstance(value, torch.Tensor) else value
    if tensor.ndim == 0:
        tensor = tensor.expand(num_rays)
    if tensor.shape != (num_rays,):
        raise ValueError(f"{name} must be a number or a tensor of shape ({num_rays},) (one per ray), got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} has non-finite entries; every ray needs a finite {name} distance")
    return tensor


def sample_along_rays(
    num_rays: int,
    near: float | torch.Tensor,
    far: float | torch.Tensor,
    num_samples: int,
    generator: torch.Generator | None = None,
    stratified: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Distances of ``num_samples`` samples per ray in [near, far] and the widths of their bins (NeRF §4, stratified sampling) (chapter 07).

    [near, far] is cut into ``num_samples`` equal bins; stratified sampling draws
    :math:`t_i \sim \mathcal{U}[t_{\text{near}} + i\,\Delta,\ t_{\text{near}} + (i+1)\Delta]` with
    ``generator`` (NeRF Eq. 2), otherwise :math:`t_i` is the bin's midpoint. ``near`` / ``far`` are numbers or
    per-ray tensors (R,), e.g. from the ray's intersections with a layout. Returns t (R, S) and deltas (R, S).
    """
    if not isinstance(num_rays, int) or num_rays < 1:
        raise ValueError(f"num_rays={num_rays!r} must be a positive integer")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples={num_samples!r} must be a positive integer")
    near_t, far_t = _near_far(near, "near", num_rays), _near_far(far, "far", num_rays)
    if (far_t < near_t).any():
        raise ValueError(f"far < near on {int((far_t < near_t).sum())} rays: every ray needs near <= far")
    bins = torch.arange(num_samples + 1, dtype=near_t.dtype, device=near_t.device) / num_samples  # (S + 1,)
    edges = near_t[:, None] + (far_t - near_t)[:, None] * bins  # (R, S + 1)
    if stratified:
        u = torch.rand(num_rays, num_samples, generator=generator, dtype=near_t.dtype).to(near_t.device)
    else:
        u = torch.full((num_rays, num_samples), 0.5, dtype=near_t.dtype, device=near_t.device)
    t = edges[:, :-1] + u * (edges[:, 1:] - edges[:, :-1])
    return t, edges[:, 1:] - edges[:, :-1]


def render_weights(sigmas: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    r"""Blending weights :math:`w_i = T_i (1 - e^{-\sigma_i \delta_i})`, :math:`T_i = \exp(-\sum_{j<i} \sigma_j \delta_j)` (NeRF Eq. 3) (chapter 07).

    sigmas, deltas (R, S) -> weights (R, S). The transmittance is an exclusive cumulative sum in log
    space, the same number as :math:`\prod_{j<i}(1-\alpha_j)` with a gradient that stays finite.
    """
    if sigmas.shape != deltas.shape or sigmas.ndim != 2:
        raise ValueError(f"sigmas and deltas must both be (R, S), got {tuple(sigmas.shape)} and {tuple(deltas.shape)}")
    if (sigmas < 0).any():
        raise ValueError("densities must be >= 0 (pass the field's raw output through softplus or exp)")
    if (deltas < 0).any():
        raise ValueError("interval lengths (deltas) must be >= 0: samples must be sorted front to back")
    optical_depth = sigmas * deltas  # (R, S)
    alphas = 1.0 - torch.exp(-optical_depth)
    before = torch.cumsum(optical_depth, dim=-1) - optical_depth  # sum_{j<i}
    return torch.exp(-before) * alphas


def volume_render(sigmas: torch.Tensor, colours: torch.Tensor, t: torch.Tensor, deltas: torch.Tensor) -> RenderResult:
    r"""Colour, expected depth and opacity of R rays of S samples (NeRF Eq. 3) (chapter 07).

    .. math:: \hat{C} = \sum_i w_i \mathbf{c}_i, \quad \hat{D} = \sum_i w_i t_i, \quad A = \sum_i w_i

    sigmas (R, S) >= 0, colours (R, S, C), t and deltas (R, S).
    """
    if colours.ndim != 3 or colours.shape[:2] != sigmas.shape:
        raise ValueError(f"colours must be (R, S, C) with (R, S) = {tuple(sigmas.shape)}, got {tuple(colours.shape)}")
    if t.shape != sigmas.shape:
        raise ValueError(f"t must be (R, S) = {tuple(sigmas.shape)}, got {tuple(t.shape)}")
    weights = render_weights(sigmas, deltas)  # (R, S)
    colour = (weights[..., None] * colours).sum(dim=1)  # (R, C)
    depth = (weights * t).sum(dim=1)
    opacity = weights.sum(dim=1)
    hit = opacity > 0
    depth_normalised = torch.where(hit, depth / torch.where(hit, opacity, torch.ones_like(opacity)), torch.zeros_like(depth))
    return RenderResult(colour, depth, depth_normalised, opacity, weights)
