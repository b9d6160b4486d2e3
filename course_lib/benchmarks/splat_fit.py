"""The worked multi-view demonstration: fit Gaussians to renders of a procedural scene, score held-out views (chapter 05).

Training and held-out cameras orbit :func:`~course_lib.scenes.object_scene` at 64 px; the
Gaussians start from the true depth of the training views lifted to a coloured point cloud
(chapter 05 replaces it with estimated depth), are fitted with 3DGS eq. 7, and are scored by
PSNR against the exact renders of views they never saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from course_lib.geometry import Camera, backproject, look_at_camera
from course_lib.scenes import object_scene, render_many
from course_lib.splatting.densify import Densifier, DensifyConfig
from course_lib.splatting.init_points import gaussians_from_points
from course_lib.splatting.losses import psnr
from course_lib.splatting.renderer import render
from course_lib.splatting.training import fit_gaussians


@dataclass
class MultiViewFit:
    """Outcome of :func:`multiview_fit`: held-out PSNR per view and its mean, counts and times (chapter 05)."""

    heldout_psnr: list[float]
    mean_psnr: float
    init_psnr: float
    num_gaussians: int
    steps: int
    seconds: float
    cpu_seconds: float


def ring_cameras(num: int, radius: float, height: float, size: int, offset_deg: float = 0.0, fov_deg: float = 50.0) -> list[Camera]:
    """``num`` cameras evenly spaced on a circle around the origin, looking at (0, 0, 0.5) (chapter 05)."""
    import math

    cams = []
    for k in range(num):
        a = math.radians(offset_deg + 360.0 * k / num)
        cams.append(look_at_camera((radius * math.cos(a), radius * math.sin(a), height), (0.0, 0.0, 0.5), fov_deg, size, size))
    return cams


def multiview_fit(
    seed: int = 0, size: int = 64, train_views: int = 24, heldout_views: int = 6, max_points: int = 6000, steps: int = 600, densify: bool = False
) -> MultiViewFit:
    """Fit and score (chapter 05). Held-out cameras sit halfway between training cameras, a little higher."""
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    scene = object_scene(seed)
    background = torch.tensor(scene.sky_color)
    train = ring_cameras(train_views // 2, 5.0, 2.5, size) + ring_cameras(train_views - train_views // 2, 4.5, 4.0, size, offset_deg=15.0)
    heldout = ring_cameras(heldout_views, 4.8, 3.2, size, offset_deg=180.0 / heldout_views + 7.0)
    truth = render_many(scene, train, supersample=3)
    truth_heldout = render_many(scene, heldout, supersample=3)["rgb"]

    points, colors = [], []
    for k, cam in enumerate(train):
        hit = truth["semantic"][k] > 0
        points.append(backproject(cam, truth["depth"][k])[hit])
        colors.append(truth["rgb"][k][hit])
    points, colors = torch.cat(points), torch.cat(colors)
    pick = torch.randperm(points.shape[0])[:max_points]
    gaussians = gaussians_from_points(points[pick], colors[pick], opacity=0.5)

    def score() -> list[float]:
        with torch.no_grad():
            return [psnr(render(gaussians, c, background, backend="torch").rgb, t) for c, t in zip(heldout, truth_heldout)]

    init_psnr = sum(score()) / heldout_views
    densifier = Densifier(DensifyConfig(start=100, stop=steps // 2, every=100, reset_every=10**9), scene_extent=3.0, seed=seed) if densify else None
    fit_gaussians(
        gaussians, train, truth["rgb"], steps, background,
        lrs={"means": 1.6e-3, "log_scales": 1e-2, "opacity_logits": 5e-2, "sh0": 1e-2, "quats": 2e-3},
        scene_extent=3.0, densifier=densifier, seed=seed, backend="torch",
    )
    per_view = score()
    return MultiViewFit(
        heldout_psnr=per_view, mean_psnr=sum(per_view) / len(per_view), init_psnr=init_psnr, num_gaussians=gaussians.num, steps=steps,
        seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start,
    )
