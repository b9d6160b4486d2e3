"""The issue's measured claims, re-measured by the suite: sparse-vs-dense speed and the 64 px multi-view fit.

The recorded numbers live in the docstring of :mod:`course_lib.benchmarks.splatting`; here the
thresholds are the acceptance ones, on CPU time with a single torch thread, so other work on the
shared 2 cores does not distort them (load inflates both sides of the speed ratio alike; the
recorded ratio is about 50x against the 10x asserted, the fit about 32 s CPU against 120 s).
"""

from __future__ import annotations

import pytest
import torch

from course_lib.benchmarks.splatting import rasterizer_speed
from course_lib.benchmarks.splat_fit import multiview_fit


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sparse_rasterizer_is_much_faster_than_the_dense_reference(one_thread):
    r = rasterizer_speed(num=5000, repeats_sparse=3, repeats_dense=1)
    print(f"sparse {r['sparse_cpu']:.3f} s CPU, dense {r['dense_cpu']:.2f} s CPU, speed-up {r['speedup_cpu']:.1f}x")
    assert r["speedup_cpu"] >= 10.0


def test_multiview_fit_reaches_25_db_on_held_out_views_within_2_minutes(one_thread):
    fit = multiview_fit(seed=0, steps=300)
    print(f"held-out PSNR {fit.mean_psnr:.2f} dB (per view {[round(p, 2) for p in fit.heldout_psnr]}), "
          f"{fit.seconds:.1f} s wall, {fit.cpu_seconds:.1f} s CPU")
    assert fit.mean_psnr >= 25.0
    assert fit.mean_psnr > fit.init_psnr + 5.0  # the fit, not the initialisation, gets it there
    assert fit.cpu_seconds < 120.0
