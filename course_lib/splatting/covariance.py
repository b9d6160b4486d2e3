r"""3D covariance of a Gaussian from its rotation and scale (3DGS, Kerbl et al. 2023, §4, eq. 6), chapter 05."""

from __future__ import annotations

import torch


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    r"""Rotation matrices (..., 3, 3) from quaternions (..., 4) in (w, x, y, z) order, normalised first (chapter 05).

    .. math:: R = \begin{pmatrix} 1-2(y^2+z^2) & 2(xy-wz) & 2(xz+wy) \\ 2(xy+wz) & 1-2(x^2+z^2) & 2(yz-wx) \\
              2(xz-wy) & 2(yz+wx) & 1-2(x^2+y^2) \end{pmatrix}
    """
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    R = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1)
    return R.reshape(quats.shape[:-1] + (3, 3))


def covariance_3d(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    r"""3DGS eq. 6: :math:`\Sigma = R S S^\top R^\top` with :math:`S = \mathrm{diag}(s)`; (N, 4), (N, 3) -> (N, 3, 3) (chapter 05).

    Built this way :math:`\Sigma` stays symmetric positive definite while gradient descent moves
    the quaternion and the scales freely (3DGS §4).
    """
    M = quat_to_rotmat(quats) * scales[..., None, :]  # R S, (N, 3, 3)
    return M @ M.transpose(-1, -2)
