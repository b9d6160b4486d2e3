r"""EWA projection of 3D Gaussians to the image plane (Zwicker et al. 2001; 3DGS eq. 5), chapter 05.

A Gaussian with mean :math:`\mu` and covariance :math:`\Sigma` in the world becomes, in a
camera with rotation :math:`W` and translation :math:`t`, a 2D Gaussian with

.. math:: \mu' = \pi(W\mu + t), \qquad \Sigma' = J W \Sigma W^\top J^\top + 0.3\, I   \quad\text{(3DGS eq. 5)}

where :math:`J` is the Jacobian of the perspective projection :math:`\pi` at the camera-space
mean (the local affine approximation of EWA splatting) and the :math:`0.3\,I` term is the
low-pass filter that keeps every splat at least about one pixel wide. The rasterizer needs
the inverse :math:`\Sigma'^{-1}` (the *conic*) and a radius that bounds the splat.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.splatting.gaussians import check_scales

LOW_PASS = 0.3  # pixels^2 added to the 2D covariance (3DGS / EWA anti-aliasing)
RADIUS_SIGMAS = 3.33  # half-width of the bounding box in standard deviations; exp(-3.33^2/2) < 1/255


@dataclass
class Projected:
    """Per-Gaussian results of :func:`project_gaussians` for one camera (N Gaussians) (chapter 05)."""

    means2d: torch.Tensor  # (N, 2) pixel coordinates of the centres
    conics: torch.Tensor  # (N, 3) upper triangle (a, b, c) of the inverse 2D covariance
    depths: torch.Tensor  # (N,) camera-space z
    radii: torch.Tensor  # (N, 2) int: half-width/height of the bounding box in pixels; 0 = culled
    cov2d: torch.Tensor  # (N, 2, 2) 2D covariance including the low-pass term


def perspective_jacobian(means_cam: torch.Tensor, K: torch.Tensor, width: int, height: int) -> torch.Tensor:
    r"""Jacobian (N, 2, 3) of :math:`(u, v) = (f_x x/z + c_x, f_y y/z + c_y)` at camera-space points (N, 3) (chapter 05).

    .. math:: J = \begin{pmatrix} f_x/z & 0 & -f_x x/z^2 \\ 0 & f_y/z & -f_y y/z^2 \end{pmatrix}

    As in the 3DGS code, x/z and y/z are first clamped to 1.3 x the field of view, so that
    Gaussians far outside the image do not get huge, unstable footprints.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x, y, z = means_cam.unbind(-1)
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    x = z * torch.clamp(x / z, min=-(cx / fx + 0.3 * tan_x), max=(width - cx) / fx + 0.3 * tan_x)
    y = z * torch.clamp(y / z, min=-(cy / fy + 0.3 * tan_y), max=(height - cy) / fy + 0.3 * tan_y)
    zero = torch.zeros_like(z)
    return torch.stack([fx / z, zero, -fx * x / (z * z), zero, fy / z, -fy * y / (z * z)], dim=-1).reshape(-1, 2, 3)


def project_gaussians(
    means: torch.Tensor,
    covars: torch.Tensor,
    viewmat: torch.Tensor,
    K: torch.Tensor,
    width: int,
    height: int,
    near: float = 0.01,
    far: float = 1e10,
    low_pass: float = LOW_PASS,
) -> Projected:
    """Project N Gaussians (means (N, 3), covariances (N, 3, 3)) into one camera (EWA, 3DGS eq. 5), chapter 05.

    A Gaussian is culled (radius 0) when its depth is outside (near, far), its 2D covariance is
    degenerate, or its bounding box misses the image.
    """
    if not torch.isfinite(viewmat).all():
        raise ValueError("the camera's viewmat has NaN or inf entries; the camera is looking nowhere. Build poses with look_at.")
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    means_cam = means @ R.T + t  # (N, 3)
    covars_cam = R @ covars @ R.T  # (N, 3, 3)
    depths = means_cam[:, 2]
    # Gaussians at or behind the near plane are culled below; dividing by a safe z keeps their
    # (unused) footprints finite, so a Gaussian exactly in the camera plane cannot turn the
    # gradients of all the others into NaN (0 * inf) on the backward pass.
    z_safe = torch.where(depths > near, depths, torch.ones_like(depths))
    means_cam = torch.cat([means_cam[:, :2], z_safe[:, None]], dim=-1)
    J = perspective_jacobian(means_cam, K, width, height)  # (N, 2, 3)
    cov2d = J @ covars_cam @ J.transpose(-1, -2) + low_pass * torch.eye(2, dtype=means.dtype, device=means.device)  # (N, 2, 2)
    means2d = means_cam[:, :2] / z_safe[:, None] * torch.stack([K[0, 0], K[1, 1]]) + K[:2, 2]  # (N, 2)

    det = (cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]).clamp(min=1e-10)
    conics = torch.stack([cov2d[:, 1, 1] / det, -0.5 * (cov2d[:, 0, 1] + cov2d[:, 1, 0]) / det, cov2d[:, 0, 0] / det], dim=-1)
    radii = splat_radii(means2d, cov2d, depths, width, height, near, far)
    return Projected(means2d=means2d, conics=conics, depths=depths, radii=radii, cov2d=cov2d)


@torch.no_grad()
def splat_radii(means2d: torch.Tensor, cov2d: torch.Tensor, depths: torch.Tensor, width: int, height: int,
                near: float = 0.01, far: float = 1e10) -> torch.Tensor:
    """(N, 2) int half-widths of the splats' bounding boxes, ceil(3.33 sigma) per axis; 0 = culled (chapter 05).

    A splat is culled when its depth is outside (near, far), its 2D covariance is degenerate or not
    finite, or its box misses the image (the culling of 3DGS and gsplat).
    """
    det = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]
    sigma = torch.stack([cov2d[:, 0, 0], cov2d[:, 1, 1]], dim=-1).clamp(min=0).sqrt()
    radii = torch.ceil(RADIUS_SIGMAS * sigma)  # (N, 2)
    finite = torch.isfinite(radii).all(dim=-1) & torch.isfinite(means2d).all(dim=-1)
    valid = finite & (det > 0) & (depths > near) & (depths < far)
    inside = (
        (means2d[:, 0] + radii[:, 0] > 0) & (means2d[:, 0] - radii[:, 0] < width)
        & (means2d[:, 1] + radii[:, 1] > 0) & (means2d[:, 1] - radii[:, 1] < height)
    )
    return torch.where((valid & inside)[:, None], radii.nan_to_num(0.0, 0.0, 0.0), torch.zeros_like(radii)).int()


def project(gaussians, viewmat: torch.Tensor, K: torch.Tensor, width: int, height: int, near: float = 0.01, far: float = 1e10) -> Projected:
    """:func:`project_gaussians` for a :class:`~course_lib.splatting.gaussians.GaussianParams` (checks its scales first) (chapter 05)."""
    check_scales(gaussians.scales())
    return project_gaussians(gaussians.means, gaussians.covariances(), viewmat, K, width, height, near, far)
