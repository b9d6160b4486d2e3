"""The trainable parameters of a 3D Gaussian-splatting scene (3DGS, Kerbl et al. 2023, §4), chapter 05.

Each Gaussian stores unconstrained tensors that gradient descent may move anywhere:
means (N, 3), log-scales (N, 3) (scale = exp), quaternions (N, 4) (normalised when used),
opacity logits (N,) (opacity = sigmoid) and SH colour coefficients, sh0 (N, 3) and, at SH
degree 1, sh1 (N, 3, 3).
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.splatting.covariance import covariance_3d
from course_lib.splatting.sh import eval_sh, rgb_to_sh0

PARAM_NAMES = ("means", "log_scales", "quats", "opacity_logits", "sh0", "sh1")


class GaussianParams(nn.Module):
    """N Gaussians as :class:`torch.nn.Parameter` s (chapter 05). ``sh_degree`` is 0 or 1."""

    def __init__(
        self,
        means: torch.Tensor,
        log_scales: torch.Tensor,
        quats: torch.Tensor,
        opacity_logits: torch.Tensor,
        sh0: torch.Tensor,
        sh1: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        N = means.shape[0]
        shapes = {"means": (N, 3), "log_scales": (N, 3), "quats": (N, 4), "opacity_logits": (N,), "sh0": (N, 3)}
        for name, tensor in zip(shapes, (means, log_scales, quats, opacity_logits, sh0)):
            if tuple(tensor.shape) != shapes[name]:
                raise ValueError(f"{name} must have shape {shapes[name]} for N={N} Gaussians, got {tuple(tensor.shape)}")
        if sh1 is not None and tuple(sh1.shape) != (N, 3, 3):
            raise ValueError(f"sh1 must have shape {(N, 3, 3)}, got {tuple(sh1.shape)}")
        self.means = nn.Parameter(means.float().clone())
        self.log_scales = nn.Parameter(log_scales.float().clone())
        self.quats = nn.Parameter(quats.float().clone())
        self.opacity_logits = nn.Parameter(opacity_logits.float().clone())
        self.sh0 = nn.Parameter(sh0.float().clone())
        self.sh1 = nn.Parameter(sh1.float().clone()) if sh1 is not None else None
        check_scales(self.scales())

    @classmethod
    def from_tensors(
        cls, means: torch.Tensor, scales: torch.Tensor, quats: torch.Tensor, opacities: torch.Tensor, colors: torch.Tensor, sh_degree: int = 0
    ) -> "GaussianParams":
        """Build from activated values: scales > 0, opacities in (0, 1), colours in [0, 1]."""
        check_scales(scales)
        if sh_degree not in (0, 1):
            raise ValueError(f"sh_degree must be 0 or 1, got {sh_degree}")
        opacities = opacities.clamp(1e-6, 1 - 1e-6)
        sh1 = torch.zeros(means.shape[0], 3, 3, device=means.device) if sh_degree == 1 else None
        return cls(means, scales.log(), quats, torch.logit(opacities), rgb_to_sh0(colors), sh1)

    @property
    def num(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        return 0 if self.sh1 is None else 1

    def scales(self) -> torch.Tensor:
        """(N, 3) positive scales, exp(log_scales)."""
        return self.log_scales.exp()

    def opacities(self) -> torch.Tensor:
        """(N,) opacities in (0, 1), sigmoid(opacity_logits)."""
        return torch.sigmoid(self.opacity_logits)

    def covariances(self) -> torch.Tensor:
        """(N, 3, 3) world-space covariances (3DGS eq. 6)."""
        return covariance_3d(self.quats, self.scales())

    def colors(self, camera_position: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3) colours seen from ``camera_position`` (needed at SH degree 1)."""
        dirs = None if camera_position is None else self.means - camera_position
        return eval_sh(self.sh0, self.sh1, dirs)


def check_scales(scales: torch.Tensor) -> None:
    """Raise a clear error for a Gaussian with a zero, negative or non-finite scale (its covariance would be singular) (chapter 05)."""
    bad = ~(torch.isfinite(scales) & (scales > 0))
    if bad.any():
        rows = bad.any(dim=-1).nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"{int(bad.any(dim=-1).sum())} Gaussian(s) have a zero, negative or non-finite scale (first: {rows}); "
            "a Gaussian needs three positive scales (its covariance would be singular). "
            "Use positive scales (e.g. the nearest-neighbour distance) or prune these Gaussians."
        )
