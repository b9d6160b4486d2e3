"""Infini-attention (Munkhdalai et al., 2024, arXiv 2404.07143, §3), chapter 01.

One layer, per head, processes a segment of N tokens: a causal dot-product attention
inside the segment (the local path) and a compressive memory ``M`` with normaliser ``z``
that carries everything before the segment (the memory path), mixed by a learned gate.
The state ``(M, z)`` has a fixed size, whatever the length of the stream.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.attention.mha import MultiHeadAttention
from course_lib.attention.sdpa import scaled_dot_product_attention

MEMORY_RULES = ("linear", "delta", "off")


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\sigma(x) = \mathrm{ELU}(x) + 1`, the positive feature map of the memory path (2404.07143, §3.1.2).

    Computed as :math:`x + 1` for :math:`x > 0` and :math:`e^x` otherwise (the same function):
    ``F.elu(x) + 1`` rounds :math:`e^x - 1 + 1` near 1 and loses every value below about 6e-8,
    which is where a well-trained model puts the keys of the tokens it wants to forget.
    """
    return torch.where(x > 0, x + 1.0, torch.exp(torch.clamp(x, max=0.0)))


def _safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, and 0 where den == 0 (the empty memory M_0 = z_0 = 0 gives 0/0: we define it as 0)."""
    nonzero = den != 0
    return torch.where(nonzero, num / torch.where(nonzero, den, torch.ones_like(den)), torch.zeros_like(num))


def memory_retrieve(sigma_q: torch.Tensor, M: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r"""Memory retrieval (2404.07143, eq. 3).

    .. math:: A_{mem} = \frac{\sigma(Q) M_{s-1}}{\sigma(Q) z_{s-1}}

    sigma_q: (B, H, N, d_k), M: (B, H, d_k, d_v), z: (B, H, d_k) -> (B, H, N, d_v).
    The first segment has an empty memory (0/0); we return zeros there.
    """
    num = sigma_q @ M  # (B, H, N, d_v)
    den = (sigma_q @ z.unsqueeze(-1))  # (B, H, N, 1)
    return _safe_divide(num, den)


def memory_update_linear(
    sigma_k: torch.Tensor, v: torch.Tensor, M: torch.Tensor, z: torch.Tensor, repeats: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Linear memory update (2404.07143, eq. 4).

    .. math:: M_s = M_{s-1} + \sigma(K)^\top V, \qquad z_s = z_{s-1} + \sum_{t=1}^{N} \sigma(K_t)

    sigma_k: (B, H, N, d_k), v: (B, H, N, d_v). Accumulates in fp32 (bf16 states overflow).
    ``repeats`` (B, N), training only: token t is written as if it came ``repeats[t]`` times in a row
    (see :mod:`course_lib.longctx.passkey_training`).
    """
    sigma_k, v = sigma_k.float(), v.float()
    if repeats is not None:
        sigma_k = sigma_k * repeats[:, None, :, None]
    M_new = M + sigma_k.transpose(-2, -1) @ v  # (B, H, d_k, d_v)
    z_new = z + sigma_k.sum(dim=-2)  # (B, H, d_k)
    return M_new, z_new


def memory_update_delta(
    sigma_k: torch.Tensor, v: torch.Tensor, M: torch.Tensor, z: torch.Tensor, repeats: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Linear + Delta memory update (2404.07143, eq. 5).

    .. math:: M_s = M_{s-1} + \sigma(K)^\top \left(V - \frac{\sigma(K) M_{s-1}}{\sigma(K) z_{s-1}}\right)

    Only what the memory does not already return for these keys is written; z is updated as
    in the linear rule (eq. 4). With ``repeats`` (training only), a token repeated r times adds
    r times to z and is written to M once (a heuristic, see :mod:`course_lib.longctx.passkey_training`).
    """
    sigma_k, v = sigma_k.float(), v.float()
    already = memory_retrieve(sigma_k, M, z)  # (B, H, N, d_v)
    M_new = M + sigma_k.transpose(-2, -1) @ (v - already)
    if repeats is not None:
        sigma_k = sigma_k * repeats[:, None, :, None]
    z_new = z + sigma_k.sum(dim=-2)
    return M_new, z_new


def gate_mix(a_mem: torch.Tensor, a_dot: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    r"""Gated mix of memory and local attention (2404.07143, eq. 6), one scalar :math:`\beta` per head.

    .. math:: A = \mathrm{sigmoid}(\beta) \odot A_{mem} + (1 - \mathrm{sigmoid}(\beta)) \odot A_{dot}

    a_mem, a_dot: (B, H, N, d_v); beta: (H,).
    """
    g = torch.sigmoid(beta).view(1, -1, 1, 1).to(a_dot.dtype)
    return g * a_mem.to(a_dot.dtype) + (1 - g) * a_dot


def _no_autocast(x: torch.Tensor) -> contextlib.AbstractContextManager:
    """Switch autocast off on x's device (it would run the memory's matmuls in bf16/fp16)."""
    if x.device.type in ("cpu", "cuda"):
        return torch.autocast(device_type=x.device.type, enabled=False)
    return contextlib.nullcontext()


@dataclass
class MemoryState:
    """The streaming state of one Infini-attention layer: memory M (B, H, d_k, d_v) and normaliser z (B, H, d_k)."""

    M: torch.Tensor
    z: torch.Tensor

    @classmethod
    def zeros(cls, batch: int, num_heads: int, d_k: int, d_v: int, device: torch.device | str = "cpu") -> "MemoryState":
        return cls(
            M=torch.zeros(batch, num_heads, d_k, d_v, device=device, dtype=torch.float32),
            z=torch.zeros(batch, num_heads, d_k, device=device, dtype=torch.float32),
        )

    @property
    def nbytes(self) -> int:
        return self.M.nbytes + self.z.nbytes


class InfiniAttention(MultiHeadAttention):
    r"""An Infini-attention layer over one segment (2404.07143, §3.1, Fig. 1).

    Shared projections Q, K, V feed both paths; the memory path reads :math:`M_{s-1}`
    (eq. 3) before it is updated (eq. 4 or 5) and handed on. ``memory="off"`` is the
    local-only baseline (the gate is not used). No position encoding touches the memory
    path's Q and K (the local path of this course's tiny model uses none either).
    """

    def __init__(self, d_model: int, num_heads: int, memory: str = "delta") -> None:
        super().__init__(d_model, num_heads, causal=True)
        if memory not in MEMORY_RULES:
            raise ValueError(f"memory={memory!r}: choose one of {MEMORY_RULES}")
        self.memory = memory
        self.beta = nn.Parameter(torch.zeros(num_heads))  # gate logits, sigmoid(0) = 0.5

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> MemoryState:
        return MemoryState.zeros(batch, self.num_heads, self.d_head, self.d_head, device)

    def forward(
        self, x: torch.Tensor, state: MemoryState | None = None, repeats: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, MemoryState | None]:
        """x: one segment (B, N, D); state: the memory after the previous segments -> (out, new state).

        ``repeats`` (B, N) is the training-time write weighting of the passkey recipe (None at inference)."""
        q, k, v = self.split_heads(x)  # (B, H, N, d_head)
        a_dot = scaled_dot_product_attention(q, k, v, causal=True)
        if self.memory == "off":
            return self.merge_heads(a_dot), state
        if state is None:
            state = self.initial_state(x.shape[0], x.device)
        update = memory_update_delta if self.memory == "delta" else memory_update_linear
        with _no_autocast(x):  # the memory path runs in float32, even in a mixed-precision run
            sigma_q, sigma_k = elu_plus_one(q.float()), elu_plus_one(k.float())
            a_mem = memory_retrieve(sigma_q, state.M, state.z)  # read M_{s-1} first
            M, z = update(sigma_k, v.float(), state.M, state.z, repeats)  # then write M_s
        return self.merge_heads(gate_mix(a_mem, a_dot, self.beta)), MemoryState(M, z)
