r"""DreamScene360 at the paper's size (arXiv 2404.06903; reference code ShijieZhou-UCLA/DreamScene360), chapter 05.

The full-scale models, built here on PyTorch's ``meta`` device (architectures and parameter counts, no
weights, no download) and checked with one shape-only step:

* Stable Diffusion 2.1-base's UNet (diffusers :class:`~diffusers.UNet2DConditionModel`, the config of
  ``stabilityai/stable-diffusion-2-1-base``), to which the reference code adds a 360° LoRA (multiplier 0.7),
  sampled with DDIM 50, CFG 7, the prompt prefixed "360-degree panoramic image, ", over a 512 x 2048 canvas
  (64 x 256 latents) with 64 x 128-latent windows and a stitch block, cropped to 512 x 1024;
* a monocular depth model: Depth Anything V2 Small (transformers, ``depth-anything/Depth-Anything-V2-Small-hf``);
* DINOv2 ViT-B/14 (timm ``vit_base_patch14_dinov2.lvd142m``), whose [CLS] token is L_sem's feature;
* gsplat's CUDA rasterizer (``course_lib.splatting.render`` picks it for CUDA tensors), 10k iterations.

Running them needs the Hugging Face hub and a GPU: :func:`require_hub` says so at once when either is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.text_to_3d.hub import require_gpu_and_hub

SD21_BASE = "stabilityai/stable-diffusion-2-1-base"
DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
DINOV2 = "vit_base_patch14_dinov2.lvd142m"
PANORAMA_PREFIX = "360-degree panoramic image, "


def sd21_unet_config() -> dict:
    """The UNet config of SD 2.1-base (diffusers' ``unet/config.json`` of the hub repository), written out offline."""
    return dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))


def depth_anything_small_config():
    """transformers' ``DepthAnythingConfig`` with Depth Anything V2 Small's sizes (a DINOv2-S/14 backbone), built offline."""
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(hidden_size=384, num_attention_heads=6, image_size=518, patch_size=14,
                            out_features=["stage9", "stage10", "stage11", "stage12"], reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64,
                               depth_estimation_type="relative")


@dataclass
class FullScaleModels:
    """Parameter counts (millions) of the full-scale models, and the shape of one UNet step on a panorama window."""

    unet: float
    depth: float
    dino: float
    window_eps_shape: tuple[int, ...]


def build_on_meta(latent_window: tuple[int, int] = (64, 128)) -> FullScaleModels:
    """Build the three networks on the meta device and run the UNet once on one 64 x 128-latent window (shapes only)."""
    import timm
    from diffusers import UNet2DConditionModel
    from transformers import DepthAnythingForDepthEstimation

    with torch.device("meta"):
        unet = UNet2DConditionModel(**sd21_unet_config())
        depth = DepthAnythingForDepthEstimation(depth_anything_small_config())
        dino = timm.create_model("vit_base_patch14_dinov2", pretrained=False, num_classes=0)
        eps = unet(torch.zeros(1, 4, *latent_window), torch.tensor([999]), torch.zeros(1, 77, 1024)).sample

    def millions(model: torch.nn.Module) -> float:
        return sum(p.numel() for p in model.parameters()) / 1e6

    return FullScaleModels(millions(unet), millions(depth), millions(dino), tuple(eps.shape))


def require_hub(repo_ids: tuple[str, ...] = (SD21_BASE, DEPTH_MODEL, "timm/" + DINOV2)) -> None:
    """Stop with a clear message unless a CUDA GPU is visible and the hub serves every repository in ``repo_ids``."""
    require_gpu_and_hub("DreamScene360", "SD 2.1 at 512 x 1024, gsplat's CUDA rasterizer", repo_ids)
