"""Chapter 06 checkers accept correct implementations and reject plausible wrong ones, in words."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.diffusion.schedule import alphas_cumprod
from course_lib.grading import checks_06
from course_lib.grading.checking import CheckFailed

# --- correct implementations, written independently of course_lib (the checker refuses course_lib's own) ---
# (alphas_cumprod is the prior's noise schedule, data the learner is given, not an exercise)


def align_depth(pred, target, mask, *, use_mask=True, shift=True, inverted=False, multiply=False, solved=False):
    if multiply:  # weights instead of selection: right for finite targets, NaN where the target is inf outside the mask
        w = mask.float()
        n = w.sum()
        pm, dm = (pred * w).sum() / n, (target * w).sum() / n
        s = (w * (pred - pm) * (target - dm)).sum() / (w * (pred - pm) ** 2).sum()
        return s, dm - s * pm
    p, d = (pred[mask], target[mask]) if use_mask else (pred.reshape(-1), target.reshape(-1))
    if inverted:
        p, d = d, p
    if not shift:
        return (p * d).sum() / (p * p).sum(), torch.zeros(())
    pm, dm = p.mean(), d.mean()
    s = ((p - pm) * (d - dm)).sum() / ((p - pm) ** 2).sum()
    if solved:  # pred = s target + b fitted, then solved for target
        return 1 / s, -(dm - s * pm) / s
    return s, dm - s * pm


def align_depth_lstsq(pred, target, mask):
    """Another correct way: torch.linalg.lstsq in float32, returning Python floats."""
    A = torch.stack([pred[mask], torch.ones_like(pred[mask])], 1)
    sol = torch.linalg.lstsq(A, target[mask][:, None]).solution
    return float(sol[0, 0]), float(sol[1, 0])


def lift_pixels(camera, depth, rgb, mask, *, half=0.5, along_ray=False, frame="world", swap=False, footprint="z/f", all_pixels=False):
    if all_pixels:
        mask = torch.ones_like(mask)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    z = depth[rows, cols]
    K = camera.K
    u, v = (rows, cols) if swap else (cols, rows)
    direction = torch.stack([(u + half - K[0, 2]) / K[0, 0], (v + half - K[1, 2]) / K[1, 1], torch.ones_like(z)], -1)
    if along_ray:
        direction = direction / direction.norm(dim=-1, keepdim=True)
    cam = direction * z[:, None]
    R, t = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    if frame == "world":
        points = (R.T @ (cam - t).T).T
    elif frame == "viewmat":
        points = (R @ cam.T).T + t
    else:
        points = cam
    f = K[0, 0]
    size = {"z/f": z / f, "z*f": z * f, "1/z": 1 / z, "z/cx": z / K[0, 2]}[footprint]
    return points, rgb[rows, cols], size


def occluded_grid(grid, origin, voxel, camera, ground, behind, *, empty=True, frustum=True, above=True, bound=-0.5, outward=False):
    """March all the voxels' lines together, one half-voxel step at a time."""
    shape = torch.tensor(grid.shape)
    ijk = torch.stack(torch.meshgrid(*(torch.arange(n) for n in grid.shape), indexing="ij"), -1).float()
    centres = origin + (ijk + 0.5) * voxel
    R, t = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    eye = -R.T @ t
    pc = centres @ R.T + t
    proj = pc @ camera.K.T
    u, v = proj[..., 0] / pc[..., 2], proj[..., 1] / pc[..., 2]
    candidate = torch.ones(grid.shape, dtype=torch.bool)
    if empty:
        candidate &= ~grid
    if frustum:
        candidate &= (pc[..., 2] > 0) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    if above:
        candidate &= centres[..., 2] > ground + voxel / 2
    d = centres - eye
    length = d.norm(dim=-1)
    unit = d / length[..., None]
    step = voxel / 2
    first = torch.full(grid.shape, math.inf)
    limit = float(length.max()) + (float(shape.float().norm()) * voxel if math.isinf(bound) else max(bound, 0.0) * voxel)
    n = 1
    while n * step < limit:
        s = n * step
        if outward:
            p, active = centres - unit * s, s < length - step
        else:
            p, active = eye + unit * s, s < length + bound * voxel
        c = torch.floor((p - origin) / voxel).long()
        inside = ((c >= 0) & (c < shape)).all(-1)
        c = c.clamp(min=0).minimum(shape - 1)
        hit = grid[c[..., 0], c[..., 1], c[..., 2]] & inside & active & torch.isinf(first)
        first = torch.where(hit, torch.full_like(first, s), first)
        n += 1
    gap = first if outward else length - first
    return candidate & torch.isfinite(first) & (gap <= behind)


def occluded_grid_loop(grid, origin, voxel, camera, ground, behind):
    """Another correct way: one voxel at a time, in float64, walking its line until the first occupied sample."""
    R, t, K = camera.viewmat[:3, :3].double(), camera.viewmat[:3, 3].double(), camera.K.double()
    eye, origin = -R.T @ t, origin.double()
    out = torch.zeros(grid.shape, dtype=torch.bool)
    for i, j, k in (~grid).nonzero().tolist():
        centre = origin + voxel * (torch.tensor([i, j, k], dtype=torch.float64) + 0.5)
        x, y, z = (R @ centre + t).tolist()
        u, v = (K[0, 0] * x / z + K[0, 2]).item(), (K[1, 1] * y / z + K[1, 2]).item()
        if z <= 0 or not (0 <= u < camera.width and 0 <= v < camera.height) or centre[2] <= ground + voxel / 2:
            continue
        length = float((centre - eye).norm())
        n = 1
        while n * voxel / 2 < length - voxel / 2:
            p = eye + (centre - eye) * (n * voxel / 2 / length)
            cell = torch.floor((p - origin) / voxel).long()
            if all(0 <= c < s for c, s in zip(cell.tolist(), grid.shape)) and grid[tuple(cell.tolist())]:
                out[i, j, k] = length - n * voxel / 2 <= behind
                break
            n += 1
    return out


def lift_pixels_inverse(camera, depth, rgb, mask):
    """Another correct way: homogeneous coordinates through K^-1 and viewmat^-1."""
    H, W = depth.shape
    v, u = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    cam = (torch.stack([u, v, torch.ones_like(u)], -1) * depth[..., None]) @ torch.linalg.inv(camera.K).T
    world = torch.cat([cam, torch.ones_like(depth)[..., None]], -1) @ torch.linalg.inv(camera.viewmat).T
    return world[..., :3][mask], rgb[mask], depth[mask] / camera.K[0, 0]


def guidance(e0, ei, eit, s_i, s_t):
    return (1 - s_i) * e0 + (s_i - s_t) * ei + s_t * eit  # Eq. 2, expanded


def distillation_target(eps_fn, x, t, noise, steps=1, *, noised=True, swap_noise=False, swap_x0=False, unscaled=False,
                        clamp=True, no_grad=True, first_t=False):
    if first_t:
        t = t[:1].expand_as(t)
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    src = x.detach() if no_grad else x
    with torch.set_grad_enabled(not no_grad):
        c_x, c_n = ((1 - a).sqrt(), a.sqrt()) if swap_noise else (a.sqrt(), (1 - a).sqrt())
        x_t = c_x * src + c_n * noise if noised else src
        eps = eps_fn(x_t, t)
        if unscaled:
            x_hat = x_t - eps
        elif swap_x0:
            x_hat = (x_t - a.sqrt() * eps) / (1 - a).sqrt()
        else:
            x_hat = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        return x_hat.clamp(-1, 1) if clamp else x_hat


def my_ssim(a, b):
    """SSIM of (B, C, H, W) images in [0, 1]: 11x11 Gaussian window, sigma 1.5, zero padding."""
    C = a.shape[1]
    g = torch.exp(-((torch.arange(11.0) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).repeat(C, 1, 1, 1)

    def blur(z):
        return F.conv2d(z, w, padding=5, groups=C)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))).mean()


def inpaint_loss(x, x_hat, mask, anchor, wi, ws, wa, *, image_all=False, anchor_masked=False, ssim_raw=False, swap="",
                 keep_grad=False, ssim_layout=False, masked_mean=False, no_anchor=False):
    target = x_hat if keep_grad else x_hat.detach()
    image = ((x - target) ** 2).mean() if image_all else ((mask * (x - target)) ** 2).mean()
    if masked_mean:
        image = ((x - target) ** 2 * mask).sum() / (mask.sum() * x.shape[1])
    if ssim_layout:  # (B, 3, H, W) handed to an ssim that reads (B, H, W, C)
        structure = 1 - my_ssim(((x + 1) / 2).permute(0, 3, 1, 2), ((target + 1) / 2).permute(0, 3, 1, 2))
    elif ssim_raw:
        structure = 1 - my_ssim(x, target)
    else:
        structure = 1 - my_ssim((x + 1) / 2, (target + 1) / 2)
    keep = ((mask * (x - anchor)) ** 2).mean() if anchor_masked else (((1 - mask) * (x - anchor)) ** 2).mean()
    if swap == "image-anchor":
        wi, wa = wa, wi
    elif swap == "image-ssim":
        wi, ws = ws, wi
    if no_anchor:
        wa = 0.0
    return wi * image + ws * structure + wa * keep


def depth_loss(depth, prior_depth, mask, *, sign=-1.0, offset=0.0, use_mask=True, centre="mask", detach=True):
    prior_depth = prior_depth.detach() if detach else prior_depth
    values = []
    for d, p, m in zip(depth, prior_depth, mask):
        if centre == "all":
            d, p = d - d.mean(), p - p.mean()
        if use_mask:
            d, p = d[m], p[m]
        else:
            d, p = d.reshape(-1), p.reshape(-1)
        if centre == "mask":
            d, p = d - d.mean(), p - p.mean()
        values.append((d * p).sum() / (d.norm() * p.norm()))
    return offset + sign * torch.stack(values).mean()


def sds_gradient(eps_fn, x, t, noise, *, weight="1-a", sign=1.0, noised=True, first_t=False, first_t_weight=False, swap_noise=False):
    if first_t:
        t = t[:1].expand_as(t)
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    with torch.no_grad():
        x_t = a.sqrt() * x + (1 - a).sqrt() * noise if noised else x
        if swap_noise:
            x_t = (1 - a).sqrt() * x + a.sqrt() * noise
        w = {"1-a": 1 - a, "a": a, "sqrt": (1 - a).sqrt(), "none": torch.ones_like(a)}[weight]
        if first_t_weight:
            w = 1 - alphas_cumprod()[t[0]]
        return sign * w * (eps_fn(x_t, t) - noise)


# --- they pass ---


def test_checkers_accept_correct_code(capsys):
    checks_06.check_lift(align_depth, lift_pixels)
    checks_06.check_occlusion(occluded_grid)
    checks_06.check_guidance(guidance)
    checks_06.check_inpainting_distillation(distillation_target, inpaint_loss)
    checks_06.check_depth_loss(depth_loss)
    checks_06.check_sds(sds_gradient)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "✅ 06-1 depth alignment and lifting to Gaussians: correct",
        "✅ 06-2 the occlusion volume (line march): correct",
        "✅ 06-3 3-way classifier-free guidance (Eq. 2): correct",
        "✅ 06-4 inpainting distillation (Eq. 5): correct",
        "✅ 06-5 depth distillation (Eq. 6): correct",
        "✅ 06-6 the SDS baseline gradient: correct",
        "progress of chapter 06: all 6 exercises pass in this kernel",
    ]


def test_checkers_accept_valid_alternatives(capsys):
    checks_06.check_lift(align_depth_lstsq, lift_pixels_inverse)
    checks_06.check_occlusion(occluded_grid_loop)
    checks_06.check_guidance(lambda e0, ei, eit, s_i, s_t: e0 + s_i * (ei - e0) + s_t * (eit - ei))
    # computed in float64, returned in float32
    checks_06.check_depth_loss(lambda d, p, m: depth_loss(d.double(), p.double(), m).float())
    assert capsys.readouterr().out.count(": correct") == 4


def test_checkers_refuse_course_lib_reference():
    from course_lib.diffusion.guidance import image_text_guidance

    with pytest.raises(CheckFailed, match="imported rather than written"):
        checks_06.check_guidance(image_text_guidance)


def test_the_last_check_prints_the_progress_line(capsys):
    with pytest.raises(CheckFailed):
        checks_06.check_sds(lambda eps_fn, x, t, noise: sds_gradient(eps_fn, x, t, noise, weight="none"))
    assert "progress of chapter 06" in capsys.readouterr().out


def test_require_names_the_open_exercise(monkeypatch):
    from course_lib.grading import checking

    monkeypatch.setattr(checking, "_PASSED", {"06-1"})
    with pytest.raises(CheckFailed, match=r"exercise 06-2 \(the occlusion volume \(line march\)\)"):
        checks_06.require("06-1", "06-2", what="the initialisation")


# --- the hand-built occlusion case shows what it says it shows ---


def test_the_wall_case_has_every_kind_of_voxel():
    grid, origin, voxel, camera, ground, behind = checks_06._occlusion_case("wall")
    ref = occluded_grid(grid, origin, voxel, camera, ground, behind)
    assert ref[4, 3:5, 2:4].all() and ref[5, 3:5, 2:4].all()  # right behind the wall
    assert not ref[:3].any() and not ref[3].any()  # in front of the wall, and the wall itself
    assert not ref[6:].any()  # more than `behind` behind the first wall (and behind the second)
    assert not ref[..., :2].any() and occluded_grid(grid, origin, voxel, camera, ground, behind, above=False)[4:6, 3:5, 1].all()
    assert not ref[4:6, 0].any() and occluded_grid(grid, origin, voxel, camera, ground, behind, frustum=False)[4, 0, 2:].all()
    assert not ref[4:6, :, 5].any() and occluded_grid(grid, origin, voxel, camera, ground, behind, frustum=False)[4:6, 3:5, 5].all()
    assert occluded_grid(grid, origin, voxel, camera, ground, behind, outward=True)[8, 3:5, 2:4].all()  # behind the second wall
    assert occluded_grid(grid, origin, voxel, camera, ground, math.inf)[8:, 3:5, 2:4].all()


def test_the_checkers_own_march_agrees_with_the_reference():
    from course_lib.text_to_3d.realmdreamer.occlusion import occluded_grid as reference

    for name in ("wall", "random 0", "random 1", "random 2"):
        args = checks_06._occlusion_case(name)
        want = reference(*args)
        assert torch.equal(checks_06._march(*args)[0], want)
        assert torch.equal(occluded_grid(*args), want)
        assert want.any() and (~want).any()


# --- wrong implementations are rejected, with the right diagnosis ---


def _fails(check, *fns, words):
    with pytest.raises(CheckFailed) as err:
        check(*fns)
    message = str(err.value)
    for word in (words if isinstance(words, tuple) else (words,)):
        assert word in message, message
    return message


def _align(**kw):
    return lambda pred, target, mask: align_depth(pred, target, mask, **kw)


def _lift(**kw):
    return lambda camera, depth, rgb, mask: lift_pixels(camera, depth, rgb, mask, **kw)


LIFT_WRONG = [
    (_align(use_mask=False), lift_pixels, "mask is ignored"),
    (_align(shift=False), lift_pixels, "no shift"),
    (_align(inverted=True), lift_pixels, "inverted"),
    (_align(inverted=True, solved=True), lift_pixels, "not symmetric"),
    (lambda p, d, m: tuple(reversed(align_depth(p, d, m))), lift_pixels, "wrong order"),
    (_align(multiply=True), lift_pixels, "select the masked pixels"),
    (lambda p, d, m: torch.stack(align_depth(p, d, m)), lift_pixels, "pair (scale, shift)"),
    (align_depth, _lift(half=0.0), "+ 0.5"),
    (align_depth, _lift(along_ray=True), "distance along the ray"),
    (align_depth, _lift(frame="camera"), "camera coordinates"),
    (align_depth, _lift(frame="viewmat"), "inverse"),
    (align_depth, _lift(swap=True), "rows and columns are swapped"),
    (align_depth, _lift(footprint="z*f"), "depth * f"),
    (align_depth, _lift(footprint="1/z"), "1 / depth"),
    (align_depth, _lift(footprint="z/cx"), "K[0, 2]"),
    (align_depth, _lift(all_pixels=True), "keep only"),
    (align_depth, lambda c, d, r, m: lift_pixels(c, d, r, m)[:2], "(points, colors, footprint)"),
]


@pytest.mark.parametrize("align_fn, lift_fn, words", LIFT_WRONG, ids=[w for *_, w in LIFT_WRONG])
def test_lift_rejects_wrong_code(align_fn, lift_fn, words):
    _fails(checks_06.check_lift, align_fn, lift_fn, words=words)


def _march(**kw):
    return lambda *args: occluded_grid(*args, **kw)


OCCLUSION_WRONG = [
    (_march(empty=False), "only *empty* voxels"),
    (lambda g, o, v, c, gr, b: occluded_grid(g, o, v, c, gr, math.inf), "farther than `behind`"),
    (_march(frustum=False), "outside the reference camera's view"),
    (_march(above=False), "below the ground"),
    (_march(bound=1.0), "in front of an occupied voxel"),
    (_march(bound=math.inf), "in front of an occupied voxel"),
    (_march(outward=True), "from the voxel outwards"),
    (lambda *args: occluded_grid(*args).float(), "bool"),
    (lambda *args: occluded_grid(*args)[None], "shape"),
    (lambda g, o, v, c, gr, b: occluded_grid(g, o, v, c, gr, b) & (torch.rand(g.shape, generator=torch.Generator().manual_seed(0)) > 0.2),
     "is not marked but is occluded"),
]


@pytest.mark.parametrize("fn, words", OCCLUSION_WRONG, ids=[w for _, w in OCCLUSION_WRONG])
def test_occlusion_rejects_wrong_code(fn, words):
    _fails(checks_06.check_occlusion, fn, words=words)


GUIDANCE_WRONG = [
    (lambda e0, ei, eit, si, st: e0 + si * (ei - e0) + st * (eit - e0), "measured from eps(∅,∅)"),
    (lambda e0, ei, eit, si, st: guidance(e0, ei, eit, st, si), "scales are swapped"),
    (lambda e0, ei, eit, si, st: ei + st * (eit - ei), "image scale is ignored"),
    (lambda e0, ei, eit, si, st: e0 + st * (eit - e0), "2-way guidance from"),
    (lambda e0, ei, eit, si, st: e0 + si * (e0 - ei) + st * (eit - ei), "wrong sign"),
    (lambda e0, ei, eit, si, st: e0 + si * (ei - e0) + st * (ei - eit), "text difference has the wrong sign"),
    (lambda e0, ei, eit, si, st: e0 + si * (ei - e0) + st * (eit - ei) + 1e-3, "differs from the reference"),
]


@pytest.mark.parametrize("fn, words", GUIDANCE_WRONG, ids=[w for _, w in GUIDANCE_WRONG])
def test_guidance_rejects_wrong_code(fn, words):
    _fails(checks_06.check_guidance, fn, words=words)


def _target(**kw):
    return lambda eps_fn, x, t, noise, steps=1: distillation_target(eps_fn, x, t, noise, steps, **kw)


def _loss(**kw):
    return lambda *args: inpaint_loss(*args, **kw)


INPAINT_WRONG = [
    (_target(noised=False), inpaint_loss, "x is not noised"),
    (_target(swap_noise=True), inpaint_loss, "swapped in the noising"),
    (_target(swap_x0=True), inpaint_loss, "swapped in the denoising"),
    (_target(unscaled=True), inpaint_loss, "x_t - eps"),
    (_target(clamp=False), inpaint_loss, "not clamped"),
    (_target(no_grad=False), inpaint_loss, "carries a gradient"),
    (_target(first_t=True), inpaint_loss, "first sample's timestep"),
    (distillation_target, _loss(image_all=True), "image term covers every pixel"),
    (distillation_target, _loss(anchor_masked=True), "anchor term covers the masked region"),
    (distillation_target, _loss(swap="image-anchor"), "image and anchor weights are swapped"),
    (distillation_target, _loss(swap="image-ssim"), "image and SSIM weights are swapped"),
    (distillation_target, _loss(ssim_raw=True), "[-1, 1]"),
    (distillation_target, _loss(ssim_layout=True), "permute(0, 2, 3, 1)"),
    (distillation_target, _loss(masked_mean=True), "masked pixels only"),
    (distillation_target, _loss(no_anchor=True), "anchor term is missing"),
    (distillation_target, _loss(keep_grad=True), "gradient into x_hat"),
    (distillation_target, lambda *args: inpaint_loss(*args).detach(), "no gradient"),
    (distillation_target, lambda *args: inpaint_loss(*args).reshape(1), "0-d tensor"),
]


@pytest.mark.parametrize("target_fn, loss_fn, words", INPAINT_WRONG, ids=[w for *_, w in INPAINT_WRONG])
def test_inpainting_distillation_rejects_wrong_code(target_fn, loss_fn, words):
    _fails(checks_06.check_inpainting_distillation, target_fn, loss_fn, words=words)


def _depth(**kw):
    return lambda d, p, m: depth_loss(d, p, m, **kw)


def _unbiased_std(d, p, m):
    values = []
    for a, b, k in zip(d, p.detach(), m):
        a, b = a[k], b[k]
        cov = ((a - a.mean()) * (b - b.mean())).mean()
        values.append(-cov / (a.std() * b.std()))
    return torch.stack(values).mean()


DEPTH_WRONG = [
    (_depth(sign=1.0), "+Pearson"),
    (_depth(offset=1.0), "1 - Pearson"),
    (_depth(use_mask=False), "mask is ignored"),
    (_depth(centre="none"), "not centred"),
    (_depth(centre="all"), "centred over all pixels"),
    (_depth(detach=False), "gradient into prior_depth"),
    (lambda d, p, m: depth_loss(d, p, m) * d.shape[0], "batch is summed"),
    (_unbiased_std, "n - 1"),
    (lambda d, p, m: depth_loss(d.reshape(1, -1, d.shape[-1]), p.reshape(1, -1, p.shape[-1]), m.reshape(1, -1, m.shape[-1])),
     "whole batch"),
    (lambda d, p, m: ((d - p.detach()) ** 2)[m].mean(), "differs from the reference"),
]


@pytest.mark.parametrize("fn, words", DEPTH_WRONG, ids=[w for _, w in DEPTH_WRONG])
def test_depth_loss_rejects_wrong_code(fn, words):
    _fails(checks_06.check_depth_loss, fn, words=words)


def _sds(**kw):
    return lambda eps_fn, x, t, noise: sds_gradient(eps_fn, x, t, noise, **kw)


SDS_WRONG = [
    (_sds(weight="a"), "weight is ᾱ_t"),
    (_sds(weight="sqrt"), "sqrt(1 - ᾱ_t)"),
    (_sds(weight="none"), "is missing"),
    (_sds(sign=-1.0), "sign is flipped"),
    (_sds(noised=False), "x is not noised"),
    (_sds(first_t=True), "first sample's timestep"),
    (_sds(first_t_weight=True), "weight uses the first sample's timestep"),
    (_sds(swap_noise=True), "swapped in the noising"),
    (lambda eps_fn, x, t, noise: sds_gradient(eps_fn, x, t, noise)[0], "shape"),
]


@pytest.mark.parametrize("fn, words", SDS_WRONG, ids=[w for _, w in SDS_WRONG])
def test_sds_rejects_wrong_code(fn, words):
    _fails(checks_06.check_sds, fn, words=words)
