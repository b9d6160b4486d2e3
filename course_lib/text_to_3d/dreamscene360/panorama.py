r"""Text -> 360° panorama by MultiDiffusion with wrap-around windows (DreamScene360, arXiv 2404.06903, §3.1), chapter 05.

MultiDiffusion (Bar-Tal et al., 2023, Eq. 5) denoises a wide canvas by averaging, per pixel, the
noise that a model trained on small images predicts on overlapping windows. DreamScene360's
reference code (StitchDiffusion) adds a *stitch block* made of the canvas's rightmost and leftmost
columns, denoised twice per step, so the two ends of the equirectangular image agree. This course's
version treats the column index as periodic instead: windows that run past the right edge continue at
column 0 (:func:`~course_lib.diffusion.multidiffusion_eps` with ``circular=True``), so every column is
an interior column and no stitch block is needed.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_lib.diffusion.sampling import EpsFn, ddim_sample, ddim_timesteps, multidiffusion_eps

# fuse(eps_fn, x_t, t, window, stride) -> eps of the whole canvas: the circular MultiDiffusion step (or yours)
FuseFn = Callable[[EpsFn, torch.Tensor, torch.Tensor, int, int], torch.Tensor]


def circular_step(eps_fn: EpsFn, x_t: torch.Tensor, t: torch.Tensor, window: int, stride: int) -> torch.Tensor:
    """course_lib's wrap-around MultiDiffusion step, with the signature of :data:`FuseFn` (chapter 05)."""
    return multidiffusion_eps(eps_fn, x_t, t, window, stride, circular=True)


def seeded_noise(seeds: list[int], shape: tuple[int, ...]) -> torch.Tensor:
    """(B, *shape) standard normal noise, sample b drawn from its own generator seeded ``seeds[b]`` (chapter 05)."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def sample_panoramas(eps_fn: EpsFn, noise: torch.Tensor, steps: int, window: int | None = None, stride: int | None = None,
                     fuse: FuseFn = circular_step) -> torch.Tensor:
    """DDIM-sample panoramas (B, 3, H, W) from ``noise`` (chapter 05).

    With ``window=None`` the model sees the whole canvas at once ("plain" sampling: nothing ties
    column W-1 to column 0); otherwise each step's noise is ``fuse(eps_fn, x_t, t, window, stride)``.
    """
    if window is not None and stride is None:
        raise ValueError(f"window={window} needs a stride (the step between window starts, e.g. window // 2)")
    if window is not None and window > noise.shape[-1]:
        raise ValueError(f"window={window} is wider than the canvas ({noise.shape[-1]} columns)")
    fused = eps_fn if window is None else (lambda x, t: fuse(eps_fn, x, t, window, stride))
    return ddim_sample(fused, noise, ddim_timesteps(steps)).clamp(-1, 1)


def seam_errors(panoramas: torch.Tensor) -> torch.Tensor:
    """Per-panorama seam error (B,): mean |column W-1 - column 0| over the mean neighbouring-column difference inside (chapter 05).

    1 = the wrap-around seam is as smooth as any other column boundary (the per-image version of
    :func:`~course_lib.diffusion.seam_error`).
    """
    seam = (panoramas[..., -1] - panoramas[..., 0]).abs().mean(dim=(1, 2))
    inside = (panoramas[..., 1:] - panoramas[..., :-1]).abs().mean(dim=(1, 2, 3))
    return seam / inside
