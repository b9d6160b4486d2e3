"""Benchmarks of chapter 05's splatting and scene code: ``python -m course_lib.benchmarks.splatting``.

1. forward + backward of the sparse rasterizer vs the dense per-pixel reference, 5,000
   Gaussians at 64 x 64 (issue acceptance: at least 10x faster);
2. the multi-view fit of :func:`~course_lib.benchmarks.splat_fit.multiview_fit` at 64 px: held-out
   PSNR (acceptance: at least 25 dB within 2 minutes);
3. ray-casting throughput of :mod:`course_lib.scenes` (images per minute: an outdoor scene at 64 x 64 and
   32 x 32, a 71-primitive street at 64 x 64).

Times are wall-clock and process CPU seconds with ``torch.set_num_threads(threads)``; the
course machine has 2 cores shared with other work, so CPU time is the steadier number.

Output of ``python -m course_lib.benchmarks.splatting`` on the course machine (2 CPU cores shared with two other jobs, load average about 4; 1 torch thread; whole run 79 s user + 11 s sys, 135 s wall):

.. code-block:: text

    torch 2.14.1+cu130, 1 thread(s)
    rasterizer fwd+bwd, 5000 Gaussians, 64x64: sparse 119 ms wall / 77 ms CPU, dense 6.02 s wall / 4.00 s CPU -> 51x (wall), 52x (CPU)
    multi-view fit, 64 px, 300 steps, densify=False, 6000 Gaussians at the end: held-out PSNR 31.28 dB (min 29.64, init 17.55) in 48.4 s wall / 32.2 s CPU
    multi-view fit, 64 px, 300 steps, densify=True, 9124 Gaussians at the end: held-out PSNR 31.89 dB (min 29.93, init 17.55) in 55.0 s wall / 36.5 s CPU
    ray caster 64x64, outdoor scene (5 primitives): 300 images in 2.5 s wall / 1.6 s CPU -> 7330 images/min (wall), 11140 (CPU)
    ray caster 32x32, outdoor scene (5 primitives): 300 images in 0.7 s wall / 0.5 s CPU -> 25437 images/min (wall), 38453 (CPU)
    ray caster 64x64, street scene (71 primitives): 300 images in 10.6 s wall / 7.0 s CPU -> 1702 images/min (wall), 2574 (CPU)
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch

from course_lib.geometry import drive_cameras, look_at_camera
from course_lib.scenes import outdoor_scene, render_many, street_scene
from course_lib.benchmarks.splat_fit import multiview_fit
from course_lib.splatting.gaussians import GaussianParams
from course_lib.splatting.renderer import render


@dataclass
class Timing:
    """Median wall and CPU seconds of a repeated call (chapter 05)."""

    wall: float
    cpu: float


def time_call(fn, repeats: int, warmup: bool = True) -> Timing:
    """Median wall-clock and process-CPU seconds of ``fn()`` over ``repeats`` runs, after one warm-up run if ``warmup`` (chapter 05)."""
    if warmup:
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return Timing(statistics.median(walls), statistics.median(cpus))


def benchmark_gaussians(num: int = 5000, seed: int = 0) -> tuple[GaussianParams, object]:
    """``num`` random Gaussians filling a 64 x 64 view: a unit cloud seen from 4 units with a 60° FoV (splats a few px wide) (chapter 05)."""
    gen = torch.Generator().manual_seed(seed)
    g = GaussianParams.from_tensors(
        torch.randn(num, 3, generator=gen), torch.rand(num, 3, generator=gen) * 0.06 + 0.02, torch.randn(num, 4, generator=gen),
        torch.rand(num, generator=gen) * 0.9 + 0.05, torch.rand(num, 3, generator=gen),
    )
    return g, look_at_camera((0.0, -4.0, 1.0), (0.0, 0.0, 0.0), 60.0, 64, 64)


def rasterizer_speed(num: int = 5000, repeats_sparse: int = 5, repeats_dense: int = 2) -> dict[str, float]:
    """Forward + backward seconds of the sparse (``torch``) and dense backends on the same Gaussians and camera (chapter 05)."""
    g, cam = benchmark_gaussians(num)
    background = torch.ones(3)

    def step(backend: str):
        def run():
            g.zero_grad()
            out = render(g, cam, background, backend=backend)
            (out.rgb.sum() + out.depth.sum() + out.alpha.sum()).backward()
        return run

    sparse = time_call(step("torch"), repeats_sparse)
    dense = time_call(step("dense"), repeats_dense, warmup=False)  # seconds per call: a warm-up would change nothing
    return {"sparse_wall": sparse.wall, "sparse_cpu": sparse.cpu, "dense_wall": dense.wall, "dense_cpu": dense.cpu,
            "speedup_wall": dense.wall / sparse.wall, "speedup_cpu": dense.cpu / max(sparse.cpu, 1e-9)}


def scene_throughput(num_images: int = 300, size: int = 64, street: bool = False) -> dict[str, float]:
    """Images per minute of the ray caster (one batched call) on an outdoor scene, or on a street (71 primitives) (chapter 05)."""
    if street:
        scene, cams = street_scene(0), drive_cameras((0.0, 0.0, 1.6), (1.0, 0.0, 0.0), 0.1, num_images, 70.0, size, size)
    else:
        scene = outdoor_scene(0)
        cams = [look_at_camera((0.1 * k % 2.0 - 1.0, -1.0, 1.5), (0.0, 6.0, 0.5), 60.0, size, size) for k in range(num_images)]
    w, c = time.perf_counter(), time.process_time()
    render_many(scene, cams)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    return {"images": num_images, "size": size, "primitives": len(scene.primitives), "wall": wall, "cpu": cpu, "per_minute_wall": 60 * num_images / wall, "per_minute_cpu": 60 * num_images / cpu}


def main(argv: list[str] | None = None) -> None:
    """Run the three benchmarks and print one line each (chapter 05)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady on a shared machine)")
    parser.add_argument("--fit-steps", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")

    r = rasterizer_speed()
    print(f"rasterizer fwd+bwd, 5000 Gaussians, 64x64: sparse {r['sparse_wall'] * 1e3:.0f} ms wall / {r['sparse_cpu'] * 1e3:.0f} ms CPU, "
          f"dense {r['dense_wall']:.2f} s wall / {r['dense_cpu']:.2f} s CPU -> {r['speedup_wall']:.0f}x (wall), {r['speedup_cpu']:.0f}x (CPU)")

    for densify in (False, True):
        fit = multiview_fit(steps=args.fit_steps, densify=densify)
        print(f"multi-view fit, 64 px, {fit.steps} steps, densify={densify}, {fit.num_gaussians} Gaussians at the end: "
              f"held-out PSNR {fit.mean_psnr:.2f} dB (min {min(fit.heldout_psnr):.2f}, init {fit.init_psnr:.2f}) "
              f"in {fit.seconds:.1f} s wall / {fit.cpu_seconds:.1f} s CPU")

    for size, street in ((64, False), (32, False), (64, True)):
        s = scene_throughput(300, size, street)
        print(f"ray caster {size}x{size}, {'street' if street else 'outdoor'} scene ({s['primitives']} primitives): {s['images']} images in {s['wall']:.1f} s wall / {s['cpu']:.1f} s CPU "
              f"-> {s['per_minute_wall']:.0f} images/min (wall), {s['per_minute_cpu']:.0f} (CPU)")


if __name__ == "__main__":
    main()
