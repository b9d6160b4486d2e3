"""Render the Gaussians with one extra channel: how much of each pixel the occlusion volume makes (chapter 06).

RealmDreamer inpaints where the occlusion volume is visible from the sampled pose. Rendering a per-Gaussian
flag (1 for the grey occlusion-volume Gaussians, 0 for the lifted points) as a fourth colour channel gives
that mask in the same pass as the image, with chapter 05's projection and rasterizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.geometry import Camera
from course_lib.splatting import GaussianParams, project, rasterize


@dataclass
class LayeredRender:
    """``rgb`` (H, W, 3), ``depth`` (H, W) (expected camera-z over the opaque part), ``alpha`` (H, W), and
    ``unknown`` (H, W): the share of the pixel's opacity that comes from occlusion-volume Gaussians (chapter 06)."""

    rgb: torch.Tensor
    depth: torch.Tensor
    alpha: torch.Tensor
    unknown: torch.Tensor


def render_layers(gaussians: GaussianParams, unknown: torch.Tensor, camera: Camera, background: torch.Tensor) -> LayeredRender:
    """Render ``gaussians`` with their ``unknown`` flags (N,) (1 = occlusion volume) over ``background`` (3,) (chapter 06)."""
    if unknown.shape != (gaussians.num,):
        raise ValueError(f"unknown must hold one flag per Gaussian, shape ({gaussians.num},), got {tuple(unknown.shape)}")
    proj = project(gaussians, camera.viewmat, camera.K, camera.width, camera.height)
    colors = torch.cat([gaussians.colors(camera.position), unknown.float()[:, None]], dim=1)
    out = rasterize(proj.means2d, proj.conics, colors, gaussians.opacities(), proj.depths, proj.radii, camera.width, camera.height,
                    torch.cat([torch.as_tensor(background, dtype=torch.float32), torch.zeros(1)]))
    alpha = out["alpha"]
    return LayeredRender(out["rgb"][..., :3], out["depth"], alpha, out["rgb"][..., 3] / alpha.clamp(min=1e-6))
