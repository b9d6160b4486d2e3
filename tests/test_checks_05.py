"""Chapter 05 checkers accept correct implementations and reject plausible wrong ones, in words."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.geometry.cameras import Camera
from course_lib.grading import checks_05
from course_lib.grading.checking import CheckFailed

# --- correct implementations, written independently of course_lib (the checker refuses course_lib's own) ---


def covariance(quats, scales):
    q = quats / quats.norm(dim=-1, keepdim=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    R = torch.stack([
        torch.stack([1 - 2 * (y**2 + z**2), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x**2 + z**2), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x**2 + y**2)], -1),
    ], -2)
    M = R * scales[:, None, :]
    return M @ M.transpose(1, 2)


def ewa_project(means, covars, viewmat, K, width, height, *, low_pass=0.3, clamp=True, sign=-1.0, rotate=True, offset=True):
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    p = means @ R.T + t
    cov = R @ covars @ R.T if rotate else covars
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    z = p[:, 2]
    tx, ty = p[:, 0] / z, p[:, 1] / z
    if clamp:
        lim_x, lim_y = 1.3 * 0.5 * width / fx, 1.3 * 0.5 * height / fy
        tx, ty = tx.clamp(-lim_x, lim_x), ty.clamp(-lim_y, lim_y)
    J = torch.zeros(means.shape[0], 2, 3)
    J[:, 0, 0], J[:, 0, 2] = fx / z, sign * fx * tx / z
    J[:, 1, 1], J[:, 1, 2] = fy / z, sign * fy * ty / z
    cov2d = J @ cov @ J.transpose(1, 2) + low_pass * torch.eye(2)
    inv = torch.linalg.inv(cov2d)
    conics = torch.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], -1)
    means2d = torch.stack([fx * p[:, 0] / z + (cx if offset else 0.0), fy * p[:, 1] / z + (cy if offset else 0.0)], -1)
    return means2d, cov2d, conics, z


def composite(alphas, *, late=False, no_stop=False, own=False):
    one_minus = 1 - alphas
    T = torch.cumprod(torch.cat([torch.ones_like(alphas[..., :1]), one_minus[..., :-1]], -1), -1)
    T_after = T * one_minus
    if own:
        T = T_after
    if no_stop:
        return alphas * T
    keep = (T > 1e-4) if late else (T_after > 1e-4)
    return alphas * T * keep.detach().float()


def circular_md(eps_fn, x_t, t, window, stride):
    W = x_t.shape[-1]
    out, hits = torch.zeros_like(x_t), torch.zeros(W)
    for start in range(0, W, stride):
        idx = torch.arange(start, start + window) % W
        out[..., idx] = out[..., idx] + eps_fn(x_t[..., idx], t)
        hits[idx] += 1
    return out / hits


def circular_md_roll(eps_fn, x_t, t, window, stride):
    """Another correct way: roll the canvas so each window starts at column 0."""
    W = x_t.shape[-1]
    out, hits = torch.zeros_like(x_t), torch.zeros(W)
    for start in range(0, W, stride):
        rolled = x_t.roll(-start, dims=-1)
        eps = torch.zeros_like(x_t)
        eps[..., :window] = eps_fn(rolled[..., :window], t)
        out = out + eps.roll(start, dims=-1)
        mark = torch.zeros(W)
        mark[:window] = 1
        hits = hits + mark.roll(start)
    return out / hits


def alignment_loss(mono, field_distance, scale_raw, shift_lowres, mask, tv_weight, scale_weight):
    S = mono.shape[-1]
    shift = F.interpolate(shift_lowres.unsqueeze(1), size=(S, S), mode="bilinear", align_corners=True).squeeze(1)
    scale = F.softplus(scale_raw)
    err = (scale.view(-1, 1, 1) * mono + shift - field_distance)[mask]
    tv = (shift_lowres.diff(dim=1).abs().mean() + shift_lowres.diff(dim=2).abs().mean())
    return err.pow(2).mean() + tv_weight * tv + scale_weight * (scale - 1).pow(2).mean()


def perturb(camera, gamma, generator=None):
    delta = (torch.rand(3, generator=generator) * 2 - 1) * 0.05 * gamma
    R, t = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    viewmat = camera.viewmat.clone()
    viewmat[:3, 3] = t - R @ delta
    return Camera(camera.K, viewmat, camera.width, camera.height)


def geo_loss(rendered_depth, prior_depth, mask=None):
    if rendered_depth.ndim == 2:
        rendered_depth, prior_depth = rendered_depth[None], prior_depth[None]
        mask = None if mask is None else mask[None]
    prior_depth = prior_depth.detach()
    mask = torch.ones_like(rendered_depth, dtype=torch.bool) if mask is None else mask
    losses = []
    for r, p, m in zip(rendered_depth, prior_depth, mask):
        r, p = r[m], p[m]
        r, p = r - r.mean(), p - p.mean()
        losses.append(1 - (r * p).sum() / (r.norm() * p.norm() + 1e-12))
    return torch.stack(losses).mean()


def test_checkers_accept_correct_code(capsys):
    checks_05.check_covariance(covariance)
    checks_05.check_ewa_project(ewa_project)
    checks_05.check_composite(composite)
    checks_05.check_circular_multidiffusion(circular_md)
    checks_05.check_alignment_loss(alignment_loss)
    checks_05.check_virtual_views(perturb, geo_loss)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "✅ 05-1 3D covariance from quaternion and scale: correct",
        "✅ 05-2 EWA projection to a 2D covariance and its conic: correct",
        "✅ 05-3 front-to-back alpha compositing with early termination: correct",
        "✅ 05-4 wrap-around MultiDiffusion step: correct",
        "✅ 05-5 global depth alignment objective (Eq. 2): correct",
        "✅ 05-6 virtual cameras and the geometric regulariser: correct",
    ]


def test_checkers_accept_valid_alternatives(capsys):
    checks_05.check_circular_multidiffusion(circular_md_roll)
    checks_05.check_covariance(lambda q, s: covariance(q * 5.0, s))  # any quaternion length
    assert capsys.readouterr().out.count("correct") == 2


def test_checkers_refuse_course_lib_reference():
    from course_lib.splatting import covariance_3d

    _fails(checks_05.check_covariance, covariance_3d, "course_lib's reference")


def _fails(check, *fns_and_words):
    *fns, words = fns_and_words if isinstance(fns_and_words[-1], tuple) else (*fns_and_words[:-1], (fns_and_words[-1],))
    with pytest.raises(CheckFailed) as err:
        check(*fns)
    message = str(err.value)
    for word in words:
        assert word in message, message
    return message


def test_covariance_rejects_wrong_code():
    check = checks_05.check_covariance

    def unnormalised(quats, scales):
        w, x, y, z = quats.unbind(-1)
        R = torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y), 2 * (x * y + w * z), 1 - 2 * (x * x + z * z),
                         2 * (y * z - w * x), 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1).view(-1, 3, 3)
        return R @ torch.diag_embed(scales**2) @ R.transpose(1, 2)

    def scale_once(quats, scales):
        return covariance(quats, scales.sqrt())

    def transposed(quats, scales):
        q = quats * torch.tensor([1.0, -1.0, -1.0, -1.0])  # the conjugate quaternion: R^T
        return covariance(q, scales)

    def xyzw(quats, scales):
        return covariance(quats[:, [1, 2, 3, 0]], scales)

    def detached(quats, scales):
        return covariance(quats.detach(), scales.detach())

    _fails(check, unnormalised, "not normalised")
    _fails(check, scale_once, "scales enter once")
    _fails(check, transposed, "swapped")
    _fails(check, xyzw, "(w, x, y, z)")
    _fails(check, detached, "no gradient")
    _fails(check, lambda q, s: torch.diag_embed(s**2), "rotation is missing")


def test_ewa_project_rejects_wrong_code():
    check = checks_05.check_ewa_project
    _fails(check, lambda *a: ewa_project(*a, low_pass=0.0), "low-pass")
    _fails(check, lambda *a: ewa_project(*a, sign=1.0), "wrong sign")
    _fails(check, lambda *a: ewa_project(*a, clamp=False), "clamped")
    _fails(check, lambda *a: ewa_project(*a, rotate=False), "rotated into the camera frame")
    _fails(check, lambda *a: ewa_project(*a, offset=False), "principal point")

    def cov_as_conic(*a):
        m, c, _, z = ewa_project(*a)
        return m, c, torch.stack([c[:, 0, 0], c[:, 0, 1], c[:, 1, 1]], -1), z

    def distance_depth(*a):
        m, c, k, _ = ewa_project(*a)
        R, t = a[2][:3, :3], a[2][:3, 3]
        return m, c, k, (a[0] @ R.T + t).norm(dim=-1)

    def three_things(*a):
        return ewa_project(*a)[:3]

    _fails(check, cov_as_conic, "inverse")
    _fails(check, distance_depth, "camera-space z")
    _fails(check, three_things, "tuple")


def test_composite_rejects_wrong_code():
    check = checks_05.check_composite
    _fails(check, lambda a: composite(a, no_stop=True), "no early termination")
    _fails(check, lambda a: composite(a, late=True), "one splat late")
    _fails(check, lambda a: composite(a, own=True), "own alpha")
    _fails(check, lambda a: composite(a.flip(-1)).flip(-1), "back to front")
    _fails(check, lambda a: a.clone(), "alphas alone")
    _fails(check, lambda a: composite(a).detach(), "no gradient")

    def sum_rule(a):
        T = (1 - torch.cat([torch.zeros_like(a[..., :1]), a.cumsum(-1)[..., :-1]], -1)).clamp(min=0)
        return a * T

    _fails(check, sum_rule, "product")


def test_circular_multidiffusion_rejects_wrong_code():
    check = checks_05.check_circular_multidiffusion

    def clipped(eps_fn, x_t, t, window, stride):
        W = x_t.shape[-1]
        starts = list(range(0, W - window + 1, stride))
        if starts[-1] != W - window:
            starts.append(W - window)
        out, hits = torch.zeros_like(x_t), torch.zeros(W)
        for s in starts:
            out[..., s:s + window] += eps_fn(x_t[..., s:s + window], t)
            hits[s:s + window] += 1
        return out / hits

    def summed(eps_fn, x_t, t, window, stride):
        return circular_md(eps_fn, x_t, t, window, stride) * (window // stride)

    def per_window_count(eps_fn, x_t, t, window, stride):
        return circular_md(eps_fn, x_t, t, window, stride) * (window // stride) / (x_t.shape[-1] // stride)

    def whole_canvas(eps_fn, x_t, t, window, stride):
        return eps_fn(x_t, t)

    def zero_time(eps_fn, x_t, t, window, stride):
        return circular_md(eps_fn, x_t, 0, window, stride)

    _fails(check, clipped, "wrap around")
    _fails(check, summed, "summed")
    _fails(check, per_window_count, "number of windows")
    _fails(check, whole_canvas, "columns wide")
    _fails(check, zero_time, "differs from the reference")


def test_alignment_loss_rejects_wrong_code():
    check = checks_05.check_alignment_loss

    def variant(**kw):
        def loss(mono, field, scale_raw, shift, mask, tv, sw):
            S = mono.shape[-1]
            mode = kw.get("mode", "bilinear")
            up = F.interpolate(shift[:, None], size=(S, S), mode=mode, **({"align_corners": kw.get("corners", True)} if mode == "bilinear" else {}))[:, 0]
            scale = scale_raw if kw.get("raw") else F.softplus(scale_raw)
            m = torch.ones_like(mask) if kw.get("no_mask") else mask
            err = ((scale[:, None, None] * mono + up - field) ** 2 * m).sum() / m.sum()
            tv_term = shift.diff(dim=1).abs().mean() + shift.diff(dim=2).abs().mean()
            penalty = (scale.mean() - 1) ** 2 if kw.get("mean_penalty") else ((scale - 1) ** 2).mean()
            return err + (0 if kw.get("no_tv") else tv) * tv_term + sw * penalty
        return loss

    _fails(check, variant(raw=True), "softplus")
    _fails(check, variant(mean_penalty=True), "mean scale")
    _fails(check, variant(no_mask=True), "mask is ignored")
    _fails(check, variant(mode="nearest"), "nearest")
    _fails(check, variant(corners=False), "align_corners")
    _fails(check, variant(no_tv=True), "TV term is missing")
    _fails(check, lambda *a: alignment_loss(*a).reshape(1), "0-d tensor")
    _fails(check, lambda *a: alignment_loss(*a).detach(), "no gradient")


def test_virtual_views_reject_wrong_code():
    check = checks_05.check_virtual_views

    def gaussian(camera, gamma, generator=None):
        delta = torch.randn(3, generator=generator) * 0.05 * gamma
        vm = camera.viewmat.clone()
        vm[:3, 3] -= vm[:3, :3] @ delta
        return Camera(camera.K, vm, camera.width, camera.height)

    def no_gamma(camera, gamma, generator=None):
        return perturb(camera, 1.0, generator)

    def in_camera_frame(camera, gamma, generator=None):
        delta = (torch.rand(3, generator=generator) * 2 - 1) * 0.05 * gamma
        vm = camera.viewmat.clone()
        vm[:3, 3] += delta
        return Camera(camera.K, vm, camera.width, camera.height)

    def unseeded(camera, gamma, generator=None):
        return perturb(camera, gamma, None)

    def same_camera(camera, gamma, generator=None):
        return camera

    _fails(check, gaussian, geo_loss, "uniformly")
    _fails(check, no_gamma, geo_loss, "gamma is ignored")
    _fails(check, in_camera_frame, geo_loss, "viewmat's translation")
    _fails(check, unseeded, geo_loss, "generator")
    _fails(check, same_camera, geo_loss, "itself")

    def pearson_itself(r, p, m=None):
        return 1 - geo_loss(r, p, m)

    def no_mask(r, p, m=None):
        return geo_loss(r, p, None)

    def not_detached(r, p, m=None):
        r, p, m = r[None], p[None], m[None]
        rc, pc = r[m] - r[m].mean(), p[m] - p[m].mean()
        return 1 - (rc * pc).sum() / (rc.norm() * pc.norm())

    def mse(r, p, m=None):
        return ((r - p) ** 2)[m].mean()

    _fails(check, perturb, pearson_itself, "1 - Pearson")
    _fails(check, perturb, no_mask, "mask is ignored")
    _fails(check, perturb, not_detached, "detach")
    _fails(check, perturb, mse, "differs")
