"""Checkers of chapter 06 (RealmDreamer). Each compares the learner's code with course_lib's reference
on random inputs and hand-built cases and, when it is wrong, says how."""

from __future__ import annotations

import math
from functools import partial

import torch

from course_lib.diffusion.distillation import sds_weight
from course_lib.diffusion.guidance import image_text_guidance as ref_guidance
from course_lib.diffusion.schedule import add_noise, alphas_cumprod
from course_lib.geometry.cameras import Camera, look_at_camera
from course_lib.geometry.depth import pearson
from course_lib.grading.checks_05 import _gen, _rand, _randn  # seeded random inputs, shared with chapter 05
from course_lib.grading.checking import CheckFailed, call, expect_close, expect_tensor, is_close, require_passed, run
from course_lib.splatting import ssim
from course_lib.text_to_3d.realmdreamer.lift import align_depth as ref_align_depth
from course_lib.text_to_3d.realmdreamer.lift import lift_pixels as ref_lift_pixels
from course_lib.text_to_3d.realmdreamer.losses import depth_distillation_loss as ref_depth_loss
from course_lib.text_to_3d.realmdreamer.losses import distillation_target as ref_distillation_target
from course_lib.text_to_3d.realmdreamer.losses import inpainting_distillation_loss as ref_inpainting_loss
from course_lib.text_to_3d.realmdreamer.occlusion import occluded_grid as ref_occluded_grid

# every exercise of the chapter (id -> title): its last check prints which are still open
EXERCISES = {
    "06-1": "depth alignment and lifting to Gaussians",
    "06-2": "the occlusion volume (line march)",
    "06-3": "3-way classifier-free guidance (Eq. 2)",
    "06-4": "inpainting distillation (Eq. 5)",
    "06-5": "depth distillation (Eq. 6)",
    "06-6": "the SDS baseline gradient",
}

# checks_06.require("06-1", ..., what=...): an experiment on the learner's code stops while one is open
require = partial(require_passed, EXERCISES)



def _scalar(value, what: str) -> torch.Tensor:
    """A loss must be a 0-d tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.ndim > 0:
        raise CheckFailed(f"{what} has shape {tuple(value.shape)}: return a 0-d tensor (a scalar), e.g. with .mean()")
    return expect_tensor(value, what, shape=())


# ---------------------------------------------------------------- 06-1 depth alignment and lifting


def _number(value, what: str) -> torch.Tensor:
    """A scale or shift: a 0-d tensor (or any one-element tensor) or a Python number, as a float64 0-d tensor."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise CheckFailed(f"{what} has shape {tuple(value.shape)}: return one number (a 0-d tensor or a float)")
        return value.detach().double().reshape(())
    if isinstance(value, (int, float)):
        return torch.tensor(float(value), dtype=torch.float64)
    raise CheckFailed(f"{what} should be a number (a 0-d tensor or a float), got {type(value).__name__}")


def _line_fit(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Least-squares (a, b) of y ~ a x + b (float64)."""
    x, y = x.double(), y.double()
    xc = x - x.mean()
    a = (xc * (y - y.mean())).sum() / (xc * xc).sum()
    return float(a), float(y.mean() - a * x.mean())


def _alignment_case(H: int, W: int, scale: float, shift: float, seed: int, sky_inf: bool):
    pred = 0.2 + _rand(H, W, seed=seed)
    mask = _rand(H, W, seed=seed + 1) > 0.3
    target = scale * pred + shift + 0.2 * _randn(H, W, seed=seed + 2)
    # outside the mask the target is useless: far away (a wrong depth, the sky), or inf as a metric depth of the sky
    target[~mask] = float("inf") if sky_inf else 40.0 + 10.0 * _rand(H, W, seed=seed + 3)[~mask]
    return pred, target, mask


def _check_align(align_depth) -> None:
    for seed, (H, W, scale, shift, sky_inf) in enumerate([(8, 12, 2.5, 1.5, False), (10, 6, 0.7, -0.4, False), (5, 7, 4.0, 3.0, True)]):
        pred, target, mask = _alignment_case(H, W, scale, shift, 10 * seed, sky_inf)
        res = call(align_depth, pred, target, mask, what=f"align_depth(pred ({H}, {W}), target, mask)")
        if not (isinstance(res, (tuple, list)) and len(res) == 2):
            raise CheckFailed("align_depth must return the pair (scale, shift)")
        got = torch.stack([_number(res[0], "the scale"), _number(res[1], "the shift")])
        if not torch.isfinite(got).all():
            hint = (": the target is inf outside the mask (a metric depth of the sky), and 0 * inf = NaN, so select the "
                    "masked pixels (pred[mask], target[mask]) instead of multiplying by the mask") if sky_inf else ""
            raise CheckFailed(f"(scale, shift) = {got.tolist()} is not finite{hint}")
        s_ref, b_ref = ref_align_depth(pred, target, mask)
        want = torch.tensor([float(s_ref), float(b_ref)], dtype=torch.float64)
        p, d = pred[mask], target[mask]
        only_scale = float((p.double() * d.double()).sum() / (p.double() ** 2).sum())
        a_inv, c_inv = _line_fit(d, p)
        wrong = {
            "the scale and shift come back in the wrong order: return (scale, shift)": want.flip(0),
            "there is no shift: fit scale * pred + shift (two unknowns), a monocular depth is off by a shift too":
                torch.tensor([only_scale, 0.0], dtype=torch.float64),
            "the fit is inverted (pred fitted onto target): fit scale * pred + shift to target, minimising the error in target's units":
                torch.tensor([a_inv, c_inv], dtype=torch.float64),
            "the fit is inverted (pred fitted onto target, then solved for target): least squares is not symmetric; "
            "fit scale * pred + shift to target directly": torch.tensor([1 / a_inv, -c_inv / a_inv], dtype=torch.float64),
        }
        if not sky_inf:
            wrong["the mask is ignored: fit over the pixels of mask only (outside it the target is sky or unknown)"] = \
                torch.tensor(_line_fit(pred.reshape(-1), target.reshape(-1)), dtype=torch.float64)
        expect_close(got, want, f"(scale, shift) for an image ({H}, {W}) whose target is {scale} * pred + {shift} plus noise",
                     atol=1e-4, rtol=1e-4, wrong_variants=wrong)


def _lift_variant(camera: Camera, depth: torch.Tensor, mask: torch.Tensor, *, half: float = 0.5, along_ray: bool = False,
                  frame: str = "world", swap: bool = False) -> torch.Tensor:
    """Back-projection of the masked pixels with switches, to name a learner's mistake."""
    H, W = depth.shape
    i, j = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    u, v = (i, j) if swap else (j, i)
    K, R, t = camera.K, camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    ray = torch.stack([(u + half - K[0, 2]) / K[0, 0], (v + half - K[1, 2]) / K[1, 1], torch.ones_like(u)], -1)
    if along_ray:
        ray = ray / ray.norm(dim=-1, keepdim=True)
    cam = ray * depth[..., None]
    points = {"world": (cam - t) @ R, "camera": cam, "viewmat": cam @ R.T + t}[frame]
    return points[mask]


def _lift_cameras() -> list[Camera]:
    return [look_at_camera((-2.0, -3.5, 1.7), (0.6, 1.2, 0.9), 60.0, 12, 8),
            look_at_camera((4.0, 1.0, 2.5), (-0.5, 0.3, 0.4), 45.0, 7, 10)]


def _check_lift(lift_pixels) -> None:
    for seed, cam in enumerate(_lift_cameras()):
        H, W = cam.height, cam.width
        depth = 1.0 + 4.0 * _rand(H, W, seed=seed + 20)
        rgb = _rand(H, W, 3, seed=seed + 21)
        mask = _rand(H, W, seed=seed + 22) > 0.35
        n = int(mask.sum())
        res = call(lift_pixels, cam, depth, rgb, mask, what=f"lift_pixels(camera {W}x{H}, depth ({H}, {W}), rgb ({H}, {W}, 3), mask)")
        if not (isinstance(res, (tuple, list)) and len(res) == 3):
            raise CheckFailed("lift_pixels must return the tuple (points, colors, footprint)")
        points, colors, footprint = res
        if isinstance(points, torch.Tensor) and points.ndim == 2 and points.shape[0] == H * W and n < H * W:
            raise CheckFailed(f"lift_pixels returned {H * W} points, one per pixel: keep only the {n} pixels of mask")
        expect_tensor(points, "the points", shape=(n, 3))
        want_points, want_colors, want_footprint = ref_lift_pixels(cam, depth, rgb, mask)
        wrong = {
            "the pixel centres are at integer coordinates: pixel (row i, column j) has its centre at u = j + 0.5, v = i + 0.5":
                _lift_variant(cam, depth, mask, half=0.0),
            "rows and columns are swapped: u (x, to the right) comes from the column index j, v (y, down) from the row index i":
                _lift_variant(cam, depth, mask, swap=True),
            "the depth is used as the distance along the ray: it is the camera-space z, so X_cam = z K^-1 [u, v, 1] "
            "(do not normalise the ray)": _lift_variant(cam, depth, mask, along_ray=True),
            "the points are in camera coordinates: map them to the world with X = R^T (X_cam - t) (viewmat is world-to-camera)":
                _lift_variant(cam, depth, mask, frame="camera"),
            "the points went through viewmat (world-to-camera) instead of its inverse: X = R^T (X_cam - t)":
                _lift_variant(cam, depth, mask, frame="viewmat"),
        }
        expect_close(points, want_points, f"the back-projection of the masked pixels (camera {W}x{H}: {H} rows, {W} columns)", atol=1e-4, rtol=1e-4, wrong_variants=wrong)
        expect_close(colors, want_colors, "each point's colour", atol=1e-6, wrong_variants={
            "the colours are not the masked pixels' rgb in the points' order: return rgb[mask]": rgb.reshape(-1, 3)[:n]})
        f = cam.K[0, 0]
        d = depth[mask]
        expect_close(footprint, want_footprint, "each point's footprint", atol=1e-5, rtol=1e-4, wrong_variants={
            "the footprint is depth * f: one pixel covers depth / f at depth z (it grows with the depth, shrinks with the focal length)": d * f,
            "the footprint is 1 / depth: one pixel covers depth / f at depth z": 1 / d,
            "the footprint is f / depth: one pixel covers depth / f at depth z": f / d,
            "the footprint uses c_x = K[0, 2]: divide by the focal length K[0, 0]": d / cam.K[0, 2],
        })


def check_lift(align_depth, lift_pixels) -> None:
    """06-1: ``align_depth(pred, target, mask) -> (scale, shift)`` and ``lift_pixels(camera, depth, rgb, mask) -> (points, colors, footprint)``."""

    def body() -> None:
        _check_align(align_depth)
        _check_lift(lift_pixels)

    run("06-1", EXERCISES["06-1"], body)


# ---------------------------------------------------------------- 06-2 occlusion volume


def _march(grid: torch.Tensor, origin: torch.Tensor, voxel: float, camera: Camera, ground: float, behind: float, *,
           empty: bool = True, frustum: bool = True, above: bool = True, stop: float = -0.5, outward: bool = False,
           delta: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The occlusion volume in float64, with switches to name a learner's mistake.

    ``stop``: samples lie strictly before ``length + stop * voxel`` (the contract: -0.5; inf: the whole line);
    ``outward``: march from the voxel towards the camera and measure the nearest blocker from the voxel;
    ``delta`` (signed, scene units): nudges every sample and loosens (> 0) or tightens (< 0) every threshold,
    to find the voxels whose answer hangs on rounding. Returns the bool grid and per-voxel details."""
    shape = tuple(grid.shape)
    size = torch.tensor(shape)
    occupied = grid.reshape(-1)
    o = origin.double()
    idx = torch.stack(torch.meshgrid(*(torch.arange(n) for n in shape), indexing="ij"), -1).reshape(-1, 3).double()
    centres = o + voxel * (idx + 0.5)
    R, t, K = camera.viewmat[:3, :3].double(), camera.viewmat[:3, 3].double(), camera.K.double()
    cam = centres @ R.T + t
    z = cam[:, 2]
    uv = (cam @ K.T)[:, :2] / z.clamp(min=1e-12)[:, None]
    px = 1e-3 * (1 if delta > 0 else -1 if delta < 0 else 0)
    in_image = (z > 0) & (uv[:, 0] >= -px) & (uv[:, 0] < camera.width + px) & (uv[:, 1] >= -px) & (uv[:, 1] < camera.height + px)
    is_above = centres[:, 2] > ground + 0.5 * voxel - delta
    keep = torch.ones_like(occupied)
    if empty:
        keep &= ~occupied
    if frustum:
        keep &= in_image
    if above:
        keep &= is_above
    eye = -R.T @ t
    offset = centres - eye
    length = offset.norm(dim=1)
    direction = offset / length[:, None]
    h = 0.5 * voxel
    reach = float(length.max()) + (voxel * float(size.double().norm()) if math.isinf(stop) else max(stop, 0.0) * voxel)
    dist = torch.arange(1, int(reach / h) + 2, dtype=torch.float64) * h
    if outward:
        samples = centres[:, None] - direction[:, None] * dist[None, :, None]
        valid = dist[None] < length[:, None] - h + delta
    else:
        samples = eye + direction[:, None] * dist[None, :, None]
        valid = dist[None] < length[:, None] + stop * voxel + delta
    cell = ((samples + delta - o) / voxel).floor().long()
    in_grid = ((cell >= 0) & (cell < size)).all(-1)
    cell = cell.clamp(min=0).minimum(size - 1)
    hit = grid[cell[..., 0], cell[..., 1], cell[..., 2]] & in_grid & valid
    first = torch.where(hit, dist[None].expand_as(hit), torch.full(hit.shape, math.inf, dtype=torch.float64)).min(1).values
    gap = first if outward else length - first
    occluded = keep & torch.isfinite(first) & (gap <= behind + delta)
    details = {"occupied": occupied, "in_image": in_image, "above": is_above, "gap": gap, "centres": centres}
    return occluded.reshape(shape), details


_OCCLUSION_VARIANTS = {
    "occupied voxels are marked too: the occlusion volume holds only *empty* voxels (the occupied ones are already points)":
        [dict(empty=False), dict(empty=False, stop=0.0)],
    "voxels farther than `behind` behind the first occupied voxel are marked too: a voxel is occluded only when the "
    "first occupied sample on its line lies at most `behind` before it": [dict(behind=math.inf)],
    "voxels outside the reference camera's view are marked too: keep only voxels whose centre lies in front of the camera "
    "(z > 0) and projects inside the image (0 <= u < width, 0 <= v < height)": [dict(frustum=False)],
    "voxels at or below the ground are marked too: keep only voxels whose centre lies above ground + voxel / 2":
        [dict(above=False)],
    "voxels in front of an occupied voxel are marked: the march runs past the voxel and meets the occupied voxel *behind* it; "
    "stop the samples before the voxel (distance < its distance - voxel / 2)": [dict(stop=1.0), dict(stop=0.5), dict(stop=math.inf)],
    "the line is marched from the voxel outwards, measuring the nearest blocker: march from the camera centre, and measure "
    "`behind` from the *first* occupied sample the camera's line meets": [dict(outward=True)],
}


def _occlusion_case(name: str):
    """(grid, origin, voxel, camera, ground, behind) of the hand-built ``wall`` case or a random one."""
    if name == "wall":
        # a wall at x-index 3 across the whole grid, a smaller second wall at x-index 7; the camera looks along +x
        voxel, shape = 0.5, (12, 8, 6)
        origin = torch.tensor([0.013, -0.021, 0.007])
        grid = torch.zeros(shape, dtype=torch.bool)
        grid[3] = True
        grid[7, 2:6, 1:5] = True
        grid[4, 5, 3] = True  # an occupied voxel right behind the wall: hidden, but already a point, not occlusion volume
        eye = origin + torch.tensor([-3.0, 2.03, 1.61])
        camera = look_at_camera(eye, origin + torch.tensor([3.0, 2.0, 1.5]), 30.0, 16, 12)
        return grid, origin, voxel, camera, float(origin[2]) + 1.3 * voxel, 1.2
    seed = int(name.split()[-1])
    g = _gen(100 + seed)
    voxel, shape, behind = [(0.5, (8, 7, 5), 1.3), (0.3, (9, 6, 7), 0.95), (0.4, (10, 7, 5), 1.7)][seed]
    origin = torch.randn(3, generator=g) * 0.5
    grid = torch.rand(shape, generator=g) < 0.15
    extent = torch.tensor(shape, dtype=torch.float32) * voxel
    if seed == 2:  # the camera inside the grid's box (as in the pipeline), the occupied voxels in the far part
        grid[:4] = False
        eye = origin + extent * torch.tensor([0.12, 0.45, 0.55]) + 0.05 * torch.randn(3, generator=g)
        target = origin + extent * torch.tensor([1.0, 0.5, 0.4])
    else:
        eye = origin + extent / 2 + torch.tensor([-3.5, 1.2 * (seed - 0.5), 1.0]) + 0.3 * torch.randn(3, generator=g)
        target = origin + extent / 2 + 0.3 * torch.randn(3, generator=g)
    camera = look_at_camera(eye, target, 55.0, 16, 12)
    return grid, origin, voxel, camera, float(origin[2]) + 1.3 * voxel, behind


def _explain_voxel(index: tuple[int, ...], flat: int, got: bool, details: dict[str, torch.Tensor], behind: float) -> str:
    where = f"voxel {index} (centre {[round(v, 3) for v in details['centres'][flat].tolist()]})"
    if got:
        reasons = []
        if bool(details["occupied"][flat]):
            reasons.append("it is occupied")
        if not bool(details["in_image"][flat]):
            reasons.append("its centre is behind the camera or projects outside the image")
        if not bool(details["above"][flat]):
            reasons.append("its centre is not above ground + voxel / 2")
        gap = float(details["gap"][flat])
        if not reasons and math.isinf(gap):
            reasons.append("the line from the camera centre meets no occupied voxel before it")
        elif not reasons:
            reasons.append(f"the first occupied sample on its line lies {gap:.3f} before it, more than behind = {behind}")
        return f"{where} is marked occluded but is not: {'; '.join(reasons)}"
    gap = float(details["gap"][flat])
    return (f"{where} is not marked but is occluded: it is empty, inside the image, above the ground, and the line from the "
            f"camera centre (samples every voxel / 2) meets an occupied voxel {gap:.3f} before it (at most behind = {behind})")


def check_occlusion(occluded_grid) -> None:
    """06-2: ``occluded_grid(grid (X, Y, Z) bool, origin (3,), voxel, camera, ground, behind) -> bool (X, Y, Z)``."""

    def body() -> None:
        for name in ("wall", "random 0", "random 1", "random 2"):
            grid, origin, voxel, camera, ground, behind = _occlusion_case(name)
            args = (grid, origin, voxel, camera, ground, behind)
            what = "the hand-built wall" if name == "wall" else f"a random grid {tuple(grid.shape)}"
            got = call(occluded_grid, *args, what=f"occluded_grid({what}, origin, voxel={voxel}, camera, ground, behind={behind})")
            expect_tensor(got, f"the occlusion volume of {what}", shape=grid.shape)
            if got.dtype != torch.bool:
                raise CheckFailed(f"the occlusion volume has dtype {got.dtype}: return a bool tensor, True where a voxel is occluded")
            want = ref_occluded_grid(*args)
            base, details = _march(*args)
            # voxels whose answer hangs on rounding (a sample on a voxel face, a gap equal to behind) are not compared
            loose, _ = _march(*args, delta=1e-4 * voxel)
            tight, _ = _march(*args, delta=-1e-4 * voxel)
            sure = (base == want) & (loose == want) & (tight == want)
            if torch.equal(got[sure], want[sure]):
                continue
            for text, options in _OCCLUSION_VARIANTS.items():
                for kw in options:
                    kw = dict(kw)
                    wrong, _ = _march(grid, origin, voxel, camera, ground, kw.pop("behind", behind), **kw)
                    if torch.equal(got[sure], wrong[sure]):
                        raise CheckFailed(f"the occlusion volume of {what} is wrong: {text}")
            bad = (got != want) & sure
            flat = int(bad.reshape(-1).nonzero()[0])
            index = tuple(int(v) for v in torch.unravel_index(torch.tensor(flat), grid.shape))
            raise CheckFailed(f"the occlusion volume of {what} differs from the reference in {int(bad.sum())} of {grid.numel()} voxels "
                              f"({int((got & ~want & sure).sum())} marked wrongly, {int((~got & want & sure).sum())} missed); "
                              f"e.g. {_explain_voxel(index, flat, bool(got[index]), details, behind)}")

    run("06-2", EXERCISES["06-2"], body)


# ---------------------------------------------------------------- 06-3 3-way guidance


def check_guidance(image_text_guidance) -> None:
    """06-3: ``image_text_guidance(eps_none, eps_image, eps_image_text, scale_image, scale_text)`` (Eq. 2)."""

    def body() -> None:
        for seed, (shape, s_i, s_t) in enumerate([((2, 3, 8, 6), 1.8, 7.5), ((1, 4, 5, 5), 1.0, 3.0), ((3, 3, 4, 7), 0.5, 2.0)]):
            e0, ei, eit = (_randn(*shape, seed=10 * seed + k) for k in range(3))
            got = call(image_text_guidance, e0, ei, eit, s_i, s_t,
                       what=f"image_text_guidance(eps_none {shape}, eps_image, eps_image_text, scale_image={s_i}, scale_text={s_t})")
            wrong = {
                "the text term is measured from eps(∅,∅): it is S_T (eps(I,T) - eps(I,∅)), what the text adds on top of the image condition":
                    e0 + s_i * (ei - e0) + s_t * (eit - e0),
                "the two scales are swapped: S_I multiplies the image term (eps(I,∅) - eps(∅,∅)), S_T the text term (eps(I,T) - eps(I,∅))":
                    ref_guidance(e0, ei, eit, s_t, s_i),
                "the image scale is ignored (S_I = 1): this is 2-way guidance around eps(I,∅); Eq. 2 adds S_I (eps(I,∅) - eps(∅,∅)) to eps(∅,∅)":
                    ei + s_t * (eit - ei),
                "this is 2-way guidance from eps(∅,∅) to eps(I,T): Eq. 2 has an image term S_I (eps(I,∅) - eps(∅,∅)) and a text term S_T (eps(I,T) - eps(I,∅))":
                    e0 + s_t * (eit - e0),
                "the guided prediction starts from eps(I,∅): Eq. 2 starts from eps(∅,∅)": ei + s_i * (ei - e0) + s_t * (eit - ei),
                "a difference has the wrong sign: each guidance term points from the weaker to the stronger condition, "
                "(eps(I,∅) - eps(∅,∅)) and (eps(I,T) - eps(I,∅))": e0 + s_i * (e0 - ei) + s_t * (eit - ei),
                "the text difference has the wrong sign: it is (eps(I,T) - eps(I,∅))": e0 + s_i * (ei - e0) + s_t * (ei - eit),
            }
            expect_close(got, ref_guidance(e0, ei, eit, s_i, s_t), f"the guided noise with S_I = {s_i}, S_T = {s_t}", atol=1e-5, wrong_variants=wrong)

    run("06-3", EXERCISES["06-3"], body)


# ---------------------------------------------------------------- 06-4 inpainting distillation


class _FakePrior:
    """A fixed noise predictor, linear in x_t, that depends on each sample's own timestep. Its weight requires a
    gradient, as a prior's parameters may: a target computed outside ``torch.no_grad()`` then carries one."""

    def __init__(self, channels: int, seed: int) -> None:
        self.mix = (0.5 * torch.eye(channels) + 0.3 * _randn(channels, channels, seed=seed)).requires_grad_(True)
        self.bias = 0.4 * _randn(channels, seed=seed + 1)

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t)
        if t.is_floating_point():
            raise CheckFailed(f"eps_fn was called with a {t.dtype} timestep: timesteps are integers (a long tensor, one per sample)")
        level = (t.double() / 1000.0).float().reshape(-1, 1, 1, 1)
        if level.shape[0] not in (1, x_t.shape[0]):
            raise CheckFailed(f"eps_fn was called with {level.shape[0]} timesteps for {x_t.shape[0]} images: pass t, one per sample")
        return torch.einsum("dc,bchw->bdhw", self.mix, x_t) + self.bias.view(1, -1, 1, 1) * (1.0 + 2.0 * level) - level

    def plain(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self(x_t, t)


def _target_variants(prior: _FakePrior, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    x = x.detach()
    x_t = a.sqrt() * x + (1 - a).sqrt() * noise
    swapped = (1 - a).sqrt() * x + a.sqrt() * noise
    t0 = t[:1].expand_as(t)
    a0 = alphas_cumprod()[t0].view(-1, 1, 1, 1)
    x_t0 = a0.sqrt() * x + (1 - a0).sqrt() * noise

    def x0(z: torch.Tensor, tt=t, aa=a) -> torch.Tensor:
        return (z - (1 - aa).sqrt() * prior.plain(z, tt)) / aa.sqrt()

    return {
        "x̂ is not clamped: clamp the one-step estimate to [-1, 1], the images' range (at high noise it overshoots)": x0(x_t),
        "x is not noised: x̂ denoises x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise, not x itself": x0(x).clamp(-1, 1),
        "sqrt(ᾱ_t) and sqrt(1 - ᾱ_t) are swapped in the noising: x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise": x0(swapped).clamp(-1, 1),
        "sqrt(ᾱ_t) and sqrt(1 - ᾱ_t) are swapped in the denoising: x̂ = (x_t - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t)":
            ((x_t - a.sqrt() * prior.plain(x_t, t)) / (1 - a).sqrt()).clamp(-1, 1),
        "x̂ = x_t - eps is missing the noise-level factors: x̂ = (x_t - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t)":
            (x_t - prior.plain(x_t, t)).clamp(-1, 1),
        "x̂ is the noised image x_t itself: denoise it with the prior, x̂ = (x_t - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t)": x_t.clamp(-1, 1),
        "every sample uses the first sample's timestep: t holds one timestep per sample, use t (B,) throughout":
            x0(x_t0, t0, a0).clamp(-1, 1),
    }


def _check_target(distillation_target) -> None:
    prior = _FakePrior(3, seed=40)
    for seed, (shape, t) in enumerate([((3, 3, 8, 10), [150, 520, 870]), ((2, 3, 6, 5), [700, 300])]):
        x = (_rand(*shape, seed=seed + 41) * 2 - 1).requires_grad_(True)
        t = torch.tensor(t)
        noise = _randn(*shape, seed=seed + 42)
        got = call(distillation_target, prior, x, t, noise, 1,
                   what=f"distillation_target(eps_fn, x {shape}, t {t.tolist()}, noise, steps=1)")
        expect_tensor(got, "x̂", shape=shape)
        want = ref_distillation_target(prior.plain, x, t, noise, 1)
        expect_close(got.detach(), want, f"x̂ for t = {t.tolist()}", atol=1e-5, rtol=1e-4,
                     wrong_variants=_target_variants(prior, x, t, noise))
        if got.requires_grad:
            raise CheckFailed("x̂ carries a gradient (through x or the prior): it is a fixed target, compute it under "
                              "torch.no_grad() from x.detach(), so no gradient flows through the prior")


def _loss_terms(x, x_hat, mask, anchor) -> dict[str, torch.Tensor]:
    """The three terms of Eq. 5 (this chapter's form) and the wrong forms a learner may write."""
    image = ((mask * (x - x_hat)) ** 2).mean()
    return {
        "image": image,
        "structure": 1 - ssim(x.permute(0, 2, 3, 1) * 0.5 + 0.5, x_hat.permute(0, 2, 3, 1) * 0.5 + 0.5),
        "keep": (((1 - mask) * (x - anchor)) ** 2).mean(),
        "image all": ((x - x_hat) ** 2).mean(),
        "image masked mean": ((mask * (x - x_hat)) ** 2).sum() / (mask.expand_as(x).sum()),
        "image sum": ((mask * (x - x_hat)) ** 2).sum(),
        "keep masked": ((mask * (x - anchor)) ** 2).mean(),
        "keep all": ((x - anchor) ** 2).mean(),
        "structure raw": 1 - ssim(x.permute(0, 2, 3, 1), x_hat.permute(0, 2, 3, 1)),
        "structure layout": 1 - ssim(x * 0.5 + 0.5, x_hat * 0.5 + 0.5),
        "structure similarity": ssim(x.permute(0, 2, 3, 1) * 0.5 + 0.5, x_hat.permute(0, 2, 3, 1) * 0.5 + 0.5),
    }


def _loss_variants(terms: dict[str, torch.Tensor], wi: float, ws: float, wa: float) -> dict[str, torch.Tensor]:
    i, s, k = terms["image"], terms["structure"], terms["keep"]
    return {
        "the image term covers every pixel: this chapter's Eq. 5 masks it, ||M ⊙ (x - x̂)||², so only the pixels the occlusion "
        "volume shows (mask = 1) are pulled towards x̂ (the anchor holds the rest)":
            wi * terms["image all"] + ws * s + wa * k,
        "the anchor term covers the masked region: it keeps the *visible* part close to the point-cloud render, ||(1 - M) ⊙ (x - I_pc)||²":
            wi * i + ws * s + wa * terms["keep masked"],
        "the anchor term covers every pixel: it is ||(1 - M) ⊙ (x - I_pc)||², the pixels outside the mask only":
            wi * i + ws * s + wa * terms["keep all"],
        "the image term is averaged over the masked pixels only: like the anchor, it is a mean over all pixels, mean((M ⊙ (x - x̂))²)":
            wi * terms["image masked mean"] + ws * s + wa * k,
        "the image term is a sum: use the mean over all pixels, mean((M ⊙ (x - x̂))²)": wi * terms["image sum"] + ws * s + wa * k,
        "the image and anchor weights are swapped: image_weight multiplies the image term, anchor_weight the anchor term": wa * i + ws * s + wi * k,
        "the image and SSIM weights are swapped: image_weight multiplies the image term, ssim_weight the (1 - SSIM) term": ws * i + wi * s + wa * k,
        "the SSIM and anchor weights are swapped: ssim_weight multiplies (1 - SSIM), anchor_weight the anchor term": wi * i + wa * s + ws * k,
        "SSIM is computed on images in [-1, 1]: map both to [0, 1] first (x * 0.5 + 0.5), the range its constants C1, C2 assume":
            wi * i + ws * terms["structure raw"] + wa * k,
        "SSIM gets (B, 3, H, W) images: course_lib's ssim takes (B, H, W, C), so permute(0, 2, 3, 1) first": wi * i + ws * terms["structure layout"] + wa * k,
        "the SSIM term is SSIM itself, which rewards dissimilarity: the loss uses 1 - SSIM": wi * i + ws * terms["structure similarity"] + wa * k,
        "the SSIM term is missing: add ssim_weight * (1 - SSIM(x, x̂))": wi * i + wa * k,
        "the anchor term is missing: add anchor_weight * mean(((1 - M) ⊙ (x - I_pc))²)": wi * i + ws * s,
    }


def _check_inpainting_loss(inpainting_distillation_loss) -> None:
    for seed, (shape, wi, ws, wa) in enumerate([((2, 3, 16, 12), 0.7, 2.0, 5.0), ((1, 3, 11, 14), 3.0, 0.4, 1.3)]):
        B, _, H, W = shape
        x = _rand(*shape, seed=seed + 60) * 2 - 1
        x_hat = (x + 0.6 * _randn(*shape, seed=seed + 61)).clamp(-1, 1)
        anchor = (x + 0.4 * _randn(*shape, seed=seed + 62)).clamp(-1, 1)
        mask = torch.zeros(B, 1, H, W)
        mask[..., H // 4: 3 * H // 4, W // 3:] = 1.0
        mask[0, 0, :2, :3] = 1.0
        x_in, x_hat_in = x.clone().requires_grad_(True), x_hat.clone().requires_grad_(True)
        got = call(inpainting_distillation_loss, x_in, x_hat_in, mask, anchor, wi, ws, wa,
                   what=f"inpainting_distillation_loss(x {shape}, x_hat, mask, anchor, {wi}, {ws}, {wa})")
        _scalar(got, "the inpainting distillation loss")
        want = ref_inpainting_loss(x, x_hat, mask, anchor, wi, ws, wa)
        expect_close(got.detach(), want, f"the loss with weights image={wi}, ssim={ws}, anchor={wa}", atol=1e-5, rtol=1e-4,
                     wrong_variants=_loss_variants(_loss_terms(x, x_hat, mask, anchor), wi, ws, wa))
        if not got.requires_grad:
            raise CheckFailed("the loss carries no gradient: compute it with torch operations on x (no .item(), no .detach() of x)")
        grad_x, grad_hat = torch.autograd.grad(got, [x_in, x_hat_in], allow_unused=True)
        if grad_hat is not None and bool(grad_hat.abs().sum() > 0):
            raise CheckFailed("the loss sends a gradient into x_hat: x̂ is a fixed target (a stop-gradient), detach it (x_hat.detach())")
        x_ref = x.clone().requires_grad_(True)
        want_grad, = torch.autograd.grad(ref_inpainting_loss(x_ref, x_hat, mask, anchor, wi, ws, wa), x_ref)
        if grad_x is None:
            raise CheckFailed("the loss does not depend on x: the render is what it trains")
        expect_close(grad_x, want_grad, "the gradient of the loss with respect to x", atol=1e-6, rtol=1e-3)


def check_inpainting_distillation(distillation_target, inpainting_distillation_loss) -> None:
    """06-4: ``distillation_target(eps_fn, x, t, noise, steps=1) -> x̂`` and
    ``inpainting_distillation_loss(x, x_hat, mask, anchor, image_weight, ssim_weight, anchor_weight) -> scalar`` (Eq. 5)."""

    def body() -> None:
        _check_target(distillation_target)
        _check_inpainting_loss(inpainting_distillation_loss)

    run("06-4", EXERCISES["06-4"], body)


# ---------------------------------------------------------------- 06-5 depth distillation


def _cosine(a: torch.Tensor, b: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    m = m.double()
    a, b = a.double(), b.double()
    return (a * b * m).sum((1, 2)) / ((a * a * m).sum((1, 2)).sqrt() * (b * b * m).sum((1, 2)).sqrt())


def _depth_variants(depth, prior, mask, want) -> dict[str, torch.Tensor]:
    n = mask.sum((1, 2)).double()
    r = pearson(depth, prior, mask).double()
    B, H, W = depth.shape
    pooled = pearson(depth.reshape(1, B * H, W), prior.reshape(1, B * H, W), mask.reshape(1, B * H, W))
    return {
        "the loss is +Pearson: Eq. 6 is L_depth = -Pearson(d, d̂), which falls as the depths agree": -want,
        "the loss is 1 - Pearson (chapter 05's L_geo): Eq. 6 is exactly -Pearson(d, d̂); the two have the same gradient "
        "but not the same value": 1 + want,
        "the mask is ignored: compare the depths only over the opaque pixels (mask True)": -pearson(depth, prior).mean(),
        "the depths are not centred: Pearson subtracts each map's mean (over the mask) before the normalised dot product":
            -_cosine(depth, prior, mask).mean(),
        "the depths are centred over all pixels: subtract the mean over the mask, the pixels the correlation runs over":
            -_cosine(depth - depth.mean((1, 2), keepdim=True), prior - prior.mean((1, 2), keepdim=True), mask).mean(),
        "the batch is summed: average the per-image -Pearson over the batch": -pearson(depth, prior, mask).sum(),
        "one correlation is taken over the whole batch: Pearson is per image, then averaged over the batch": -pooled.mean(),
        "the covariance and the standard deviations mix n and n - 1 (torch.std is unbiased by default): use the same "
        "normaliser in both, or normalised dot products of the centred maps": -(r * (n - 1) / n).mean(),
        "the standard deviations and the covariance mix n - 1 and n (torch.std is unbiased by default): use the same "
        "normaliser in both, or normalised dot products of the centred maps": -(r * n / (n - 1)).mean(),
    }


def check_depth_loss(depth_distillation_loss) -> None:
    """06-5: ``depth_distillation_loss(depth (B, H, W), prior_depth (B, H, W), mask (B, H, W) bool) -> scalar`` (Eq. 6)."""

    def body() -> None:
        for seed, shape in enumerate(((3, 10, 12), (1, 9, 7), (2, 6, 16))):
            depth = 1 + 3 * _rand(*shape, seed=seed + 80)
            prior = 0.6 * depth + 0.8 * _randn(*shape, seed=seed + 81) + 0.3
            mask = _rand(*shape, seed=seed + 82) > 0.2 + 0.2 * torch.arange(shape[0]).view(-1, 1, 1) / shape[0]
            prior[~mask] += 5.0  # outside the mask (the sky, empty pixels) the prior disagrees
            d_in, p_in = depth.clone().requires_grad_(True), prior.clone().requires_grad_(True)
            got = call(depth_distillation_loss, d_in, p_in, mask, what=f"depth_distillation_loss(depth {shape}, prior_depth, mask)")
            _scalar(got, "the depth loss")
            want = ref_depth_loss(depth, prior, mask)
            expect_close(got.detach(), want, f"L_depth for depth maps {shape}", atol=1e-5, rtol=1e-4,
                         wrong_variants=_depth_variants(depth, prior, mask, want))
            if not got.requires_grad:
                raise CheckFailed("L_depth carries no gradient: compute it with torch operations on the rendered depth (no .item(), no .detach())")
            grad_d, grad_p = torch.autograd.grad(got, [d_in, p_in], allow_unused=True)
            if grad_p is not None and bool(grad_p.abs().sum() > 0):
                raise CheckFailed("L_depth sends a gradient into prior_depth: the prior's depth is a target, detach it (prior_depth.detach())")
            d_ref = depth.clone().requires_grad_(True)
            want_grad, = torch.autograd.grad(ref_depth_loss(d_ref, prior, mask), d_ref)
            if grad_d is None:
                raise CheckFailed("L_depth does not depend on the rendered depth: it is what the loss trains")
            expect_close(grad_d, want_grad, "the gradient of L_depth with respect to the rendered depth", atol=1e-6, rtol=1e-3)
            moved = call(depth_distillation_loss, 2.0 * depth - 1.0, 3.0 * prior + 2.0, mask,
                         what="depth_distillation_loss with the depth scaled by 2 and shifted by -1, the prior scaled by 3 and shifted by 2")
            if not (isinstance(moved, torch.Tensor) and moved.numel() == 1 and is_close(moved.detach().reshape(()), want, atol=1e-5)):
                raise CheckFailed("L_depth changes when the depths are scaled and shifted: a monocular depth is known only up to "
                                  "scale and shift, so the loss must not depend on them (Pearson does not)")

    run("06-5", EXERCISES["06-5"], body)


# ---------------------------------------------------------------- 06-6 SDS gradient


def _sds_variants(prior: _FakePrior, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    x_t = add_noise(x, noise, t)
    residual = prior.plain(x_t, t) - noise
    t0 = t[:1].expand_as(t)
    a0 = alphas_cumprod()[t0].view(-1, 1, 1, 1)
    swapped = (1 - a).sqrt() * x + a.sqrt() * noise
    return {
        "the weight is ᾱ_t: DreamFusion's w(t) = 1 - ᾱ_t": a * residual,
        "the weight is sqrt(1 - ᾱ_t) (the noise's share in x_t): DreamFusion's w(t) = 1 - ᾱ_t": (1 - a).sqrt() * residual,
        "the weight w(t) = 1 - ᾱ_t is missing": residual,
        "the sign is flipped: the gradient is w(t) (eps_hat - eps), predicted noise minus the noise that was added": -(1 - a) * residual,
        "x is not noised: the prior predicts the noise in x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise, not in x":
            (1 - a) * (prior.plain(x, t) - noise),
        "sqrt(ᾱ_t) and sqrt(1 - ᾱ_t) are swapped in the noising: x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise":
            (1 - a) * (prior.plain(swapped, t) - noise),
        "every sample uses the first sample's timestep: t holds one timestep per sample (B,), in the noising, the prior and the weight":
            (1 - a0) * (prior.plain(add_noise(x, noise, t0), t0) - noise),
        "the weight uses the first sample's timestep: w(t) = 1 - ᾱ_t per sample, shaped (B, 1, 1, 1)": (1 - a0) * residual,
    }


def check_sds(sds_gradient) -> None:
    """06-6: ``sds_gradient(eps_fn, x (B, C, H, W), t (B,), noise) -> w(t) (eps_fn(x_t, t) - noise)`` (the DreamFusion baseline).

    The chapter's last check: it also prints which exercises of the chapter are still open."""

    def body() -> None:
        prior = _FakePrior(3, seed=90)
        for seed, (shape, t) in enumerate([((3, 3, 6, 8), [100, 450, 900]), ((2, 3, 5, 5), [820, 60])]):
            x = _rand(*shape, seed=seed + 91) * 2 - 1
            t = torch.tensor(t)
            noise = _randn(*shape, seed=seed + 92)
            got = call(sds_gradient, prior, x, t, noise, what=f"sds_gradient(eps_fn, x {shape}, t {t.tolist()}, noise)")
            expect_tensor(got, "the SDS gradient", shape=shape)
            want = sds_weight(t).view(-1, 1, 1, 1) * (prior.plain(add_noise(x, noise, t), t) - noise)
            expect_close(got.detach(), want, f"the SDS gradient for t = {t.tolist()}", atol=1e-5, rtol=1e-4,
                         wrong_variants=_sds_variants(prior, x, t, noise))

    run("06-6", EXERCISES["06-6"], body, chapter_exercises=EXERCISES)
