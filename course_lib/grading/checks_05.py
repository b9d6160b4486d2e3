"""Checkers of chapter 05 (DreamScene360). Each compares the learner's code with course_lib's reference
(and, for the projection, with gsplat's own PyTorch reference) on random inputs and edge cases and,
when it is wrong, says how."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from gsplat.cuda._torch_impl import _fully_fused_projection

from course_lib.diffusion.sampling import multidiffusion_eps
from course_lib.geometry.cameras import Camera, look_at_camera
from course_lib.grading.checking import CheckFailed, call, expect_close, expect_tensor, is_close, run
from course_lib.splatting.compositing import T_MIN
from course_lib.splatting.compositing import composite_weights as ref_composite
from course_lib.splatting.covariance import covariance_3d as ref_covariance
from course_lib.splatting.projection import project_gaussians
from course_lib.splatting.rasterize_dense import rasterize_dense
from course_lib.text_to_3d.dreamscene360.alignment import alignment_loss as ref_alignment_loss
from course_lib.text_to_3d.dreamscene360.alignment import total_variation, upsample_shift
from course_lib.text_to_3d.dreamscene360.virtual_views import OFFSET
from course_lib.text_to_3d.dreamscene360.virtual_views import depth_regulariser as ref_depth_regulariser


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed))


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=_gen(seed))


# ---------------------------------------------------------------- 05-1 covariance


def _rotmat(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrix of (w, x, y, z) quaternions without normalising them (the wrong variants need that)."""
    w, x, y, z = q.unbind(-1)
    return torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1).reshape(*q.shape[:-1], 3, 3)


def check_covariance(fn) -> None:
    """05-1: ``fn(quats (N, 4) in (w, x, y, z) order, any norm, scales (N, 3) > 0) -> Sigma (N, 3, 3)``."""

    def body() -> None:
        for seed, n in enumerate((7, 64, 1)):
            quats = _randn(n, 4, seed=seed) * (0.3 + 2.7 * _rand(n, 1, seed=seed + 50))  # not unit length
            scales = 0.05 + _rand(n, 3, seed=seed + 100)
            q_in, s_in = quats.clone().requires_grad_(True), scales.clone().requires_grad_(True)
            out = call(fn, q_in, s_in, what=f"covariance_3d(quats {tuple(quats.shape)}, scales {tuple(scales.shape)})")
            expect_tensor(out, "the covariances", shape=(n, 3, 3))
            want = ref_covariance(quats, scales)
            R, Ru, S = _rotmat(F.normalize(quats, dim=-1)), _rotmat(quats), torch.diag_embed(scales)
            perm = quats[:, [1, 2, 3, 0]]
            wrong = {
                "the quaternion is not normalised: divide it by its norm before building R (the optimiser lets its length drift)":
                    Ru @ S @ S @ Ru.transpose(-1, -2),
                "the scales enter once, R S R^T: the covariance is R S S^T R^T (the scales are standard deviations, Σ holds variances)":
                    R @ S @ R.transpose(-1, -2),
                "R and R^T are swapped (R^T S S^T R): R maps the Gaussian's own axes to the world, Σ = R S S^T R^T":
                    R.transpose(-1, -2) @ S @ S @ R,
                "the quaternion is read as (x, y, z, w): the course (like gsplat and 3DGS) stores it as (w, x, y, z)":
                    _rotmat(F.normalize(perm, dim=-1)) @ S @ S @ _rotmat(F.normalize(perm, dim=-1)).transpose(-1, -2),
                "the rotation is missing: Σ = S S^T is axis-aligned, R turns it": S @ S,
            }
            expect_close(out, want, f"the covariances of {n} Gaussians", atol=1e-5, wrong_variants=wrong)
            if not out.requires_grad:
                raise CheckFailed("the covariances carry no gradient: build them from quats and scales with torch operations "
                                  "(no .detach(), no numpy), so the optimiser can move the Gaussians")

    run("05-1", "3D covariance from quaternion and scale", body)


# ---------------------------------------------------------------- 05-2 EWA projection


def _cameras(seed: int) -> list[Camera]:
    g = _gen(seed)
    cams = []
    for k in range(3):
        eye = torch.randn(3, generator=g)
        eye = eye / eye.norm() * (2.5 + 1.5 * float(torch.rand((), generator=g)))
        target = torch.randn(3, generator=g) * 0.3
        size = ((48, 40), (32, 32), (40, 56))[k]
        cams.append(look_at_camera(eye, target, 45.0 + 35.0 * float(torch.rand((), generator=g)), *size))
    return cams


def _gaussians(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    means = _randn(n, 3, seed=seed) * 1.6  # some land beside the image, a few behind the camera
    quats = _randn(n, 4, seed=seed + 1)
    scales = 0.02 + 0.2 * _rand(n, 3, seed=seed + 2)
    return means, ref_covariance(quats, scales)


def _ewa_variant(means, covars, viewmat, K, W, H, low_pass=0.3, clamp=True, sign=-1.0, rotate=True, invert=True, offset=True):
    """An EWA projection with switches, to name a learner's mistake."""
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    mc = means @ R.T + t
    cc = R @ covars @ R.T if rotate else covars
    x, y, z = mc.unbind(-1)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if clamp:
        tx, ty = 0.5 * W / fx, 0.5 * H / fy
        x = z * torch.clamp(x / z, -(cx / fx + 0.3 * tx), (W - cx) / fx + 0.3 * tx)
        y = z * torch.clamp(y / z, -(cy / fy + 0.3 * ty), (H - cy) / fy + 0.3 * ty)
    zero = torch.zeros_like(z)
    J = torch.stack([fx / z, zero, sign * fx * x / z**2, zero, fy / z, sign * fy * y / z**2], -1).reshape(-1, 2, 3)
    cov2d = J @ cc @ J.transpose(-1, -2) + low_pass * torch.eye(2)
    det = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] ** 2
    conics = torch.stack([cov2d[:, 1, 1] / det, -cov2d[:, 0, 1] / det, cov2d[:, 0, 0] / det], -1) if invert else \
        torch.stack([cov2d[:, 0, 0], cov2d[:, 0, 1], cov2d[:, 1, 1]], -1)
    means2d = torch.stack([fx * mc[:, 0] / mc[:, 2] + (cx if offset else 0), fy * mc[:, 1] / mc[:, 2] + (cy if offset else 0)], -1)
    return means2d, cov2d, conics


def check_ewa_project(fn) -> None:
    """05-2: ``fn(means (N, 3), covars (N, 3, 3), viewmat (4, 4), K (3, 3), width, height) -> (means2d (N, 2), cov2d (N, 2, 2), conics (N, 3), depths (N,))``.

    Compared with gsplat's PyTorch reference projection (``gsplat.cuda._torch_impl._fully_fused_projection``)
    on the Gaussians in front of the camera.
    """

    def body() -> None:
        for seed in range(2):
            means, covars = _gaussians(300, seed)
            for cam in _cameras(seed):
                W, H = cam.width, cam.height
                res = call(fn, means, covars, cam.viewmat, cam.K, W, H, what=f"ewa_project(means (300, 3), covars (300, 3, 3), viewmat, K, {W}, {H})")
                if not (isinstance(res, tuple) and len(res) == 4):
                    raise CheckFailed("ewa_project must return the tuple (means2d, cov2d, conics, depths)")
                means2d, cov2d, conics, depths = res
                _, g_means2d, g_depths, g_conics, _ = _fully_fused_projection(means, covars, cam.viewmat[None], cam.K[None], W, H)
                g_means2d, g_depths, g_conics = g_means2d[0], g_depths[0], g_conics[0]
                ours = project_gaussians(means, covars, cam.viewmat, cam.K, W, H)
                front = g_depths > 0.01
                expect_tensor(depths, "depths", shape=(300,))
                expect_close(depths, g_depths, "the depths (camera-space z)", atol=1e-5,
                             wrong_variants={"the depths are distances from the camera: use the camera-space z": (means @ cam.viewmat[:3, :3].T + cam.viewmat[:3, 3]).norm(dim=-1)})
                for name, got, shape in (("means2d", means2d, (300, 2)), ("cov2d", cov2d, (300, 2, 2)), ("conics", conics, (300, 3))):
                    if not isinstance(got, torch.Tensor) or tuple(got.shape) != shape:
                        got_shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                        raise CheckFailed(f"{name} should be a tensor of shape {shape} for 300 Gaussians, got {got_shape}")
                    expect_tensor(got[front], f"{name} of the Gaussians in front of the camera")
                variants = {
                    "the low-pass filter is missing: add 0.3 to the diagonal of the 2D covariance (it keeps every splat about a pixel wide)":
                        dict(low_pass=0.0),
                    "the Jacobian's third column has the wrong sign: d(f x/z)/dz = -f x / z^2":
                        dict(sign=1.0),
                    "x/z and y/z are not clamped: as in 3DGS and gsplat, clamp them to the field of view widened by 30% before building J":
                        dict(clamp=False),
                    "the 3D covariance is not rotated into the camera frame: use J W Σ W^T J^T with W the rotation of viewmat":
                        dict(rotate=False),
                    "the conics are the 2D covariance itself: the rasterizer needs its inverse, (c, -b, a) / det":
                        dict(invert=False),
                    "the principal point is missing: u = f_x x / z + c_x, v = f_y y / z + c_y":
                        dict(offset=False),
                }
                wrong = {text: _ewa_variant(means, covars, cam.viewmat, cam.K, W, H, **kw) for text, kw in variants.items()}
                expect_close(means2d[front], g_means2d[front], "means2d (pixel centres)", atol=1e-3, rtol=1e-5,
                             wrong_variants={k: v[0][front] for k, v in wrong.items()})
                expect_close(cov2d[front], ours.cov2d[front], "cov2d (the 2D covariance, low-pass included)", atol=1e-4, rtol=1e-4,
                             wrong_variants={k: v[1][front] for k, v in wrong.items()})
                expect_close(conics[front], g_conics[front], "the conics (a, b, c) compared with gsplat's reference", atol=1e-5, rtol=1e-4,
                             wrong_variants={**{k: v[2][front] for k, v in wrong.items()},
                                             "the conic's middle term has the wrong sign: b = -Σ'_xy / det": g_conics[front] * torch.tensor([1.0, -1.0, 1.0])})

    run("05-2", "EWA projection to a 2D covariance and its conic", body)


# ---------------------------------------------------------------- 05-3 compositing


def _alphas(P: int, K: int, seed: int) -> torch.Tensor:
    a = _rand(P, K, seed=seed) * 0.6
    a[: P // 3] = 0.97 + 0.02 * _rand(P // 3, K, seed=seed + 1)  # opaque stacks: the transmittance runs out early
    a[P // 3: P // 2, ::2] = 0.0  # padding / skipped splats
    return a


def _composite_variants(a: torch.Tensor) -> dict[str, torch.Tensor]:
    T_after = torch.cumprod(1 - a, -1)
    T_before = torch.cat([torch.ones_like(a[..., :1]), T_after[..., :-1]], -1)
    no_stop = a * T_before
    return {
        "the transmittance includes the splat's own alpha: T_i = prod_{j<i} (1 - alpha_j), over the splats *in front* only":
            a * T_after * (T_after > T_MIN),
        "there is no early termination: stop a pixel (drop this splat and all behind it) once the transmittance would fall to 1e-4 or below":
            no_stop,
        "the termination test is one splat late: drop splat i itself when T after it, T_i (1 - alpha_i), is <= 1e-4":
            no_stop * (T_before > T_MIN),
        "the splats are composited back to front: the list is sorted front to back, the first splat is the nearest":
            ref_composite(a.flip(-1)).flip(-1),
        "the weights are the alphas alone: each is alpha_i times the transmittance T_i in front of it": a,
        "the transmittance is 1 - (sum of alphas in front): it is the *product* of (1 - alpha_j)":
            a * (1 - torch.cat([torch.zeros_like(a[..., :1]), a.cumsum(-1)[..., :-1]], -1)).clamp(min=0),
        "the weights are normalised to sum to 1: the leftover transmittance is the background's share": no_stop / no_stop.sum(-1, keepdim=True).clamp(min=1e-10),
    }


def check_composite(fn) -> None:
    """05-3: ``fn(alphas (..., K) sorted front to back) -> weights (..., K)``; then used by the dense rasterizer."""

    def body() -> None:
        for seed, shape in enumerate(((30, 8), (2, 12, 5), (6, 1))):
            a = _alphas(int(torch.tensor(shape[:-1]).prod()), shape[-1], seed).reshape(shape)
            a_in = a.clone().requires_grad_(True)
            out = call(fn, a_in, what=f"composite_weights(alphas {tuple(shape)})")
            expect_close(out, ref_composite(a), f"the blending weights for alphas {tuple(shape)}", atol=1e-6,
                         wrong_variants=_composite_variants(a))
            if not out.requires_grad:
                raise CheckFailed("the weights carry no gradient: the rasterizer trains the opacities through them (no .detach() on alpha)")
            grad, = torch.autograd.grad((out * torch.arange(1.0, shape[-1] + 1)).sum(), a_in)
            a_ref = a.clone().requires_grad_(True)
            want, = torch.autograd.grad((ref_composite(a_ref) * torch.arange(1.0, shape[-1] + 1)).sum(), a_ref)
            expect_close(grad, want, "the gradient of the weights with respect to the alphas", atol=1e-5,
                         wrong_variants={"the alive mask carries a gradient or the weights are detached: compute the mask under no_grad / .detach()": torch.zeros_like(want)})
        # in the dense rasterizer, against the reference rasterizer
        g = _gen(3)
        N, W, H = 40, 20, 16
        means2d = torch.rand(N, 2, generator=g) * torch.tensor([W, H])
        L = torch.randn(N, 2, 2, generator=g) * 1.5
        cov = L @ L.transpose(-1, -2) + 0.3 * torch.eye(2)
        det = cov[:, 0, 0] * cov[:, 1, 1] - cov[:, 0, 1] ** 2
        conics = torch.stack([cov[:, 1, 1] / det, -cov[:, 0, 1] / det, cov[:, 0, 0] / det], -1)
        colors, opac = torch.rand(N, 3, generator=g), 0.5 + 0.49 * torch.rand(N, generator=g)
        depths, radii = 1 + torch.rand(N, generator=g), torch.full((N, 2), 8, dtype=torch.int32)
        got = rasterize_dense(means2d, conics, colors, opac, depths, radii, W, H,
                              composite=lambda x: call(fn, x, what="composite_weights inside the dense rasterizer"))
        want = rasterize_dense(means2d, conics, colors, opac, depths, radii, W, H)
        for key in ("rgb", "alpha", "depth"):
            expect_close(got[key], want[key], f"the dense rasterizer's {key} with your compositing", atol=1e-5)

    run("05-3", "front-to-back alpha compositing with early termination", body)


# ---------------------------------------------------------------- 05-4 circular MultiDiffusion


class _ToyDenoiser:
    """A fixed nonlinear noise predictor that depends on t and on each pixel's column inside the window it sees."""

    def __init__(self, window: int, channels: int, seed: int) -> None:
        self.window = window
        self.weight = _randn(channels, channels, 3, 3, seed=seed) * 0.3
        self.ramp = torch.linspace(-1.0, 1.0, window)
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        if x.shape[-1] != self.window:
            raise CheckFailed(f"eps_fn was called on an input {x.shape[-1]} columns wide: the denoiser only ever sees windows "
                              f"of {self.window} columns (that is what MultiDiffusion is for); crop each window before calling it")
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1, 1)
        return torch.tanh(F.conv2d(x, self.weight, padding=1)) + 0.3 * self.ramp + 1e-3 * t


def _md_plain_variants(x: torch.Tensor, t, window: int, stride: int, model) -> dict[str, torch.Tensor]:
    W = x.shape[-1]
    offsets = list(range(0, W, stride))
    total, count = torch.zeros_like(x), torch.zeros(W)
    backwards = torch.zeros_like(x)
    for o in offsets:
        cols = (o + torch.arange(window)) % W
        e = model(x[..., cols], t)
        total[..., cols] += e
        count[cols] += 1
        backwards[..., cols.flip(0)] += e
    return {
        "the windows stop at the right edge: for a 360° panorama the windows wrap around (column index modulo W), so the last ones continue at column 0":
            multidiffusion_eps(model, x, t, window, stride, circular=False),
        "the overlapping predictions are summed, not averaged: divide each pixel by the number of windows that cover it": total,
        "the sum is divided by the number of windows: divide each pixel by the number of windows that cover *it*": total / len(offsets),
        "a window's prediction goes back to the wrong columns: put column k of window i back at column (offset_i + k) mod W": backwards / count,
    }


def check_circular_multidiffusion(fn) -> None:
    """05-4: ``fn(eps_fn, x_t (B, C, H, W), t, window, stride) -> eps (B, C, H, W)``, windows wrapping around the width."""

    def body() -> None:
        for seed, (B, C, H, W, window, stride, t) in enumerate([(2, 3, 8, 32, 16, 8, 500), (1, 3, 6, 24, 8, 4, torch.tensor([7])),
                                                                  (3, 2, 4, 16, 16, 16, 20)]):
            x = _randn(B, C, H, W, seed=seed)
            model = _ToyDenoiser(window, C, seed + 10)
            out = call(fn, model, x, t, window, stride, what=f"circular_multidiffusion_eps(eps_fn, x_t {tuple(x.shape)}, t, window={window}, stride={stride})")
            want = multidiffusion_eps(_ToyDenoiser(window, C, seed + 10), x, t, window, stride, circular=True)
            wrong = _md_plain_variants(x, t, window, stride, _ToyDenoiser(window, C, seed + 10)) if window < W else {}
            expect_close(out, want, f"the fused noise for a {W}-wide canvas, window {window}, stride {stride}", atol=1e-5, wrong_variants=wrong)
            if len(model.calls) != W // stride:
                raise CheckFailed(f"eps_fn was called {len(model.calls)} times for {W // stride} windows (offsets 0, {stride}, ..., {W - stride}): "
                                  "one call per window")

    run("05-4", "wrap-around MultiDiffusion step", body)


# ---------------------------------------------------------------- 05-5 global alignment loss


def _alignment_inputs(T: int, S: int, r: int, seed: int):
    mono = 0.3 + _rand(T, S, S, seed=seed) * 2
    field = 0.5 + _rand(T, S, S, seed=seed + 1) * 1.5
    scale_raw = _randn(T, seed=seed + 2)
    shift = _randn(T, r, r, seed=seed + 3) * 0.3
    mask = _rand(T, S, S, seed=seed + 4) > 0.3
    mask[0] = False  # an all-sky tile
    return mono, field, scale_raw, shift, mask


def _alignment_variants(mono, field, scale_raw, shift, mask, tv, sw) -> dict[str, torch.Tensor]:
    S = mono.shape[-1]
    alpha = F.softplus(scale_raw)[:, None, None]
    beta = upsample_shift(shift, S)

    def data(aligned, m=mask):
        return (((aligned - field) ** 2) * m).sum() / m.sum()

    tv_term, scale_term = tv * total_variation(shift), sw * ((F.softplus(scale_raw) - 1) ** 2).mean()
    nearest = F.interpolate(shift[:, None], size=(S, S), mode="nearest")[:, 0]
    corners = F.interpolate(shift[:, None], size=(S, S), mode="bilinear", align_corners=False)[:, 0]
    tv_sq = ((shift[:, 1:] - shift[:, :-1]) ** 2).mean() + ((shift[:, :, 1:] - shift[:, :, :-1]) ** 2).mean()
    return {
        "the scale is used raw: the per-tile scale is softplus(scale_raw), which keeps it positive": data(scale_raw[:, None, None] * mono + beta) + tv_term
            + sw * ((scale_raw - 1) ** 2).mean(),
        "the scale penalty is on the mean scale, (mean softplus(alpha) - 1)^2 (the reference code's form): penalise every tile, mean over tiles of (softplus(alpha_t) - 1)^2":
            data(alpha * mono + beta) + tv_term + sw * (F.softplus(scale_raw).mean() - 1) ** 2,
        "the mask is ignored: sky pixels have no depth, average the squared error over the masked pixels only":
            data(alpha * mono + beta, torch.ones_like(mask)) + tv_term + scale_term,
        "the squared error is averaged over all pixels: divide by the number of masked pixels, not by T*S*S":
            (((alpha * mono + beta - field) ** 2) * mask).mean() + tv_term + scale_term,
        "the shift maps are upsampled with nearest neighbours: use bilinear interpolation with align_corners=True":
            data(alpha * mono + nearest) + tv_term + scale_term,
        "the shift maps are upsampled without align_corners: use F.interpolate(..., mode='bilinear', align_corners=True)":
            data(alpha * mono + corners) + tv_term + scale_term,
        "the TV term is missing: add tv_weight * TV(shift_lowres)": data(alpha * mono + beta) + scale_term,
        "the TV term squares the differences: TV is the mean *absolute* difference of neighbours (rows and columns)":
            data(alpha * mono + beta) + tv * tv_sq + scale_term,
        "the TV term is taken on the upsampled map: take it on the low-resolution shift_lowres":
            data(alpha * mono + beta) + tv * total_variation(beta) + scale_term,
        "the shift is scaled too: the model is softplus(alpha) * D + beta, not softplus(alpha) * (D + beta)":
            data(alpha * (mono + beta)) + tv_term + scale_term,
        "the scale penalty is missing: add scale_weight * mean_t (softplus(alpha_t) - 1)^2": data(alpha * mono + beta) + tv_term,
    }


def check_alignment_loss(fn) -> None:
    """05-5: ``fn(mono, field_distance, scale_raw, shift_lowres, mask, tv_weight, scale_weight) -> scalar`` (Eq. 2)."""

    def body() -> None:
        for seed, (T, S, r, tv, sw) in enumerate([(5, 8, 4, 0.01, 0.1), (3, 16, 8, 0.5, 2.0), (4, 6, 3, 0.2, 0.7)]):
            mono, field, scale_raw, shift, mask = _alignment_inputs(T, S, r, seed)
            leaves = [t.clone().requires_grad_(True) for t in (field, scale_raw, shift)]
            got = call(fn, mono, leaves[0], leaves[1], leaves[2], mask, tv, sw,
                       what=f"alignment_loss(mono {tuple(mono.shape)}, field_distance, scale_raw ({T},), shift_lowres ({T}, {r}, {r}), mask, {tv}, {sw})")
            if isinstance(got, torch.Tensor) and got.numel() == 1 and got.ndim > 0:
                raise CheckFailed(f"the loss has shape {tuple(got.shape)}: return a 0-d tensor (a scalar), e.g. with .sum() / .mean()")
            want = ref_alignment_loss(mono, field, scale_raw, shift, mask, tv, sw)
            expect_close(got, want, "the alignment loss", atol=1e-5, rtol=1e-5,
                         wrong_variants=_alignment_variants(mono, field, scale_raw, shift, mask, tv, sw))
            if not got.requires_grad:
                raise CheckFailed("the loss carries no gradient: compute it with torch operations on the given tensors (no .item(), no .detach())")
            grads = torch.autograd.grad(got, leaves, allow_unused=True)
            refs = [p.clone().requires_grad_(True) for p in (field, scale_raw, shift)]
            want_grads = torch.autograd.grad(ref_alignment_loss(mono, refs[0], refs[1], refs[2], mask, tv, sw), refs)
            for name, g_got, g_want in zip(("field_distance", "scale_raw", "shift_lowres"), grads, want_grads):
                if g_got is None:
                    raise CheckFailed(f"the loss does not depend on {name}: Eq. 2 fits the field, the scales and the shift maps")
                expect_close(g_got, g_want, f"the gradient with respect to {name}", atol=1e-5, rtol=1e-4)

    run("05-5", "global depth alignment objective (Eq. 2)", body)


# ---------------------------------------------------------------- 05-6 virtual cameras and L_geo


def _moved(camera: Camera, delta: torch.Tensor) -> torch.Tensor:
    return camera.position + delta


def check_virtual_views(perturb, regulariser) -> None:
    """05-6: ``perturb(camera, gamma, generator) -> Camera`` and ``regulariser(rendered_depth, prior_depth, mask) -> scalar``."""

    def body() -> None:
        for seed, gamma in enumerate((1.0, 2.0, 4.0)):
            cam = _cameras(seed)[seed]
            got = call(perturb, cam, gamma, _gen(seed + 7), what=f"perturb_camera(camera, gamma={gamma}, generator)")
            if not isinstance(got, Camera):
                raise CheckFailed(f"perturb_camera returned {type(got).__name__}: return a course_lib Camera (Camera(K, viewmat, width, height))")
            if got is cam or got.viewmat.data_ptr() == cam.viewmat.data_ptr():
                raise CheckFailed("perturb_camera returned the training camera itself (or shares its viewmat): build a new Camera from a copy")
            if not torch.equal(got.K, cam.K) or (got.width, got.height) != (cam.width, cam.height):
                raise CheckFailed("the virtual camera's intrinsics or image size changed: only its position moves")
            if not torch.allclose(got.viewmat[:3, :3], cam.viewmat[:3, :3], atol=1e-6):
                raise CheckFailed("the virtual camera is rotated: DreamScene360 moves the camera centre and keeps its orientation")
            u = torch.rand(3, generator=_gen(seed + 7))
            want = _moved(cam, (u * 2 - 1) * OFFSET * gamma)
            if torch.allclose(got.position, want, atol=1e-6):
                continue
            R = cam.viewmat[:3, :3]
            hints = {
                "the offset is drawn from a normal distribution: draw it uniformly, (torch.rand(3, generator=generator) * 2 - 1) * 0.05 * gamma":
                    _moved(cam, torch.randn(3, generator=_gen(seed + 7)) * OFFSET * gamma),
                "gamma is ignored: the offset is U[-0.05, 0.05] scaled by gamma (1, 2, 4 in stages)": _moved(cam, (u * 2 - 1) * OFFSET),
                "the offset is U[0, 0.05] * gamma: it is symmetric, U[-0.05, 0.05] * gamma = (rand * 2 - 1) * 0.05 * gamma":
                    _moved(cam, u * OFFSET * gamma),
                "the offset was added to viewmat's translation t: that moves the camera by -R^T delta; move the centre by delta, t' = t - R delta":
                    cam.position - R.T @ ((u * 2 - 1) * OFFSET * gamma),
                "the camera moved by -delta: its centre must move by +delta (t' = t - R delta)": _moved(cam, -(u * 2 - 1) * OFFSET * gamma),
                "the offset is not drawn from `generator`: draw it with torch.rand(3, generator=generator) so the run is reproducible": None,
            }
            found = next((text for text, pos in hints.items() if pos is not None and torch.allclose(got.position, pos, atol=1e-6)), None)
            moved = float((got.position - cam.position).abs().max())
            if found is None and moved <= OFFSET * gamma + 1e-6:
                found = "the offset is not drawn from `generator`: draw it with torch.rand(3, generator=generator) so the run is reproducible"
            raise CheckFailed(found or f"the virtual camera sits {moved:.3f} from the training camera along some axis; with gamma={gamma} "
                                       f"it may move at most {OFFSET * gamma:.2f} per axis, by (torch.rand(3, generator=generator) * 2 - 1) * 0.05 * gamma")
        for seed, shape in enumerate(((12, 10), (3, 9, 7))):
            rendered = 1 + _rand(*shape, seed=seed + 20) * 3
            prior = 0.7 * rendered + 0.5 * _randn(*shape, seed=seed + 21)
            mask = _rand(*shape, seed=seed + 22) > 0.25
            r_in, p_in = rendered.clone().requires_grad_(True), prior.clone().requires_grad_(True)
            got = call(regulariser, r_in, p_in, mask, what=f"depth_regulariser(rendered_depth {tuple(shape)}, prior_depth, mask)")
            want = ref_depth_regulariser(rendered, prior, mask)
            b = (lambda x: x if x.ndim == 3 else x[None])
            ra, pa, ma = b(rendered), b(prior), b(mask)

            def cosine(x, y, m):
                return ((x * y * m).sum((1, 2)) / ((x * x * m).sum((1, 2)).sqrt() * (y * y * m).sum((1, 2)).sqrt()))

            wrong = {
                "that is the Pearson correlation itself: the loss is 1 - Pearson (0 when the depths agree up to scale and shift)": 1 - want,
                "the mask is ignored: compare the depths only where the render is opaque (mask True)": ref_depth_regulariser(rendered, prior, None),
                "the maps are not centred: Pearson subtracts each map's mean (over the mask) before the cosine": 1 - cosine(ra, pa, ma).mean(),
                "the maps are centred over all pixels, not over the mask": 1 - cosine(ra - ra.mean((1, 2), keepdim=True), pa - pa.mean((1, 2), keepdim=True), ma).mean(),
            }
            expect_close(got, want, f"L_geo for depth maps {tuple(shape)}", atol=1e-5, wrong_variants=wrong)
            got.backward()
            if r_in.grad is None or not torch.isfinite(r_in.grad).all() or r_in.grad.abs().sum() == 0:
                raise CheckFailed("L_geo gives no gradient to the rendered depth: it is what the regulariser trains")
            if p_in.grad is not None and p_in.grad.abs().sum() > 0:
                raise CheckFailed("L_geo sends a gradient into the prior's depth: it is a target, detach it (prior_depth.detach())")
            shifted = call(regulariser, rendered, 3.0 * prior + 2.0, mask, what="depth_regulariser with the prior's depth scaled by 3 and shifted by 2")
            if not is_close(shifted, want, atol=1e-5):
                raise CheckFailed("L_geo changes when the prior's depth is scaled and shifted: a monocular depth is known only up to "
                                  "scale and shift, so the loss must not depend on them (Pearson does not)")

    run("05-6", "virtual cameras and the geometric regulariser", body)
