"""Rotary position embedding (RoPE) over a 1D token sequence (chapter 03)."""

from __future__ import annotations

import torch


def rope_angles(num_positions: int, head_dim: int, theta: float = 10000.0) -> torch.Tensor:
    r"""Rotation angles :math:`m\,\theta_i` with :math:`\theta_i = \theta^{-2i/d}`, shape (num_positions, head_dim/2).

    RoFormer (Su et al. 2021, eq. 15), used by LLaMA and by iLLaMA over the flattened patch
    sequence (2404.06773, §3.1, Table 17 '+ RoPE').
    """
    if head_dim % 2:
        raise ValueError(f"RoPE rotates pairs of features: head_dim={head_dim} must be even")
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (d/2,)
    positions = torch.arange(num_positions, dtype=torch.float32)  # (N,)
    return torch.outer(positions, inv_freq)  # (N, d/2)


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    r"""Rotate each adjacent feature pair :math:`(x_{2i}, x_{2i+1})` of token m by the angle :math:`m\theta_i`.

    .. math:: \begin{pmatrix} x'_{2i} \\ x'_{2i+1} \end{pmatrix} =
              \begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i \end{pmatrix}
              \begin{pmatrix} x_{2i} \\ x_{2i+1} \end{pmatrix}

    (RoFormer eq. 34; LLaMA's complex-number form). x: (..., N, d) with tokens on dim -2,
    angles: (N, d/2) from :func:`rope_angles`. Then :math:`\langle q'_m, k'_n \rangle` depends on m - n only.
    """
    N, d = x.shape[-2], x.shape[-1]
    if angles.shape != (N, d // 2) or d % 2:
        raise ValueError(f"apply_rope: x has {N} tokens of {d} features, so angles must be ({N}, {d // 2}); got {tuple(angles.shape)}")
    pairs = x.float().reshape(*x.shape[:-1], d // 2, 2)  # (..., N, d/2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = angles.cos().to(x.device), angles.sin().to(x.device)  # (N, d/2)
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)  # (..., N, d/2, 2)
    return rotated.flatten(-2).type_as(x)  # (..., N, d)
