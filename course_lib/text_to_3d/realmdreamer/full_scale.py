r"""RealmDreamer at the paper's size (arXiv 2404.07199; reference code jaidevshriram/realmdreamer), chapter 06.

The full-scale models, built here on PyTorch's ``meta`` device (architectures and parameter counts, no weights,
no download) and checked with one shape-only step:

* SD-2 inpainting's UNet (diffusers :class:`~diffusers.UNet2DConditionModel`, the config of
  ``stabilityai/stable-diffusion-2-inpainting``): 9 input channels, the 4 latent channels of :math:`x_t`, the mask
  and the 4 latent channels of the masked image, at 512 x 512 (64 x 64 latents); 3-way guidance S_I 1.8, S_T 7.5;
* Marigold's depth UNet (``prs-eth/marigold-depth-v1-0``): the same SD-2 UNet with 8 input channels (the image
  latent and the noisy depth latent);
* gsplat's CUDA rasterizer and its DefaultStrategy (densification every 250 steps), 15k distillation + 3k
  refinement iterations (13 h on one A10 in the paper).

Two traps of the reference code, named so a reader of it is not misled: its multi-step sampler calls the
sampler without the image scale (S_I is effectively 1), and its latent term :math:`\|z - \hat z\|^2` is computed
under ``no_grad``, so it gives no gradient. This chapter implements the paper's version of both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.text_to_3d.hub import require_gpu_and_hub

SD2_INPAINTING = "stabilityai/stable-diffusion-2-inpainting"
MARIGOLD = "prs-eth/marigold-depth-v1-0"


def sd2_unet_config(in_channels: int) -> dict:
    """The UNet config of the SD-2 family (``unet/config.json`` of the hub repositories), written out offline."""
    return dict(sample_size=64, in_channels=in_channels, out_channels=4, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))


@dataclass
class FullScaleModels:
    """Parameter counts (millions) of the full-scale UNets, and the shape of one guided inpainting step's noise."""

    inpainting_unet: float
    depth_unet: float
    guided_eps_shape: tuple[int, ...]


def build_on_meta(latent: int = 64) -> FullScaleModels:
    """Build both UNets on the meta device and run one 3-way guided inpainting step (three branches in one batch), shapes only."""
    from diffusers import UNet2DConditionModel

    from course_lib.diffusion.guidance import image_text_guidance

    with torch.device("meta"):
        inpaint = UNet2DConditionModel(**sd2_unet_config(9))
        depth = UNet2DConditionModel(**sd2_unet_config(8))
        x = torch.zeros(3, 9, latent, latent)  # [x_t, mask, masked image] for (none, none), (image, none), (image, text)
        eps = inpaint(x, torch.tensor([500, 500, 500]), torch.zeros(3, 77, 1024)).sample
        guided = image_text_guidance(eps[0:1], eps[1:2], eps[2:3], 1.8, 7.5)

    def millions(model: torch.nn.Module) -> float:
        return sum(p.numel() for p in model.parameters()) / 1e6

    return FullScaleModels(millions(inpaint), millions(depth), tuple(guided.shape))


def require_hub(repo_ids: tuple[str, ...] = (SD2_INPAINTING, MARIGOLD)) -> None:
    """Stop with a clear message unless a CUDA GPU is visible and the hub serves every repository in ``repo_ids``."""
    require_gpu_and_hub("RealmDreamer", "SD-2 inpainting at 512 x 512, Marigold, gsplat's CUDA rasterizer; the paper: 13 h on one A10", repo_ids)
