"""The shipped tiny priors in the shapes RealmDreamer's pipeline calls them (chapter 06).

``prior_text2image`` stands in for SD-2 inpainting (one net: x_t, mask, masked image, prompt; condition
dropout gives eps(empty, empty), eps(I, empty) and eps(I, T)); ``prior_depth`` stands in for Marigold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from course_lib.diffusion import ddim_inpaint, ddim_timesteps, image_text_guidance
from course_lib.priors import load_depth_prior, load_prior
from course_lib.priors.shipped import inpaint_eps_fn
from course_lib.text_to_3d.realmdreamer.optimise import to_net


@dataclass
class StandIns:
    """The frozen inpainting prior and depth prior, with the calls the pipeline needs (chapter 06)."""

    prior: torch.nn.Module
    depth: torch.nn.Module
    outpaint_steps: int = 10
    outpaint_scale_text: float = 3.0
    guidance: Callable = image_text_guidance  # Eq. 2; the notebook swaps in the learner's

    @classmethod
    def load(cls, outpaint_steps: int = 10, outpaint_scale_text: float = 3.0) -> "StandIns":
        return cls(load_prior("prior_text2image"), load_depth_prior(), outpaint_steps, outpaint_scale_text)

    def depth_image(self, rgb: torch.Tensor) -> torch.Tensor:
        """Relative depth (H, W) of one image (H, W, 3) in [0, 1]."""
        with torch.no_grad():
            return self.depth(to_net(rgb))[0]

    def depth_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Relative depth (B, H, W) of images (B, 3, H, W) in [-1, 1]."""
        with torch.no_grad():
            return self.depth(x)

    def guided(self, prompts: list[str], image: torch.Tensor | None, mask: torch.Tensor | None, scale_image: float, scale_text: float):
        """The 3-way guided noise predictor (Eq. 2); ``image=None``: the text-to-image branch, 2-way guided."""
        return inpaint_eps_fn(self.prior, prompts, image, mask, scale_image, scale_text, self.guidance)

    def outpainter(self, prompt: str, seed: int = 0):
        """``outpaint(rgb (H, W, 3), hole (H, W) bool) -> filled rgb``: DDIM inpainting of the hole (S_I = 1)."""
        calls = [0]

        def outpaint(rgb: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
            image, mask = to_net(rgb), hole.float()[None, None]
            g = torch.Generator().manual_seed(seed + 1000 * calls[0])
            calls[0] += 1
            eps_fn = inpaint_eps_fn(self.prior, [prompt], image, mask, 1.0, self.outpaint_scale_text, self.guidance)
            with torch.no_grad():
                x = ddim_inpaint(eps_fn, torch.randn(image.shape, generator=g), ddim_timesteps(self.outpaint_steps), image, mask, g)
            return (x[0].clamp(-1, 1).permute(1, 2, 0) + 1) / 2

        return outpaint
