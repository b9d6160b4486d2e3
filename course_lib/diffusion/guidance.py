"""Classifier-free guidance: the 2-way form and RealmDreamer's 3-way image + text form (chapters 05-06)."""

from __future__ import annotations

import torch


def cfg(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    r"""Classifier-free guidance (Ho & Salimans, 2022, Eq. 6, written as in Stable Diffusion) (chapter 05):

    .. math:: \tilde\epsilon = \epsilon(\varnothing) + s\,(\epsilon(y) - \epsilon(\varnothing))

    ``scale = 1`` gives the conditional prediction, ``0`` the unconditional one.
    """
    if eps_uncond.shape != eps_cond.shape:
        raise ValueError(f"eps_uncond {tuple(eps_uncond.shape)} and eps_cond {tuple(eps_cond.shape)} must have the same shape")
    return eps_uncond + scale * (eps_cond - eps_uncond)


def cfg_3way(eps_none: torch.Tensor, eps_image: torch.Tensor, eps_image_text: torch.Tensor, scale_image: float, scale_text: float) -> torch.Tensor:
    r"""RealmDreamer's image + text guidance (Shriram et al., 2024, Eq. 2; from InstructPix2Pix) (chapter 06):

    .. math:: \tilde\epsilon = \epsilon(\varnothing,\varnothing) + S_I\,(\epsilon(I,\varnothing) - \epsilon(\varnothing,\varnothing))
              + S_T\,(\epsilon(I,T) - \epsilon(I,\varnothing))

    With :math:`S_I = 1` it is the 2-way guidance :func:`cfg` around :math:`\epsilon(I,\varnothing)`.
    """
    if not eps_none.shape == eps_image.shape == eps_image_text.shape:
        raise ValueError(f"the three predictions must share one shape, got {tuple(eps_none.shape)}, {tuple(eps_image.shape)}, {tuple(eps_image_text.shape)}")
    return eps_none + scale_image * (eps_image - eps_none) + scale_text * (eps_image_text - eps_image)
