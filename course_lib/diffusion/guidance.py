"""Classifier-free guidance: condition dropout in training, the 2-way form and RealmDreamer's 3-way image + text form (chapters 05-06)."""

from __future__ import annotations

import torch


def classifier_free_guidance(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    r"""Classifier-free guidance (Ho & Salimans, 2022, Eq. 6, written as in Stable Diffusion) (chapter 05):

    .. math:: \tilde\epsilon = \epsilon(\varnothing) + s\,(\epsilon(y) - \epsilon(\varnothing))

    ``scale = 1`` gives the conditional prediction, ``0`` the unconditional one.
    """
    if eps_uncond.shape != eps_cond.shape:
        raise ValueError(f"eps_uncond {tuple(eps_uncond.shape)} and eps_cond {tuple(eps_cond.shape)} must have the same shape")
    return eps_uncond + scale * (eps_cond - eps_uncond)


def image_text_guidance(eps_none: torch.Tensor, eps_image: torch.Tensor, eps_image_text: torch.Tensor, scale_image: float, scale_text: float) -> torch.Tensor:
    r"""RealmDreamer's image + text guidance (Shriram et al., 2024, Eq. 2; from InstructPix2Pix) (chapter 06):

    .. math:: \tilde\epsilon = \epsilon(\varnothing,\varnothing) + S_I\,(\epsilon(I,\varnothing) - \epsilon(\varnothing,\varnothing))
              + S_T\,(\epsilon(I,T) - \epsilon(I,\varnothing))

    With :math:`S_I = 1` it is the 2-way guidance :func:`classifier_free_guidance` around :math:`\epsilon(I,\varnothing)`.
    """
    if not eps_none.shape == eps_image.shape == eps_image_text.shape:
        raise ValueError(f"the three predictions must share one shape, got {tuple(eps_none.shape)}, {tuple(eps_image.shape)}, {tuple(eps_image_text.shape)}")
    return eps_none + scale_image * (eps_image - eps_none) + scale_text * (eps_image_text - eps_image)


def drop_condition(cond: torch.Tensor, null: torch.Tensor, p: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each sample's condition by ``null`` with probability ``p`` (classifier-free guidance training, chapter 05).

    ``cond`` and ``null`` are (B, ...); returns the new condition and the (B,) bool mask of dropped samples.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p={p} must lie in [0, 1]")
    if cond.shape != null.shape:
        raise ValueError(f"cond {tuple(cond.shape)} and null {tuple(null.shape)} must have the same shape")
    drop = torch.rand(cond.shape[0], generator=generator) < p
    keep = (~drop).view(-1, *([1] * (cond.ndim - 1))).to(cond.dtype)
    return cond * keep + null * (1 - keep), drop
