r"""RealmDreamer's distillation losses (§3.2-3.3, chapter 06), in pixel space.

**Inpainting distillation** (Eq. 5). The render :math:`x` of a sampled pose is noised to a level :math:`t`
and denoised by the inpainting prior, conditioned on the render itself and the mask :math:`M` of the pixels
the occlusion volume shows, with 3-way guidance (Eq. 2). The sample :math:`\hat x` becomes a fixed target:

.. math:: \mathcal L_{inpaint} = \lambda_{image}\,\|M \odot (x - \hat x)\|^2 + \lambda_{ssim}\,(1 - \mathrm{SSIM}(x, \hat x))
          + \lambda_{anchor}\,\|(1 - M) \odot (x - I_{pc})\|^2

The paper's latent term :math:`\|z - \hat z\|^2` is the image term here (the tiny prior works on pixels, there is
no VAE), and LPIPS, which needs pretrained VGG weights, is replaced by SSIM. :math:`I_{pc}` is the render of
the initial point cloud: the anchor keeps what the reference image already showed.

**Depth distillation** (Eq. 6): :math:`\mathcal L_{depth} = -\mathrm{Pearson}(d, \hat d)` over the opaque pixels,
with :math:`\hat d` the depth prior's depth of :math:`\hat x`.
"""

from __future__ import annotations

import torch

from course_lib.diffusion import add_noise, denoise_from
from course_lib.diffusion.sampling import EpsFn
from course_lib.geometry.depth import pearson
from course_lib.splatting import ssim


def distillation_target(eps_fn: EpsFn, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, steps: int = 1) -> torch.Tensor:
    r""":math:`\hat x`: the render ``x`` (B, 3, H, W) in [-1, 1] noised to ``t`` (B,) with ``noise`` and denoised in
    ``steps`` DDIM steps by ``eps_fn``, without gradient, clamped to [-1, 1] (chapter 06)."""
    with torch.no_grad():
        return denoise_from(eps_fn, add_noise(x.detach(), noise, t), t, steps).clamp(-1, 1)


def inpainting_distillation_loss(x: torch.Tensor, x_hat: torch.Tensor, mask: torch.Tensor, anchor: torch.Tensor,
                                 image_weight: float, ssim_weight: float, anchor_weight: float) -> torch.Tensor:
    r"""Eq. 5 in this chapter's form (see the module docstring) (chapter 06): ``x`` (B, 3, H, W) the render with
    gradient, ``x_hat`` its distillation target, ``mask`` (B, 1, H, W) 1 where to fill, ``anchor`` the point-cloud
    render :math:`I_{pc}`; squared errors are means over all pixels."""
    x_hat = x_hat.detach()  # a target: no gradient flows into it
    image = ((mask * (x - x_hat)) ** 2).mean()
    structure = 1 - ssim(x.permute(0, 2, 3, 1) * 0.5 + 0.5, x_hat.permute(0, 2, 3, 1) * 0.5 + 0.5)
    keep = (((1 - mask) * (x - anchor)) ** 2).mean()
    return image_weight * image + ssim_weight * structure + anchor_weight * keep


def depth_distillation_loss(depth: torch.Tensor, prior_depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Eq. 6: :math:`-\mathrm{Pearson}(d, \hat d)` over ``mask`` (B, H, W), averaged over the batch (chapter 06)."""
    return -pearson(depth, prior_depth.detach(), mask).mean()
