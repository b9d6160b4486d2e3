"""Render a set of Gaussians from a camera, with a backend switch: ours (PyTorch) or gsplat's CUDA kernels (chapter 05).

``backend="torch"`` runs :func:`~course_lib.splatting.projection.project` and the sparse
:func:`~course_lib.splatting.rasterize.rasterize` (CPU or GPU). ``backend="gsplat"`` calls
``gsplat.rasterization`` (3DGS with the same conventions) and needs CUDA; when it cannot run
(no GPU, or its kernels fail to compile) the render falls back to ours and warns once.
``backend="auto"`` (the default) uses gsplat for CUDA tensors and ours otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from course_lib.geometry.cameras import Camera
from course_lib.splatting.gaussians import GaussianParams, check_scales
from course_lib.splatting.projection import Projected, project
from course_lib.splatting.rasterize import rasterize
from course_lib.splatting.rasterize_dense import rasterize_dense

BACKENDS = ("auto", "torch", "gsplat", "dense")
_warned_fallback = False


@dataclass
class RenderOutput:
    """``rgb`` (H, W, 3), expected ``depth`` (H, W), ``alpha`` (H, W); ``info`` holds the projection (chapter 05)
    (``means2d`` with its gradient retained, ``radii``, ...) for densification, and ``backend`` the one that ran."""

    rgb: torch.Tensor
    depth: torch.Tensor
    alpha: torch.Tensor
    backend: str
    info: dict = field(default_factory=dict)


class GsplatUnavailable(RuntimeError):
    """gsplat's CUDA rasterizer cannot run here (chapter 05)."""


def _warn_fallback(reason: str) -> None:
    global _warned_fallback
    if not _warned_fallback:
        warnings.warn(
            f"backend='gsplat' cannot run here ({reason}); rendering with course_lib's PyTorch rasterizer instead. "
            "It gives the same images, only slower. Pass backend='torch' to silence this warning.",
            RuntimeWarning,
            stacklevel=3,
        )
        _warned_fallback = True


def _render_gsplat(gaussians: GaussianParams, camera: Camera, background: torch.Tensor, near: float) -> RenderOutput:
    if not gaussians.means.is_cuda:
        raise GsplatUnavailable("gsplat's rasterization needs CUDA tensors and these Gaussians are on the CPU")
    try:
        from gsplat import rasterization

        sh = gaussians.sh0[:, None, :] if gaussians.sh1 is None else torch.cat([gaussians.sh0[:, None], gaussians.sh1], dim=1)
        device = gaussians.means.device
        rgbd, alpha, info = rasterization(
            gaussians.means, torch.nn.functional.normalize(gaussians.quats, dim=-1), gaussians.scales(), gaussians.opacities(), sh,
            camera.viewmat[None].to(device), camera.K[None].to(device), camera.width, camera.height,
            near_plane=near, sh_degree=gaussians.sh_degree, render_mode="RGB+ED", backgrounds=None,
            packed=False,  # per-Gaussian (1, N, ...) info, as the Densifier expects (gsplat's default packs the visible ones)
        )
    except Exception as error:  # compile errors of the CUDA extension surface here
        raise GsplatUnavailable(f"{type(error).__name__}: {error}") from error
    alpha = alpha[0, ..., 0]
    rgb = rgbd[0, ..., :3] + (1.0 - alpha)[..., None] * background.to(rgbd)
    if info["means2d"].requires_grad:
        info["means2d"].retain_grad()  # (1, N, 2): the Densifier reads its gradient after backward
    ours = {"means2d": info["means2d"], "radii": info["radii"], "depths": info["depths"], "width": camera.width, "height": camera.height}
    return RenderOutput(rgb=rgb, depth=rgbd[0, ..., 3], alpha=alpha, backend="gsplat", info=ours)


def render(
    gaussians: GaussianParams, camera: Camera, background: torch.Tensor | None = None, backend: str = "auto", near: float = 0.01
) -> RenderOutput:
    """Render ``gaussians`` seen by ``camera`` over ``background`` (3,) (default black) (3DGS §4-6), chapter 05.

    Gradients reach every Gaussian parameter. ``backend`` is one of ``"auto"``, ``"torch"``,
    ``"gsplat"`` or ``"dense"`` (the slow per-pixel reference, for tests).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {BACKENDS}")
    if gaussians.num == 0:
        raise ValueError("there are no Gaussians to render (N = 0); initialise some, e.g. with gaussians_from_points, or prune less")
    check_scales(gaussians.scales())
    device = gaussians.means.device
    background = torch.zeros(3, device=device) if background is None else torch.as_tensor(background, dtype=torch.float32, device=device)
    if backend == "gsplat" or (backend == "auto" and gaussians.means.is_cuda):
        try:
            return _render_gsplat(gaussians, camera, background, near)
        except GsplatUnavailable as error:
            _warn_fallback(str(error))
    viewmat, K = camera.viewmat.to(device), camera.K.to(device)
    proj: Projected = project(gaussians, viewmat, K, camera.width, camera.height, near=near)
    if proj.means2d.requires_grad:
        proj.means2d.retain_grad()
    rasterizer = rasterize_dense if backend == "dense" else rasterize
    out = rasterizer(
        proj.means2d, proj.conics, gaussians.colors(camera.position.to(device)), gaussians.opacities(), proj.depths, proj.radii,
        camera.width, camera.height, background,
    )
    info = {"means2d": proj.means2d, "radii": proj.radii, "depths": proj.depths, "width": camera.width, "height": camera.height}
    return RenderOutput(rgb=out["rgb"], depth=out["depth"], alpha=out["alpha"], backend="dense" if backend == "dense" else "torch", info=info)
