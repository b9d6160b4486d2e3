"""Chapter 07 checkers accept correct implementations and reject plausible wrong ones, in words."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.diffusion.schedule import alphas_cumprod
from course_lib.grading import checks_07
from course_lib.grading.checking import CheckFailed

# --- correct implementations, written independently of course_lib (the checker refuses course_lib's own) ---
# (alphas_cumprod is the prior's noise schedule, data the learner is given, not an exercise)

PRIMES = (1, 2654435761, 805459861)


def level_corners(points01, resolution, table_size, *, hash_mode="auto", wrap=True, combine="xor", swap=False, clamp=True,
                  layout="x", weights="product"):
    """Corners in z-major bit order (bit 0 is z): a different order from the reference's."""
    N, T = resolution, table_size
    scaled = points01 * N
    lower = torch.floor(scaled)
    if clamp:
        lower = torch.clamp(lower, max=N - 1)
    f = scaled - lower
    idx, wts = [], []
    for cz, cy, cx in itertools.product((0, 1), repeat=3):
        v = lower.long() + torch.tensor([cx, cy, cz])
        per = [f[:, i] if c else 1 - f[:, i] for i, c in enumerate((cx, cy, cz))]
        if swap:
            per = [1 - f[:, i] if c else f[:, i] for i, c in enumerate((cx, cy, cz))]
        wts.append(per[0] * per[1] * per[2] if weights == "product" else (per[0] + per[1] + per[2]) / 3)
        dense = (N + 1) ** 3 <= T if hash_mode == "auto" else hash_mode == "never"
        if dense:
            s = N + 1
            idx.append(v[:, 0] + s * v[:, 1] + s * s * v[:, 2] if layout == "x" else v[:, 2] + s * v[:, 1] + s * s * v[:, 0])
        else:
            h = [v[:, i] * PRIMES[i] for i in range(3)]
            if wrap:
                h = [x % 2**32 for x in h]
            idx.append((h[0] ^ h[1] ^ h[2] if combine == "xor" else h[0] + h[1] + h[2]) % T)
    return torch.stack(idx, 1), torch.stack(wts, 1)


def render_rays(sigmas, colours, t, deltas, *, inclusive=False, linear=False, norm_depth=False, alpha_product=False,
                no_deltas=False, via_log=False):
    d = torch.ones_like(deltas) if no_deltas else deltas
    tau = sigmas * d
    alpha = tau if linear else 1 - torch.exp(-tau)
    if alpha_product:
        trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), alpha[:, :-1]], 1), 1)
    elif via_log:  # log(1 - alpha) is -inf where alpha = 1: its gradient is NaN
        log_keep = torch.log(1 - alpha)
        trans = torch.exp(torch.cumsum(log_keep, 1) - log_keep)
    else:
        before = torch.cumsum(tau, 1) if inclusive else torch.cumsum(tau, 1) - tau
        trans = torch.exp(-before)
    w = trans * alpha
    colour = (w[..., None] * colours).sum(1)
    depth, opacity = (w * t).sum(1), w.sum(1)
    if norm_depth:
        depth = depth / opacity.clamp(min=1e-10)
    return colour, depth, opacity


def render_rays_where_log(sigmas, colours, t, deltas):
    """Right values, but the classic torch.where trap: log(1 - alpha) is -inf where alpha = 1, and the branch that
    torch.where discards still sends 0 * inf = NaN into the gradient."""
    alpha = 1 - torch.exp(-sigmas * deltas)
    log_keep = torch.where(alpha < 1, torch.log(1 - alpha), torch.full_like(alpha, -1e4))
    w = torch.exp(torch.cumsum(log_keep, 1) - log_keep) * alpha
    return (w[..., None] * colours).sum(1), (w * t).sum(1), w.sum(1)


def render_rays_cumprod32(sigmas, colours, t, deltas):
    """Another correct way in float32: an exclusive cumprod of (1 - alpha) (its gradient stays finite where alpha = 1)."""
    alpha = 1 - torch.exp(-sigmas * deltas)
    w = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1) * alpha
    return (w[..., None] * colours).sum(1), (w * t).sum(1), w.sum(1)


def render_rays_cumprod(sigmas, colours, t, deltas):
    """Another correct way: T_i = prod_{j<i} (1 - alpha_j) by an exclusive cumprod, in float64."""
    alpha = 1 - torch.exp(-sigmas.double() * deltas.double())
    keep = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
    w = keep * alpha
    return (w[..., None] * colours.double()).sum(1).float(), (w * t.double()).sum(1).float(), w.sum(1).float()


def layout_near_far(origins, directions, boxes, front, back, *, use_yaw=True, pick="min", use_exit=False, clamp_near=True,
                    behind_ok=False, miss_band=False, inside_zero=True):
    """One box at a time, the slab test in the box frame."""
    R = origins.shape[0]
    best = torch.full((R,), math.inf)
    last = torch.full((R,), math.nan)
    farthest = torch.full((R,), -math.inf)
    for k in range(len(boxes)):
        yaw = float(boxes.yaw[k]) if use_yaw else 0.0
        c, s = math.cos(yaw), math.sin(yaw)
        to_local = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        o = (origins - boxes.centre[k]) @ to_local.T
        d = directions @ to_local.T
        with torch.no_grad():
            inv = 1.0 / d  # inf where a component is 0: the slab test still works
        h = boxes.half_size[k]
        ta, tb = (-h - o) * inv, (h - o) * inv
        t_in = torch.minimum(ta, tb).max(1).values
        t_out = torch.maximum(ta, tb).min(1).values
        hit = t_out >= t_in if behind_ok else t_out >= torch.clamp(t_in, min=0)
        entry = t_out if use_exit else (torch.clamp(t_in, min=0) if inside_zero else t_in)
        best = torch.where(hit & (entry < best), entry, best)
        farthest = torch.where(hit & (entry > farthest), entry, farthest)
        last = torch.where(hit, entry, last)
    t = {"min": best, "max": farthest, "last": last}[pick]
    hit = torch.isfinite(t)
    t = torch.where(hit, t, torch.zeros_like(t))
    near = torch.clamp(t - front, min=0) if clamp_near else t - front
    far = t + back
    if not miss_band:
        near, far = torch.where(hit, near, torch.zeros_like(near)), torch.where(hit, far, torch.zeros_like(far))
    return near, far, hit


NUM_CLASSES, DEPTH_MAX = 7, 30.0


def layout_condition(semantic, depth, *, signed=True, clamp=True, mapped=True, depth_first=False, channels_last=False,
                     num_classes=NUM_CLASSES):
    one_hot = torch.zeros(*semantic.shape, num_classes)
    one_hot.scatter_(-1, semantic.long()[..., None], 1.0)
    if signed:
        one_hot = one_hot * 2 - 1
    d = depth.clamp(0, DEPTH_MAX) if clamp else depth
    d = d / DEPTH_MAX * 2 - 1 if mapped else d / DEPTH_MAX
    parts = [d[..., None], one_hot] if depth_first else [one_hot, d[..., None]]
    out = torch.cat(parts, -1)
    return out if channels_last else out.permute(0, 3, 1, 2)


def vsd_gradient(eps_prior, eps_estimator, x, t, noise, *, weight="1-a", sign=1.0, noised=True, no_grad=True, sds=False):
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    with torch.set_grad_enabled(not no_grad):
        x_t = a.sqrt() * x + (1 - a).sqrt() * noise if noised else x
        w = {"1-a": 1 - a, "a": a, "none": torch.ones_like(a)}[weight]
        other = noise if sds else eps_estimator(x_t, t)
        return sign * w * (eps_prior(x_t, t) - other)


def estimator_loss(eps_estimator, x, t, noise, pose, dropout, generator=None, *, detach=True, mode="ok", reduce="mean"):
    B = x.shape[0]
    if mode == "global":
        u = torch.rand(B)
    else:
        u = torch.rand(B, generator=generator)
    drop = {"ok": u < dropout, "global": u < dropout, "all": torch.ones(B, dtype=torch.bool), "none": torch.zeros(B, dtype=torch.bool),
            "inverted": u >= dropout}[mode]
    pose = pose * (~drop).float()[:, None]
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    src = x.detach() if detach else x
    x_t = a.sqrt() * src + (1 - a).sqrt() * noise
    err = (eps_estimator(x_t, t, pose) - noise) ** 2
    return err.mean() if reduce == "mean" else err.sum()


# --- they pass ---


def _wrapped_references():
    """course_lib's references behind a learner-side wrapper (what a learner who copies them would hand in)."""
    from course_lib.fields.hash_grid import level_corners as ref_corners
    from course_lib.fields.volume_rendering import volume_render
    from course_lib.priors.data import layout_condition as ref_condition
    from course_lib.text_to_3d.urban_architect.guidance import estimator_loss as ref_loss
    from course_lib.text_to_3d.urban_architect.guidance import vsd_gradient as ref_vsd
    from course_lib.text_to_3d.urban_architect.layout import layout_near_far as ref_band

    def render(*args):
        r = volume_render(*args)
        return r.colour, r.depth, r.opacity

    return (lambda *a: ref_corners(*a), render, lambda *a: ref_band(*a), lambda *a: ref_condition(*a),
            lambda *a: ref_vsd(*a), lambda *a: ref_loss(*a))


def test_checkers_accept_correct_code(capsys):
    checks_07.check_level_corners(level_corners)
    checks_07.check_render_rays(render_rays)
    checks_07.check_layout_near_far(layout_near_far)
    checks_07.check_layout_condition(layout_condition)
    checks_07.check_vsd(vsd_gradient, estimator_loss)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "✅ 07-1 one level of the hash grid (Instant-NGP Eq. 4): correct",
        "✅ 07-2 volume rendering (the NeRF quadrature): correct",
        "✅ 07-3 layout-constrained sampling (where a ray enters the layout): correct",
        "✅ 07-4 the layout condition (semantic one-hot + depth): correct",
        "✅ 07-5 the LG-VSD gradient and the particle estimator's loss: correct",
        "progress of chapter 07: all 5 exercises pass in this kernel",
    ]


def test_checkers_accept_the_references_and_valid_alternatives(capsys):
    corners, render, band, condition, vsd, loss = _wrapped_references()
    checks_07.check_level_corners(corners)
    checks_07.check_render_rays(render)
    checks_07.check_layout_near_far(band)
    checks_07.check_layout_condition(condition)
    checks_07.check_vsd(vsd, loss)
    # corners in a shuffled order, float64 arithmetic
    perm = torch.tensor([5, 2, 7, 0, 3, 6, 1, 4])
    checks_07.check_level_corners(lambda p, n, t: tuple(v[:, perm] for v in level_corners(p.double(), n, t)))
    checks_07.check_render_rays(render_rays_cumprod)
    checks_07.check_render_rays(render_rays_cumprod32)
    checks_07.check_layout_condition(lambda s, d: torch.cat([F.one_hot(s, 7).permute(0, 3, 1, 2).float() * 2 - 1,
                                                              (d.clamp(0, 30) / 15 - 1)[:, None]], 1))
    assert capsys.readouterr().out.count(": correct") == 9


def test_checkers_refuse_course_lib_reference():
    from course_lib.priors.data import layout_condition as reference

    with pytest.raises(CheckFailed, match="imported rather than written"):
        checks_07.check_layout_condition(reference)


def test_the_last_check_prints_the_progress_line(capsys):
    with pytest.raises(CheckFailed):
        checks_07.check_vsd(lambda *a: vsd_gradient(*a, weight="none"), estimator_loss)
    assert "progress of chapter 07" in capsys.readouterr().out


def test_require_names_the_open_exercise(monkeypatch):
    from course_lib.grading import checking

    monkeypatch.setattr(checking, "_PASSED", {"07-1"})
    with pytest.raises(CheckFailed, match=r"exercise 07-3 \(layout-constrained sampling"):
        checks_07.require("07-1", "07-3", what="the distillation")


# --- the hand-built cases show what they say they show ---


def test_the_street_has_every_kind_of_ray():
    from course_lib.text_to_3d.urban_architect.layout import box_intervals

    boxes = checks_07._street_layout()
    origins, dirs = checks_07._street_rays()
    near, far, hit = layout_near_far(origins, dirs, boxes, 1.5, 4.0)
    t_in, t_out, hits = box_intervals(origins, dirs, boxes)
    assert (~hit).sum() >= 5 and hit.sum() >= 40  # misses and hits
    assert (hits.sum(1) >= 2).sum() >= 10  # rays through two boxes or more
    assert ((t_in < 0) & (t_out > 0)).any()  # a ray that starts inside a box
    assert ((t_out < 0) & (t_out >= t_in)).any()  # a box behind the camera on the ray's line
    assert (hit & (far - 4.0 < 1.5)).any()  # a hit closer than `front`


def test_the_estimator_cases_drop_some_cameras_and_keep_others():
    drop = torch.rand(16, generator=torch.Generator().manual_seed(115)) < 0.5
    assert 0 < int(drop.sum()) < 16


# --- wrong implementations are rejected, with the right diagnosis ---


def _fails(check, *fns, words):
    with pytest.raises(CheckFailed) as err:
        check(*fns)
    message = str(err.value)
    for word in (words if isinstance(words, tuple) else (words,)):
        assert word in message, message
    return message


def _corners(**kw):
    return lambda p, n, t: level_corners(p, n, t, **kw)


CORNERS_WRONG = [
    (_corners(hash_mode="always"), "hashed although"),
    (_corners(hash_mode="never"), "indexed 1:1 although"),
    (_corners(wrap=False), "wrapped to 32 bits"),
    (_corners(combine="add"), "XORs them"),
    (_corners(swap=True), "weights are swapped"),
    (_corners(clamp=False), "last cell"),
    (_corners(layout="z"), "x-major"),
    (_corners(weights="mean"), "sum to"),
    (lambda p, n, t: (level_corners(p, n, t)[0].int(), level_corners(p, n, t)[1]), "int64"),
    (lambda p, n, t: level_corners(p, n, t)[0], "pair (indices, weights)"),
    (lambda p, n, t: (level_corners(p, n, t)[0] // 2, level_corners(p, n, t)[1]), "differ from the reference"),
]


@pytest.mark.parametrize("fn, words", CORNERS_WRONG, ids=[w for _, w in CORNERS_WRONG])
def test_level_corners_rejects_wrong_code(fn, words):
    _fails(checks_07.check_level_corners, fn, words=words)


def test_level_corners_names_the_boundary_of_the_1_to_1_test():
    def strict(p, n, t):  # tests (N+1)^3 < T: hashes the level whose vertices exactly fill the table
        return level_corners(p, n, t, hash_mode="always") if (n + 1) ** 3 == t else level_corners(p, n, t)

    _fails(checks_07.check_level_corners, strict, words=("hashed although", "(N+1)^3 <= T"))


def _render(**kw):
    return lambda s, c, t, d: render_rays(s, c, t, d, **kw)


RENDER_WRONG = [
    (_render(inclusive=True), "inclusive cumsum"),
    (_render(linear=True), "alpha_i = sigma_i delta_i"),
    (_render(norm_depth=True), "divided by the opacity"),
    (_render(alpha_product=True), "product of the alphas"),
    (_render(no_deltas=True), "interval lengths are ignored"),
    (_render(via_log=True), "NaN/inf"),
    (render_rays_where_log, "gradient with respect to sigmas has NaN/inf"),
    (lambda s, c, t, d: tuple(v.detach() for v in render_rays(s, c, t, d)), "no gradient"),
    (lambda s, c, t, d: render_rays(s, c, t, d)[:2], "(colour (R, C), depth (R,), opacity (R,))"),
    (lambda s, c, t, d: (render_rays(s, c, t, d)[0].T, *render_rays(s, c, t, d)[1:]), "shape"),
]


@pytest.mark.parametrize("fn, words", RENDER_WRONG, ids=[w for _, w in RENDER_WRONG])
def test_render_rays_rejects_wrong_code(fn, words):
    _fails(checks_07.check_render_rays, fn, words=words)


def _band(**kw):
    return lambda o, d, b, front, back: layout_near_far(o, d, b, front, back, **kw)


BAND_WRONG = [
    (_band(use_yaw=False), "yaw is ignored"),
    (_band(pick="max"), "farthest box"),
    (_band(pick="last"), "last box of the list"),
    (_band(use_exit=True), "leaves the box"),
    (_band(clamp_near=False), "near is not clamped"),
    (_band(behind_ok=True), "behind the camera"),
    (_band(behind_ok=True, inside_zero=False), "behind the camera"),
    (_band(inside_zero=False), "starts inside a box"),
    (_band(miss_band=True), "enter no box"),
    (lambda o, d, b, front, back: (*layout_near_far(o, d, b, front, back)[:2], layout_near_far(o, d, b, front, back)[2].float()), "bool"),
    (lambda o, d, b, front, back: layout_near_far(o, d, b, front + 0.1, back), "differs from the reference"),
]


@pytest.mark.parametrize("fn, words", BAND_WRONG, ids=[w for _, w in BAND_WRONG])
def test_layout_near_far_rejects_wrong_code(fn, words):
    _fails(checks_07.check_layout_near_far, fn, words=words)


def test_layout_near_far_names_infinite_misses():
    def inf_misses(o, d, b, front, back):
        near, far, hit = layout_near_far(o, d, b, front, back)
        return torch.where(hit, near, torch.full_like(near, math.inf)), torch.where(hit, far, torch.full_like(far, math.inf)), hit

    _fails(checks_07.check_layout_near_far, inf_misses, words="near = far = 0")


def _condition(**kw):
    return lambda s, d: layout_condition(s, d, **kw)


CONDITION_WRONG = [
    (_condition(signed=False), "{0, 1}"),
    (_condition(clamp=False), "not clamped"),
    (_condition(mapped=False), "in [0, 1]"),
    (_condition(depth_first=True), "first channel"),
    (_condition(channels_last=True), "channels last"),
    (lambda s, d: torch.cat([F.one_hot(s).permute(0, 3, 1, 2).float() * 2 - 1, (d.clamp(0, 30) / 15 - 1)[:, None]], 1), "num_classes"),
    (lambda s, d: torch.cat([layout_condition(s, d)[:, :-1], ((d / d.max()).clamp(0, 1) * 2 - 1)[:, None]], 1), "largest value"),
    (lambda s, d: layout_condition(s, d).long(), "float"),
]


@pytest.mark.parametrize("fn, words", CONDITION_WRONG, ids=[w for _, w in CONDITION_WRONG])
def test_layout_condition_rejects_wrong_code(fn, words):
    _fails(checks_07.check_layout_condition, fn, words=words)


def _vsd(**kw):
    return lambda ep, ee, x, t, noise: vsd_gradient(ep, ee, x, t, noise, **kw)


def _loss(**kw):
    return lambda ee, x, t, noise, pose, dropout, generator: estimator_loss(ee, x, t, noise, pose, dropout, generator, **kw)


VSD_WRONG = [
    (_vsd(weight="a"), estimator_loss, "weight is ᾱ_t"),
    (_vsd(weight="none"), estimator_loss, "is missing"),
    (_vsd(sign=-1.0), estimator_loss, "sign is flipped"),
    (_vsd(noised=False), estimator_loss, "x is not noised"),
    (_vsd(sds=True), estimator_loss, "estimator is not used"),
    (_vsd(no_grad=False), estimator_loss, "autograd graph"),
    (vsd_gradient, _loss(detach=False), "gradient into x"),
    (vsd_gradient, _loss(mode="all"), "dropped for every image"),
    (vsd_gradient, _loss(mode="none"), "never dropped"),
    (vsd_gradient, _loss(mode="inverted"), "inverted"),
    (vsd_gradient, _loss(mode="global"), "same seed drop different cameras"),
    (vsd_gradient, _loss(reduce="sum"), "summed"),
    (vsd_gradient, lambda ee, x, t, noise, pose, dropout, generator: estimator_loss(ee, x, t, noise, pose, dropout, generator).detach(),
     "no gradient"),
    (vsd_gradient, lambda ee, x, t, noise, pose, dropout, generator: estimator_loss(ee, x, t, noise, pose, dropout, generator).reshape(1),
     "0-d tensor"),
]


@pytest.mark.parametrize("vsd_fn, loss_fn, words", VSD_WRONG, ids=[w for *_, w in VSD_WRONG])
def test_vsd_rejects_wrong_code(vsd_fn, loss_fn, words):
    _fails(checks_07.check_vsd, vsd_fn, loss_fn, words=words)


def test_vsd_measures_the_share_of_dropped_cameras():
    """A mask drawn from the generator with the wrong probability (here 0.2) is named by its share on 2000 images."""

    def wrong_rate(ee, x, t, noise, pose, dropout, generator):
        return estimator_loss(ee, x, t, noise, pose, dropout + 0.1 if 0 < dropout < 0.3 else dropout, generator)

    message = _fails(checks_07.check_vsd, vsd_gradient, wrong_rate, words="of 2000 images lose their camera")
    assert "dropout = 0.1" in message
