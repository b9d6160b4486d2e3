r"""Global alignment of the tangent tiles' monocular depths (DreamScene360, arXiv 2404.06903, §3.3, Eq. 2), chapter 05.

Each of the 20 tangent tiles gets a depth map from a monocular model, known only up to a scale and
a shift of its own. DreamScene360 aligns them all to one global distance field :math:`f(v;\Theta)`
over view directions:

.. math:: \min_{\alpha,\beta,\Theta}\ \sum_t \big\| \mathrm{softplus}(\alpha_t)\, D_t + \beta_t - f(v;\Theta) \big\|^2
          + \lambda_{TV}\, \mathrm{TV}(\beta) + \lambda_\alpha \big\| \mathrm{softplus}(\alpha) - 1 \big\|^2 \quad\text{(Eq. 2)}

with one positive scale :math:`\mathrm{softplus}(\alpha_t)` per tile (initialised to 1), a shift map
:math:`\beta_t` per tile (a low-resolution grid, upsampled bilinearly, initialised to 0) and the field
:math:`f` (:class:`~course_lib.text_to_3d.dreamscene360.distance_field.DirectionField`). It is fitted in
two phases, as in the reference code: the scales and the field first ("global"), then the shift
maps too ("hybrid").

Departures, said where they matter: the data term is the paper's squared error (the reference code
uses smooth-L1, β = 0.5); the scale penalty is the paper's, per tile, averaged over the tiles (the
reference code penalises the mean scale instead, :math:`(\overline{\mathrm{softplus}(\alpha)} - 1)^2`: in
this chapter's probe that let the all-sky tiles, which have no data term, carry the mean while every
other tile's scale collapsed towards 0 and the shift maps took over); the shift maps are
low-resolution (the reference's are full resolution) and every valid pixel is used each step (the
reference samples 256 per tile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.text_to_3d.dreamscene360.distance_field import DirectionField

SCALE_INIT = math.log(math.e - 1.0)  # softplus(SCALE_INIT) = 1


def upsample_shift(shift_lowres: torch.Tensor, size: int) -> torch.Tensor:
    """Shift maps (T, r, r) -> (T, size, size), bilinear with aligned corners (chapter 05)."""
    if shift_lowres.ndim != 3:
        raise ValueError(f"shift_lowres must be (T, r, r), got shape {tuple(shift_lowres.shape)}")
    return F.interpolate(shift_lowres[:, None], size=(size, size), mode="bilinear", align_corners=True)[:, 0]


def total_variation(maps: torch.Tensor) -> torch.Tensor:
    r"""Anisotropic TV of (T, r, r) maps: mean :math:`|\Delta_y\beta|` + mean :math:`|\Delta_x\beta|` (chapter 05)."""
    return (maps[:, 1:, :] - maps[:, :-1, :]).abs().mean() + (maps[:, :, 1:] - maps[:, :, :-1]).abs().mean()


def alignment_loss(mono: torch.Tensor, field_distance: torch.Tensor, scale_raw: torch.Tensor, shift_lowres: torch.Tensor,
                   mask: torch.Tensor, tv_weight: float, scale_weight: float) -> torch.Tensor:
    r"""DreamScene360 Eq. 2 for T tiles of S x S pixels (chapter 05).

    ``mono`` (T, S, S) positive per-tile distances from the depth prior; ``field_distance`` (T, S, S) the
    global field at each pixel's direction; ``scale_raw`` (T,) (scale = softplus); ``shift_lowres``
    (T, r, r); ``mask`` (T, S, S) bool, the pixels that count (not sky). Returns the scalar

    .. math:: \frac{1}{|M|}\sum_{p\in M} \big(\mathrm{softplus}(\alpha_t) D_t(p) + \beta_t(p) - f(v_p)\big)^2
              + \lambda_{TV}\,\mathrm{TV}(\beta^{\text{low}}) + \lambda_\alpha\, \tfrac1T\textstyle\sum_t \big(\mathrm{softplus}(\alpha_t) - 1\big)^2
    """
    aligned = F.softplus(scale_raw)[:, None, None] * mono + upsample_shift(shift_lowres, mono.shape[-1])
    residual = (aligned - field_distance) ** 2
    data = (residual * mask).sum() / mask.sum().clamp(min=1)
    return data + tv_weight * total_variation(shift_lowres) + scale_weight * ((F.softplus(scale_raw) - 1.0) ** 2).mean()


@dataclass(frozen=True)
class AlignmentSettings:
    """Iterations per phase, learning rates (cosine decay to 10 %), shift-map resolution and the loss weights (chapter 05)."""

    iterations: int = 300
    shift_resolution: int = 16
    tv_weight: float = 1e-2
    scale_weight: float = 0.1
    lr_scale: float = 0.1
    lr_shift: float = 0.1
    lr_field: float = 0.01


class TileAlignment(nn.Module):
    """The unknowns of Eq. 2: per-tile raw scales (T,), low-resolution shift maps (T, r, r) and the global field (chapter 05)."""

    def __init__(self, num_tiles: int, shift_resolution: int, field: DirectionField | None = None) -> None:
        super().__init__()
        self.scale_raw = nn.Parameter(torch.full((num_tiles,), SCALE_INIT))
        self.shift_lowres = nn.Parameter(torch.zeros(num_tiles, shift_resolution, shift_resolution))
        self.field = field or DirectionField()

    def scales(self) -> torch.Tensor:
        """(T,) positive per-tile scales."""
        return F.softplus(self.scale_raw)

    def shifts(self) -> torch.Tensor:
        """The low-resolution shift maps with their common mean removed, (T, r, r) (see :func:`fit_alignment`)."""
        return self.shift_lowres - self.shift_lowres.mean()

    def aligned(self, mono: torch.Tensor) -> torch.Tensor:
        """softplus(α_t) D_t + β_t for every tile, (T, S, S)."""
        return self.scales()[:, None, None] * mono + upsample_shift(self.shifts(), mono.shape[-1])


AlignmentLoss = Callable[..., torch.Tensor]


def fit_alignment(mono: torch.Tensor, dirs: torch.Tensor, mask: torch.Tensor, settings: AlignmentSettings = AlignmentSettings(),
                  loss_fn: AlignmentLoss = alignment_loss, seed: int = 0, progress: Callable | None = None) -> tuple[TileAlignment, list[float]]:
    """Fit Eq. 2 in the reference's two phases: scales + field, then scales + field + shift maps (chapter 05).

    Eq. 2 cannot tell a common offset of all shift maps from the same offset of the field (adding c to
    both leaves every residual unchanged), so that offset drifts freely; in this chapter's probe it drifted
    until the field reached its floor and aligned distances went negative. The shift maps are therefore
    used with their common mean removed (:meth:`TileAlignment.shifts`): the tiles keep their relative
    shifts, the field carries the offset.

    ``mono`` (T, S, S) positive per-tile distances, ``dirs`` (T, S, S, 3) each pixel's unit view direction,
    ``mask`` (T, S, S) bool. ``loss_fn`` has :func:`alignment_loss`'s signature (pass your own). Returns the
    fitted :class:`TileAlignment` and the loss of every step.
    """
    T, S = mono.shape[0], mono.shape[-1]
    if mono.shape != (T, S, S) or dirs.shape != (T, S, S, 3) or mask.shape != (T, S, S):
        raise ValueError(f"need mono (T, S, S), dirs (T, S, S, 3) and mask (T, S, S); got {tuple(mono.shape)}, {tuple(dirs.shape)}, {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError("the mask selects no pixel: every tile is sky; nothing to align")
    if not (mono[mask] > 0).all():
        raise ValueError("mono must be a positive distance on the masked pixels; remap the prior's standardised depth first (mono_distance)")
    torch.manual_seed(seed)
    model = TileAlignment(T, settings.shift_resolution)
    losses: list[float] = []
    phases = [("global", [model.scale_raw]), ("hybrid", [model.scale_raw, model.shift_lowres])]
    for phase, params in phases:
        optimizer = torch.optim.Adam([
            {"params": params[:1], "lr": settings.lr_scale},
            {"params": params[1:], "lr": settings.lr_shift},
            {"params": model.field.parameters(), "lr": settings.lr_field},
        ])
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / settings.iterations)))
        steps = range(settings.iterations)
        for _ in (progress(steps, desc=f"alignment ({phase})") if progress else steps):
            shift = model.shifts() if phase == "hybrid" else model.shifts().detach()
            loss = loss_fn(mono, model.field(dirs), model.scale_raw, shift, mask, settings.tv_weight, settings.scale_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
    return model, losses


def naive_normalise(mono: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The baseline without alignment: each tile's distance divided by its own mean over ``mask`` (T, S, S) (chapter 05)."""
    weight = mask.float()
    mean = (mono * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2)).clamp(min=1)
    return mono / mean.clamp(min=1e-6)[:, None, None]
