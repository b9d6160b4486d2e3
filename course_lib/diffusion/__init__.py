"""Tiny diffusion priors and the machinery around them (chapters 05-07), built on diffusers.

- :mod:`~course_lib.diffusion.unets`: diffusers UNet factories, :class:`TinyPrior` (x_t + extra channels +
  prompt tokens + optional camera token), :class:`PoseEncoder` (the VSD hook).
- :mod:`~course_lib.diffusion.text`: the prompt encoder over the procedural vocabulary, condition dropout.
- :mod:`~course_lib.diffusion.schedule`: DDPM / DDIM schedulers (diffusers), the forward process.
- :mod:`~course_lib.diffusion.sampling`: DDIM sampling and inversion, circular MultiDiffusion.
- :mod:`~course_lib.diffusion.guidance`: 2-way and RealmDreamer's 3-way classifier-free guidance.
- :mod:`~course_lib.diffusion.inpainting`: mask + masked-image conditions, a blur-fill baseline.
- :mod:`~course_lib.diffusion.distillation`: SDS and VSD (particle-estimator hook).
- :mod:`~course_lib.diffusion.dense`, :mod:`~course_lib.diffusion.classifier`: depth prior, segmenter, judge.
- :mod:`~course_lib.diffusion.priors`: the shipped priors (``prior_*`` assets) and their guided predictors.
- :mod:`~course_lib.diffusion.recipes`, :mod:`~course_lib.diffusion.gallery`: how they are built and shown.

At reduced scale the priors stand in for Stable Diffusion (+ inpainting, + 360° LoRA, + ControlNet),
Marigold / Depth Anything, and CLIP / DINO; they are trained by the course on procedural data.
"""

from course_lib.diffusion.distillation import particle_estimator_loss, sds_loss, sds_weight, vsd_loss
from course_lib.diffusion.guidance import cfg, cfg_3way
from course_lib.diffusion.inpainting import blur_fill, inpaint_condition, masked_mse, random_masks
from course_lib.diffusion.sampling import ddim_inpaint, ddim_invert, ddim_sample, ddim_step, ddim_timesteps, multidiffusion_eps, panorama_eps_fn, seam_error
from course_lib.diffusion.schedule import add_noise, alphas_cumprod, ddim_scheduler, ddpm_scheduler
from course_lib.diffusion.text import PromptEncoder, drop_condition, tokenize_prompts
from course_lib.diffusion.unets import PoseEncoder, PriorConfig, TinyPrior, tiny_condition_unet, tiny_unet

__all__ = [
    "PoseEncoder", "PriorConfig", "PromptEncoder", "TinyPrior", "add_noise", "alphas_cumprod", "blur_fill", "cfg", "cfg_3way",
    "ddim_inpaint", "ddim_invert", "ddim_sample", "ddim_scheduler", "ddim_step", "ddim_timesteps", "ddpm_scheduler", "drop_condition",
    "inpaint_condition", "masked_mse", "multidiffusion_eps", "panorama_eps_fn", "particle_estimator_loss", "random_masks", "sds_loss",
    "sds_weight", "seam_error", "tiny_condition_unet", "tiny_unet", "tokenize_prompts", "vsd_loss",
]
