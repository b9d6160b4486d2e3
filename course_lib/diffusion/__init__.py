"""Diffusion methods of chapters 05-07, built on diffusers: schedules, DDIM sampling / inversion /
inpainting, circular MultiDiffusion, classifier-free guidance (2- and 3-way), inpainting conditions,
score distillation (SDS, VSD) and tiny UNet factories.

- :mod:`~course_lib.diffusion.schedule`: DDPM / DDIM schedulers (diffusers), the forward process, the timestep convention.
- :mod:`~course_lib.diffusion.sampling`: DDIM sampling, inpainting and inversion, circular MultiDiffusion.
- :mod:`~course_lib.diffusion.guidance`: condition dropout, 2-way and RealmDreamer's 3-way classifier-free guidance.
- :mod:`~course_lib.diffusion.inpainting`: mask + masked-image conditions, masks, a blur-fill baseline.
- :mod:`~course_lib.diffusion.distillation`: SDS and VSD (particle-estimator hook).
- :mod:`~course_lib.diffusion.unets`: small diffusers UNets, the camera-pose token.

Every noise predictor is a function ``eps_fn(x_t, t)`` with ``t`` a (B,) integer tensor (an int is
accepted). The shipped models these methods run on at reduced scale live in :mod:`course_lib.priors`.
"""

from course_lib.diffusion.distillation import particle_estimator_loss, sds_loss, sds_weight, vsd_loss
from course_lib.diffusion.guidance import classifier_free_guidance, drop_condition, image_text_guidance
from course_lib.diffusion.inpainting import blur_fill, inpaint_condition, masked_mse, random_masks
from course_lib.diffusion.sampling import (ddim_inpaint, ddim_invert, ddim_sample, ddim_step, ddim_timesteps, denoise_from, multidiffusion_eps,
                                          panorama_eps_fn, predict_x0, seam_error)
from course_lib.diffusion.schedule import add_noise, alphas_cumprod, batch_timesteps, ddim_scheduler, ddpm_scheduler
from course_lib.diffusion.unets import PoseEncoder, tiny_condition_unet, tiny_unet

__all__ = [
    "PoseEncoder", "add_noise", "alphas_cumprod", "batch_timesteps", "blur_fill", "classifier_free_guidance", "ddim_inpaint",
    "ddim_invert", "ddim_sample", "ddim_scheduler", "ddim_step", "ddim_timesteps", "ddpm_scheduler", "denoise_from", "drop_condition",
    "image_text_guidance", "inpaint_condition", "masked_mse", "multidiffusion_eps", "panorama_eps_fn", "particle_estimator_loss", "predict_x0",
    "random_masks", "sds_loss", "sds_weight", "seam_error", "tiny_condition_unet", "tiny_unet", "vsd_loss",
]
