"""3D Gaussian splatting from scratch (Kerbl et al. 2023), chapter 05; reused by chapters 06 and 07.

Parameters (:class:`GaussianParams`), EWA projection (:func:`project_gaussians`), a sparse
differentiable rasterizer (:func:`rasterize`) with a dense reference (:func:`rasterize_dense`),
:func:`render` with a ``backend`` switch (ours or gsplat's CUDA kernels), densification,
initialisation from a point cloud and a training helper with L1 + D-SSIM.
"""

from course_lib.splatting.covariance import covariance_3d, quat_to_rotmat
from course_lib.splatting.densify import DensifyConfig, Densifier, reset_opacity
from course_lib.splatting.gaussians import GaussianParams, check_scales
from course_lib.splatting.init_points import gaussians_from_points, nearest_neighbour_distance
from course_lib.splatting.losses import l1_dssim_loss, psnr, ssim, ssim_map
from course_lib.splatting.projection import Projected, perspective_jacobian, project, project_gaussians, splat_radii
from course_lib.splatting.rasterize import rasterize
from course_lib.splatting.rasterize_dense import rasterize_dense
from course_lib.splatting.renderer import RenderOutput, render
from course_lib.splatting.sh import eval_sh, rgb_to_sh0
from course_lib.splatting.training import FitResult, fit_gaussians, make_optimizer

__all__ = [
    "DensifyConfig", "Densifier", "FitResult", "GaussianParams", "Projected", "RenderOutput", "check_scales",
    "covariance_3d", "eval_sh", "fit_gaussians", "gaussians_from_points", "l1_dssim_loss", "make_optimizer",
    "nearest_neighbour_distance", "perspective_jacobian", "project", "project_gaussians", "psnr", "quat_to_rotmat",
    "rasterize", "rasterize_dense", "render", "reset_opacity", "rgb_to_sh0", "splat_radii", "ssim", "ssim_map",
]
