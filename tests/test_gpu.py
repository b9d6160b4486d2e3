"""What only a GPU shows (marker ``gpu``; skipped with a reason where no CUDA GPU is visible):
gsplat's CUDA rasterizer against the course's own, and the reduced-scale pieces giving the CPU's numbers on CUDA.

Run on a GPU machine with ``python -m pytest -m gpu -v``.
"""

from __future__ import annotations

import pytest
import torch

from course_lib.geometry import look_at_camera
from course_lib.splatting import GaussianParams, gaussians_from_points, render

pytestmark = pytest.mark.gpu


def _gaussians(num: int, seed: int, device: str) -> GaussianParams:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(num, 3, generator=g) * torch.tensor([1.5, 1.5, 0.7])
    return gaussians_from_points(means, torch.rand(num, 3, generator=g), opacity=0.5).to(device)


@pytest.mark.parametrize("seed", [0, 1])
def test_gsplat_cuda_rasterizer_matches_ours(seed):
    gaussians = _gaussians(3000, seed, "cuda")
    camera = look_at_camera((0.5, -6.0, 1.5), (0.0, 0.0, 0.0), 60.0, 64, 48)
    ours = render(gaussians, camera, backend="torch")
    theirs = render(gaussians, camera, backend="gsplat")
    assert theirs.backend == "gsplat", "gsplat's CUDA kernels did not run"
    assert (ours.rgb - theirs.rgb).abs().max() < 2e-2
    assert (ours.alpha - theirs.alpha).abs().max() < 2e-2
    covered = ours.alpha > 0.5
    assert ((ours.depth - theirs.depth)[covered].abs() / ours.depth[covered]).max() < 2e-2


def test_our_rasterizer_gives_the_cpu_image_on_cuda():
    camera = look_at_camera((0.5, -6.0, 1.5), (0.0, 0.0, 0.0), 60.0, 64, 48)
    cpu = render(_gaussians(3000, 0, "cpu"), camera, backend="torch")
    cuda = render(_gaussians(3000, 0, "cuda"), camera, backend="torch")
    assert torch.allclose(cpu.rgb, cuda.rgb.cpu(), atol=1e-4)


def test_shipped_prior_samples_alike_on_cpu_and_cuda():
    from course_lib.diffusion import ddim_sample, ddim_timesteps
    from course_lib.priors import load_prior, text_eps_fn

    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    prompts = ["two red houses in a park", "two blue cars in a park"]
    samples = {}
    for device in ("cpu", "cuda"):
        prior = load_prior("prior_text2image").to(device)
        eps = text_eps_fn(prior, prompts, 3.0, torch.zeros(2, 4, 32, 32, device=device))
        samples[device] = ddim_sample(eps, noise.to(device), ddim_timesteps(10)).cpu()
    assert (samples["cpu"] - samples["cuda"]).abs().max() < 1e-2
