"""The tiny diffusion prior: a conditioned diffusers UNet with its own prompt encoder (chapters 05-07).

:class:`TinyPrior` is the stand-in for Stable Diffusion (and its inpainting, panorama and
ControlNet variants): a diffusers :class:`~diffusers.UNet2DConditionModel` predicting the noise
:math:`\\epsilon_\\theta(x_t, t, y)` of DDPM (Ho et al., 2020, Eq. 14), with extra condition
channels concatenated to :math:`x_t` (mask + masked image for inpainting, a semantic + depth
layout standing in for ControlNet) and cross-attention to a :class:`~course_lib.priors.text.PromptEncoder`.
An optional :class:`~course_lib.diffusion.unets.PoseEncoder` adds one camera token, the hook VSD's
particle estimator uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from course_lib.diffusion.unets import PoseEncoder, tiny_condition_unet
from course_lib.priors.text import PromptEncoder


@dataclass(frozen=True)
class PriorConfig:
    """Architecture of a tiny prior (chapters 05-07): image channels, extra condition channels, widths."""

    image_channels: int = 3
    extra_channels: int = 0
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    cross_attention_dim: int = 64
    attention_head_dim: int = 16
    sample_size: int = 32
    use_pose: bool = False


class TinyPrior(nn.Module):
    """A noise-prediction network :math:`\\epsilon_\\theta(x_t, t, y, c)` (chapters 05-07).

    ``x_t`` (B, image_channels, H, W); ``t`` (B,) integer timesteps; ``tokens`` (B, L, D) from
    :attr:`text` (use ``text.null(B)`` for the empty prompt); ``extra`` (B, extra_channels, H, W)
    concatenated to ``x_t``; ``pose`` (B, 12) when the config has ``use_pose``.
    """

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = tiny_condition_unet(config.image_channels + config.extra_channels, config.image_channels,
                                        config.block_out_channels, config.cross_attention_dim, config.attention_head_dim, config.sample_size)
        self.text = PromptEncoder(config.cross_attention_dim)
        self.pose = PoseEncoder(config.cross_attention_dim) if config.use_pose else None

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, extra: torch.Tensor | None = None,
                pose: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        if x_t.ndim != 4 or x_t.shape[1] != c.image_channels:
            raise ValueError(f"x_t must be (B, {c.image_channels}, H, W), got {tuple(x_t.shape)}")
        if c.extra_channels:
            if extra is None or extra.shape != (x_t.shape[0], c.extra_channels, *x_t.shape[2:]):
                got = None if extra is None else tuple(extra.shape)
                raise ValueError(f"this prior needs extra condition channels of shape (B, {c.extra_channels}, H, W) = "
                                 f"{(x_t.shape[0], c.extra_channels, *x_t.shape[2:])}, got {got}")
            x_t = torch.cat([x_t, extra], dim=1)
        if x_t.shape[-1] % 4 or x_t.shape[-2] % 4:
            raise ValueError(f"image height and width must be multiples of 4 (two down-samplings), got {tuple(x_t.shape[-2:])}")
        if pose is not None:
            if self.pose is None:
                raise ValueError("this prior was built without a pose encoder; build it with PriorConfig(use_pose=True)")
            tokens = torch.cat([tokens, self.pose(pose)], dim=1)
        t = torch.as_tensor(t).reshape(-1).expand(x_t.shape[0])
        return self.unet(x_t, t, tokens).sample

    def config_dict(self) -> dict:
        """The config as a plain dict (to record next to the weights)."""
        return asdict(self.config)
