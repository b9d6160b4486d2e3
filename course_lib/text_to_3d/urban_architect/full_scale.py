r"""Urban Architect at the paper's size (arXiv 2404.06780; reference code UrbanArchitect/UrbanArchitect), chapter 07.

The full-scale models, built here on PyTorch's ``meta`` device (architectures and parameter counts, no weights,
no download) and checked with one shape-only LG-VSD step (:func:`build_on_meta`):

* the prior: Stable Diffusion 2.1-base's UNet (diffusers :class:`~diffusers.UNet2DConditionModel`, the config of
  ``stabilityai/stable-diffusion-2-1-base``: 4 latent channels, 64 x 64 latents for 512 x 512 images, text
  cross-attention of width 1024), classifier-free guidance 7.5;
* the layout ControlNet :math:`F` (diffusers :class:`~diffusers.ControlNetModel`, built from that UNet as the
  reference does with ``ControlNetModel.from_unet(unet, conditioning_channels=4)``): its control image has **4
  channels**, the layout's semantic render in RGB scaled to [-1, 1] and its depth render divided by 200 (no hit ->
  0), concatenated (:func:`control_image`). Its residuals feed both the frozen prior and the estimator;
* the particle estimator :math:`\epsilon_\phi`: a second copy of the UNet with a LoRA of rank 4 on every attention
  projection (``to_q``, ``to_k``, ``to_v``, ``to_out.0``; :mod:`peft` through diffusers' ``add_adapter``, A
  Gaussian with std 1/r, B zero, scale 1: the reference's ``LoRAAttnProcessor``) and a camera embedding,
  ``TimestepEmbedding(16, 1280)`` of the flattened 4 x 4 camera-to-world matrix, as the UNet's class embedding,
  run at CFG 1;
* the scalable hash grid (:func:`paper_hash_grid`): one Instant-NGP grid per 400-unit cell along the road (10 levels,
  16 -> 8192, 4 features, :math:`T = 2^{21}`), one per object in box-local coordinates (:math:`T = 2^{14}`), on a CUDA
  hash encoding where one is installed (:func:`hash_grid_backend`); 256 x 256 renders upsampled to 512 for the
  prior, then a 512 x 512 refinement. About 12 h per 100 m of street on one V100 (paper).

Which Stable Diffusion: the reference README links ``stabilityai/stable-diffusion-2-1`` (the 768 px v-prediction
model), but ``guidance/lgvsd.py`` asserts an epsilon-predicting scheduler and works on 64 x 64 latents of 512 x 512
images: that is SD 2.1-base, the model the chapter's configuration names. The two share the UNet architecture.

Two traps of the reference code (``guidance/lgvsd.py``, ``main.py``), named so a reader of it is not misled:

* its estimator batch pairs the *empty* prompt with the camera and the prompt with the *zero* camera, then takes
  the second half as "text", so at CFG 1 the VSD gradient uses :math:`\epsilon_\phi(x_t, t, \mathbf{0}, y, F)`:
  the camera never reaches the gradient, only the LoRA's training loss (where it is dropped 10 % of the time);
* its optimiser holds the grid and the LoRA attention layers only (``reset_optimizer``), so the camera embedding
  keeps its random initialisation.

:func:`build_on_meta` evaluates the estimator as the paper's Eq. 3 reads, :math:`\epsilon_\phi(x_t, t, c, y, F(L(c)))`,
and counts the camera embedding apart from the LoRA. In the reference the prior's unconditional branch drops the
prompt only: the layout control stays on in both branches of its CFG.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from course_lib.fields.hash_grid import level_resolutions, level_table_rows
from course_lib.text_to_3d.hub import require_gpu_and_hub

SD21_BASE = "stabilityai/stable-diffusion-2-1-base"
# The nearest public ControlNet of the SD-2 family for a segmentation input. It is not the paper's: see require_hub.
PUBLIC_SEG_CONTROLNET = "thibaud/controlnet-sd21-ade20k-diffusers"

CONTROL_CHANNELS = 4  # semantic RGB (3) + depth / DEPTH_SCALE (1), as guidance/lgvsd.py and main.py build it
DEPTH_SCALE = 200.0
LORA_RANK = 4
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
CAMERA_DIM = 16  # the flattened 4 x 4 camera-to-world matrix
PRIOR_CFG, ESTIMATOR_CFG = 7.5, 1.0

# The scalable hash grid of hashgrid/models.py (ZipNeRFMLP defaults) and utils/config.py (grid_scale, obj_log2_T).
PAPER_GRID = dict(levels=10, min_res=16, max_res=8192, features=4, log2_table=21, object_log2_table=14, cell_size=400.0)


def sd21_base_unet_config() -> dict:
    """The architecture keys of SD 2.1-base's ``unet/config.json``, written out offline (chapter 07)."""
    return dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))


def control_image(semantic_rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """The layout ControlNet's input as the reference builds it: semantic RGB (B, 3, H, W) in [0, 1] -> [-1, 1], and
    depth (B, 1, H, W) in world units / 200, pixels without a layout hit (depth -1 or 0) at 0 -> (B, 4, H, W) (chapter 07)."""
    if semantic_rgb.ndim != 4 or semantic_rgb.shape[1] != 3:
        raise ValueError(f"semantic_rgb must be (B, 3, H, W), got {tuple(semantic_rgb.shape)}")
    if depth.ndim != 4 or depth.shape[1] != 1 or depth.shape[0] != semantic_rgb.shape[0] or depth.shape[2:] != semantic_rgb.shape[2:]:
        raise ValueError(f"depth must be (B, 1, H, W) matching semantic_rgb {tuple(semantic_rgb.shape)}, got {tuple(depth.shape)}")
    return torch.cat([2 * (semantic_rgb - 0.5), depth.clamp(min=0) / DEPTH_SCALE], dim=1)


@dataclass
class FullScaleModels:
    """Parameter counts (millions) of the full-scale models, and the shape of one LG-VSD step's guided noise.

    ``unet`` is one SD 2.1-base UNet (the reference holds two: the frozen prior and the estimator's copy);
    ``lora`` is the estimator's trainable LoRA, ``camera_embedding`` its class embedding."""

    unet: float
    controlnet: float
    lora: float
    camera_embedding: float
    guided_eps_shape: tuple[int, ...]


def build_on_meta(latent: int = 64) -> FullScaleModels:
    r"""Build the prior, the layout ControlNet and the LoRA estimator on the meta device and run one LG-VSD step,
    shapes only: ControlNet residuals for the (empty prompt, prompt) batch, the prior at CFG 7.5, the estimator on the
    prompt branch with the camera (CFG 1), and :math:`w(t)\,(\epsilon_{\text{pretrain}} - \epsilon_\phi)`."""
    from diffusers import ControlNetModel, DDPMScheduler, UNet2DConditionModel
    from diffusers.models.embeddings import TimestepEmbedding
    from peft import LoraConfig

    from course_lib.diffusion.guidance import classifier_free_guidance

    t = 500
    # SD's training schedule (scaled-linear betas), for w(t) = 1 - alpha_bar_t
    alpha_bar = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear").alphas_cumprod[t].item()
    with torch.device("meta"):
        prior = UNet2DConditionModel(**sd21_base_unet_config())
        controlnet = ControlNetModel.from_unet(prior, conditioning_channels=CONTROL_CHANNELS)
        estimator = UNet2DConditionModel(**sd21_base_unet_config())
        estimator.add_adapter(LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, init_lora_weights="gaussian", target_modules=list(LORA_TARGETS)))
        estimator.class_embedding = TimestepEmbedding(CAMERA_DIM, estimator.config.block_out_channels[0] * 4)  # after add_adapter: stays trainable

        x_t = torch.zeros(1, 4, latent, latent)
        batch = torch.cat([x_t, x_t])  # (empty prompt, prompt)
        steps = torch.full((2,), t)
        text = torch.zeros(2, 77, prior.config.cross_attention_dim)
        control = torch.zeros(2, CONTROL_CHANNELS, 8 * latent, 8 * latent)  # the layout renders at image resolution
        down, mid = controlnet(batch, steps, encoder_hidden_states=text, controlnet_cond=control, return_dict=False)
        eps_prior = prior(batch, steps, text, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
        guided = classifier_free_guidance(eps_prior[0:1], eps_prior[1:2], PRIOR_CFG)
        camera = torch.zeros(1, CAMERA_DIM)
        eps_estimator = estimator(x_t, steps[1:], text[1:], class_labels=camera, down_block_additional_residuals=[r[1:] for r in down],
                                  mid_block_additional_residual=mid[1:]).sample  # CFG 1: the conditional branch only
        grad = (1 - alpha_bar) * (guided - eps_estimator)
    if grad.shape != guided.shape:
        raise RuntimeError(f"the estimator's noise {tuple(eps_estimator.shape)} does not match the prior's {tuple(guided.shape)}")

    def millions(parameters) -> float:
        return sum(p.numel() for p in parameters) / 1e6

    lora = millions(p for name, p in estimator.named_parameters() if "lora_" in name)
    return FullScaleModels(millions(prior.parameters()), millions(controlnet.parameters()), lora,
                           millions(estimator.class_embedding.parameters()), tuple(guided.shape))


def require_hub(repo_ids: tuple[str, ...] = (SD21_BASE,), controlnet_checkpoint: str | os.PathLike | None = None) -> None:
    """Stop with a clear message unless a CUDA GPU is visible, the hub serves every repository in ``repo_ids``, and
    the layout ControlNet's checkpoint is at hand (chapter 07).

    The two models of the full scale are ``stabilityai/stable-diffusion-2-1-base`` (on the Hugging Face hub) and a
    layout ControlNet for it. The ControlNet is not on the hub: the reference code trains its own ControlNet on
    KITTI-360 layouts (semantic RGB + depth/200, 4 conditioning channels, built with
    ``ControlNetModel.from_unet(unet, conditioning_channels=4)``) and loads it from a local file
    (``torch.load(controlnet_model_path)['state_dict']``); the repository gives no download for it (its README links
    the Stable Diffusion and CLIP weights only, and train.sh leaves CONTROLNET_MODEL_PATH empty). The full scale
    therefore needs that checkpoint: pass its path as ``controlnet_checkpoint``. Public ControlNets do not replace it:
    ``lllyasviel/sd-controlnet-seg`` is for SD 1.5 (text width 768, it does not fit SD 2.1's UNet), and
    ``thibaud/controlnet-sd21-ade20k-diffusers`` (SD 2.1, ADE20K segmentation, 3 channels, no depth) takes a different
    condition and palette."""
    require_gpu_and_hub("Urban Architect", "SD 2.1-base + a layout ControlNet + the LoRA estimator's UNet copy, CUDA hash grids; "
                        "the paper: about 12 h per 100 m of street on one V100", repo_ids)
    if controlnet_checkpoint is None:
        raise RuntimeError("Urban Architect at full scale needs its layout ControlNet (SD 2.1-base, 4 conditioning channels: "
                           "semantic RGB + depth/200), which the authors trained on KITTI-360 layouts and which is not on the "
                           "Hugging Face hub; pass the path of that checkpoint as controlnet_checkpoint. Public segmentation "
                           f"ControlNets ({PUBLIC_SEG_CONTROLNET}: SD 2.1, ADE20K, no depth; lllyasviel/sd-controlnet-seg: "
                           "SD 1.5) take another condition and are no drop-in replacement.")
    if not Path(controlnet_checkpoint).is_file():
        raise RuntimeError(f"controlnet_checkpoint={str(controlnet_checkpoint)!r} is not a file: give the path of the layout "
                           "ControlNet's checkpoint (a torch.save file holding {'state_dict': ...}, as the reference loads it).")


def hash_grid_backend() -> str:
    """``"tinycudann"`` where tiny-cuda-nn imports and a CUDA GPU is visible, else ``"pure-pytorch"``
    (:class:`course_lib.fields.HashGrid`, the same Instant-NGP encoding, slower) (chapter 07).

    The reference code uses its own CUDA extension (``hashgrid.gridencoder``); tiny-cuda-nn is the maintained CUDA
    implementation of the same encoding (its ``HashGrid`` settings for the paper's sizes: :func:`paper_hash_grid`)."""
    if not torch.cuda.is_available():
        return "pure-pytorch"
    try:
        import tinycudann  # noqa: F401
    except Exception:  # not installed, or built for another CUDA / torch
        return "pure-pytorch"
    return "tinycudann"


def paper_hash_grid() -> dict:
    """The paper's hash-grid sizes and the parameters of one street cell and one object grid, counted with
    :func:`~course_lib.fields.hash_grid.level_table_rows` (nothing is allocated) (chapter 07).

    Keys: those of ``PAPER_GRID`` (``cell_size``: world units per cell, cells keyed by ``round(p / 400)``),
    ``resolutions`` (per level), ``cell_parameters`` and ``object_parameters`` (table entries x features; the small
    MLP heads are not counted), and ``tinycudann_encoding`` (the same grid as a tiny-cuda-nn encoding config)."""
    grid = dict(PAPER_GRID)
    resolutions = level_resolutions(grid["levels"], grid["min_res"], grid["max_res"])

    def parameters(log2_table: int) -> int:
        return grid["features"] * sum(level_table_rows(res, 2**log2_table) for res in resolutions)

    growth = (grid["max_res"] / grid["min_res"]) ** (1 / (grid["levels"] - 1))
    grid.update(resolutions=resolutions, cell_parameters=parameters(grid["log2_table"]), object_parameters=parameters(grid["object_log2_table"]),
                tinycudann_encoding=dict(otype="HashGrid", n_levels=grid["levels"], n_features_per_level=grid["features"],
                                         log2_hashmap_size=grid["log2_table"], base_resolution=grid["min_res"], per_level_scale=growth))
    return grid
