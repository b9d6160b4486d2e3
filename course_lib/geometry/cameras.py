"""Pinhole cameras: intrinsics, look-at poses, orbit and drive trajectories (chapters 05-07).

Conventions used everywhere in the course (the same as gsplat and OpenCV):

* the world is **z-up** (the ground is the plane z = 0);
* a camera looks along its +z axis, +x points right in the image and +y points down;
* ``viewmat`` is the 4x4 world-to-camera matrix, ``K`` the 3x3 intrinsics, and pixel
  (row i, column j) has its centre at image coordinates (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Vec3 = tuple[float, float, float] | list[float] | torch.Tensor


def _as_vec3(value: Vec3, name: str) -> torch.Tensor:
    vec = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
    if vec.numel() != 3:
        raise ValueError(f"{name} must have 3 coordinates (x, y, z), got {vec.numel()}")
    if not torch.isfinite(vec).all():
        raise ValueError(f"{name}={vec.tolist()} has a non-finite coordinate (NaN or inf): the camera pose would be undefined. Pass finite numbers.")
    return vec


def intrinsics(fov_deg: float, width: int, height: int) -> torch.Tensor:
    r"""Pinhole intrinsics with a horizontal field of view ``fov_deg`` (chapter 05).

    .. math:: f = \frac{W/2}{\tan(\mathrm{fov}/2)}, \quad
              K = \begin{pmatrix} f & 0 & W/2 \\ 0 & f & H/2 \\ 0 & 0 & 1 \end{pmatrix}

    Square pixels; the principal point is the image centre. Returns (3, 3) float32.
    """
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg={fov_deg} must lie strictly between 0 and 180 degrees for a pinhole camera")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} must be positive")
    focal = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera: ``K`` (3, 3), world-to-camera ``viewmat`` (4, 4), image ``width`` x ``height`` (chapter 05).

    Construction checks the pose: non-finite entries or a rotation part that is not a rotation
    raise a ``ValueError`` that says so. Cameras compare by identity (``cams.index(cam)`` works;
    comparing their tensors field by field would be ambiguous).
    """

    K: torch.Tensor
    viewmat: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        K = torch.as_tensor(self.K, dtype=torch.float32)
        viewmat = torch.as_tensor(self.viewmat, dtype=torch.float32)
        if K.shape != (3, 3) or viewmat.shape != (4, 4):
            raise ValueError(f"Camera needs K of shape (3, 3) and viewmat of shape (4, 4), got {tuple(K.shape)} and {tuple(viewmat.shape)}")
        if not torch.isfinite(viewmat).all():
            raise ValueError(
                "camera pose (viewmat) has non-finite entries (NaN or inf); the camera is looking nowhere. "
                "Build it from finite eye/target positions, e.g. with look_at(eye, target)."
            )
        if not torch.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"camera intrinsics K must be finite with positive focal lengths, got {K.tolist()}")
        R = viewmat[:3, :3]
        if (R @ R.T - torch.eye(3)).abs().max() > 1e-3 or torch.det(R) < 0:
            raise ValueError("the rotation part of viewmat is not a rotation (R R^T != I or det < 0); build poses with look_at")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size {self.width}x{self.height} must be positive")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "viewmat", viewmat)

    @property
    def position(self) -> torch.Tensor:
        """Camera centre in world coordinates, (3,): :math:`-R^T t`."""
        R, t = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -R.T @ t

    def rays(self) -> tuple[torch.Tensor, torch.Tensor]:
        """World-space ray origins and unit directions through every pixel centre, each (H, W, 3)."""
        j, i = torch.meshgrid(torch.arange(self.width) + 0.5, torch.arange(self.height) + 0.5, indexing="xy")
        x = (j - self.K[0, 2]) / self.K[0, 0]
        y = (i - self.K[1, 2]) / self.K[1, 1]
        dirs_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # (H, W, 3)
        dirs = torch.nn.functional.normalize(dirs_cam, dim=-1) @ self.viewmat[:3, :3]  # R^T d
        origins = self.position.expand_as(dirs)
        return origins, dirs

    def z_per_unit_distance(self) -> torch.Tensor:
        """(H, W): camera-z depth per unit of distance along each pixel ray (depth = distance x this)."""
        j, i = torch.meshgrid(torch.arange(self.width) + 0.5, torch.arange(self.height) + 0.5, indexing="xy")
        x = (j - self.K[0, 2]) / self.K[0, 0]
        y = (i - self.K[1, 2]) / self.K[1, 1]
        return torch.rsqrt(x * x + y * y + 1.0)


def look_at(eye: Vec3, target: Vec3, up: Vec3 = (0.0, 0.0, 1.0)) -> torch.Tensor:
    """World-to-camera matrix (4, 4) of a camera at ``eye`` looking at ``target`` (chapter 05).

    The camera's +z axis points at the target, +x to the right, +y down (image rows).
    """
    eye_t, target_t, up_t = _as_vec3(eye, "eye"), _as_vec3(target, "target"), _as_vec3(up, "up")
    forward = target_t - eye_t
    if forward.norm() < 1e-9:
        raise ValueError(f"look_at: eye and target are the same point {eye_t.tolist()}; the camera is looking nowhere. Move the target away from the eye.")
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up_t)
    if right.norm() < 1e-6:
        raise ValueError(f"look_at: the view direction {forward.tolist()} is parallel to up={up_t.tolist()}; pass another `up` vector.")
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    R = torch.stack([right, down, forward])  # rows: camera axes in world coordinates
    viewmat = torch.eye(4)
    viewmat[:3, :3] = R
    viewmat[:3, 3] = -R @ eye_t
    return viewmat


def look_at_camera(eye: Vec3, target: Vec3, fov_deg: float, width: int, height: int, up: Vec3 = (0.0, 0.0, 1.0)) -> Camera:
    """A :class:`Camera` at ``eye`` looking at ``target`` with horizontal FoV ``fov_deg`` (chapter 05)."""
    return Camera(intrinsics(fov_deg, width, height), look_at(eye, target, up), width, height)


def orbit_cameras(
    center: Vec3, radius: float, height: float, num: int, fov_deg: float, size: int, start_deg: float = 0.0, arc_deg: float = 360.0
) -> list[Camera]:
    """``num`` cameras on a horizontal circle of ``radius`` at ``height`` above ``center``, all looking at it (chapter 05)."""
    c = _as_vec3(center, "center")
    cams = []
    for k in range(num):
        angle = math.radians(start_deg + arc_deg * k / num)
        eye = c + torch.tensor([radius * math.cos(angle), radius * math.sin(angle), height])
        cams.append(look_at_camera(eye, c, fov_deg, size, size))
    return cams


def drive_cameras(
    start: Vec3, direction: Vec3, step: float, num: int, fov_deg: float, width: int, height: int, look_ahead: float = 10.0, pitch_drop: float = 0.0
) -> list[Camera]:
    """Cameras driving in a straight line from ``start`` along ``direction``, ``step`` apart (chapter 07).

    Each looks ``look_ahead`` ahead along the road, ``pitch_drop`` lower than the camera height.
    """
    s, d = _as_vec3(start, "start"), _as_vec3(direction, "direction")
    if d.norm() < 1e-9:
        raise ValueError("drive_cameras: direction must be a non-zero vector")
    d = d / d.norm()
    cams = []
    for k in range(num):
        eye = s + d * step * k
        target = eye + d * look_ahead - torch.tensor([0.0, 0.0, pitch_drop])
        cams.append(look_at_camera(eye, target, fov_deg, width, height))
    return cams


def backproject(camera: Camera, depth: torch.Tensor) -> torch.Tensor:
    r"""World points (H, W, 3) of a camera-z ``depth`` map (H, W): :math:`X = R^\top (z K^{-1} [u, v, 1]^\top - t)` (chapter 06).

    Pixels with non-finite depth (the sky) give non-finite points; mask them with ``torch.isfinite``.
    """
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f"depth must be ({camera.height}, {camera.width}) for this camera, got {tuple(depth.shape)}")
    j, i = torch.meshgrid(torch.arange(camera.width) + 0.5, torch.arange(camera.height) + 0.5, indexing="xy")
    x = (j - camera.K[0, 2]) / camera.K[0, 0] * depth
    y = (i - camera.K[1, 2]) / camera.K[1, 1] * depth
    cam_points = torch.stack([x, y, depth], dim=-1)  # (H, W, 3)
    R, t = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    return (cam_points - t) @ R
