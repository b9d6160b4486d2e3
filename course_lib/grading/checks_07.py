"""Checkers of chapter 07 (Urban Architect). Each compares the learner's code with course_lib's reference
on random inputs and hand-built cases and, when it is wrong, says how."""

from __future__ import annotations

import math
from functools import partial

import torch

from course_lib.diffusion.schedule import add_noise, alphas_cumprod
from course_lib.fields.hash_grid import level_corners as ref_level_corners
from course_lib.fields.volume_rendering import volume_render as ref_volume_render
from course_lib.grading.checks_05 import _gen, _rand, _randn  # seeded random inputs, shared with chapter 05
from course_lib.grading.checks_06 import _FakePrior, _scalar  # a linear noise predictor; a loss must be a 0-d tensor
from course_lib.grading.checking import CheckFailed, call, expect_close, expect_tensor, is_close, require_passed, run
from course_lib.priors.data import LAYOUT_CLASSES, MAX_DEPTH
from course_lib.priors.data import layout_condition as ref_layout_condition
from course_lib.text_to_3d.urban_architect.guidance import estimator_loss as ref_estimator_loss
from course_lib.text_to_3d.urban_architect.guidance import vsd_gradient as ref_vsd_gradient
from course_lib.text_to_3d.urban_architect.layout import LayoutBoxes
from course_lib.text_to_3d.urban_architect.layout import layout_near_far as ref_layout_near_far

# every exercise of the chapter (id -> title): its last check prints which are still open
EXERCISES = {
    "07-1": "one level of the hash grid (Instant-NGP Eq. 4)",
    "07-2": "volume rendering (the NeRF quadrature)",
    "07-3": "layout-constrained sampling (where a ray enters the layout)",
    "07-4": "the layout condition (semantic one-hot + depth)",
    "07-5": "the LG-VSD gradient and the particle estimator's loss",
}

# checks_07.require("07-1", ..., what=...): an experiment on the learner's code stops while one is open
require = partial(require_passed, EXERCISES)


# ---------------------------------------------------------------- 07-1 one level of the hash grid

_PRIMES = (1, 2654435761, 805459861)
_CORNER_BITS = torch.tensor([[(c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)])  # (8, 3): bit 0 x, bit 1 y, bit 2 z


def _corners_variant(points: torch.Tensor, N: int, T: int, *, mode: str = "auto", wrap: bool = True, combine: str = "xor",
                     swap: bool = False, clamp: bool = True, layout: str = "x", stride: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, weights) of one level with switches, to name a learner's mistake (the indices may leave [0, T))."""
    scaled = points * N
    lower = torch.floor(scaled)
    if clamp:
        lower = lower.clamp(max=N - 1)
    frac = scaled - lower
    bits = _CORNER_BITS.bool()
    corners = lower.long()[:, None, :] + _CORNER_BITS  # (P, 8, 3)
    near, far = (frac, 1.0 - frac) if swap else (1.0 - frac, frac)
    weights = torch.where(bits, far[:, None, :], near[:, None, :]).prod(-1)
    vx, vy, vz = corners.unbind(-1)
    side = N + 1
    dense = side**3 <= T if mode == "auto" else mode == "never"
    if dense:
        s = side if stride is None else stride
        return (vx + s * (vy + s * vz) if layout == "x" else vz + s * (vy + s * vx)), weights
    parts = [v * p for v, p in zip((vx, vy, vz), _PRIMES)]
    if wrap:
        parts = [p & 0xFFFFFFFF for p in parts]
    h = parts[0] ^ parts[1] ^ parts[2] if combine == "xor" else parts[0] + parts[1] + parts[2]
    return h % T, weights


def _corner_variants(points: torch.Tensor, N: int, T: int) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    side = N + 1
    hint = (f" (here (N+1)^3 = {side**3} = T exactly: they fit, the test is (N+1)^3 <= T)" if side**3 == T else "")
    v = partial(_corners_variant, points, N, T)
    if side**3 <= T:  # a 1:1 level
        return {
            f"the level is hashed although its (N+1)^3 = {side**3} vertices fit in the table (T = {T}){hint}: a level that fits "
            "is indexed 1:1, v_x + (N+1) v_y + (N+1)^2 v_z, with no collisions": [v(mode="always"), v(mode="always", combine="add")],
            "the 1:1 index is x-major (v_z + (N+1) v_y + (N+1)^2 v_x): Instant-NGP's layout is v_x + (N+1) v_y + (N+1)^2 v_z, "
            "x varying fastest": [v(layout="z")],
            "the 1:1 index uses the stride N: a level of N cells has N + 1 vertices per axis, so the index is "
            "v_x + (N+1) v_y + (N+1)^2 v_z": [v(stride=N), v(stride=N, layout="z")],
            **_weight_variants(v),
        }
    return {
        f"the level is indexed 1:1 although its (N+1)^3 = {side**3} vertices do not fit in the table (T = {T}): use the spatial "
        "hash (v_x π1 XOR v_y π2 XOR v_z π3) mod T": [v(mode="never")],
        "the hash combines the products with +: Eq. 4 XORs them, v_x π1 ^ v_y π2 ^ v_z π3": [v(combine="add"), v(combine="add", wrap=False)],
        "the products of the hash are not wrapped to 32 bits: the paper's CUDA code multiplies in uint32, so take each v_i π_i "
        "modulo 2^32 (& 0xFFFFFFFF) before the XOR (with a power-of-2 T it makes no difference; with this T it does)": [v(wrap=False)],
        **_weight_variants(v),
    }


def _weight_variants(v) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    return {
        "the trilinear weights are swapped: corner c gets f_i on the axes where its bit c_i = 1 and (1 - f_i) where c_i = 0, "
        "with f = x N - floor(x N) (the nearer corner weighs more)": [v(swap=True)],
        "a coordinate equal to 1 gets the lower corner N, whose upper corner N + 1 lies outside the grid: it falls in the last "
        "cell, lower corner min(floor(x N), N - 1) (and f = 1 there)": [v(clamp=False)],
    }


def _sorted_corners(indices: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (index, weight) pairs of each point sorted by index (then weight): the corners in any order compare equal."""
    by_weight = torch.argsort(weights, dim=1, stable=True)
    indices, weights = indices.gather(1, by_weight), weights.gather(1, by_weight)
    by_index = torch.argsort(indices, dim=1, stable=True)
    return indices.gather(1, by_index), weights.gather(1, by_index)


def _same_corners(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor], atol: float = 2e-4) -> torch.Tensor:
    """Per point: the two (indices, weights) hold the same 8 (index, weight) pairs, in any order (f = x N in float32 is
    exact to about 3e-5 at N = 300, hence the tolerance)."""
    ia, wa = _sorted_corners(a[0].long(), a[1].double())
    ib, wb = _sorted_corners(b[0].long(), b[1].double())
    return (ia == ib).all(1) & ((wa - wb).abs() <= atol).all(1)


def _corner_points(seed: int, count: int) -> torch.Tensor:
    special = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.31, 0.67], [0.13, 1.0, 0.0],
                            [0.5, 0.25, 0.75], [0.999, 0.001, 0.5]])
    return torch.cat([special, _rand(count, 3, seed=seed)])


def _describe_corners(indices: torch.Tensor, weights: torch.Tensor) -> str:
    pairs = sorted(zip(indices.tolist(), weights.tolist()))
    return "{" + ", ".join(f"{i}: {w:.3f}" for i, w in pairs) + "}"


_CORNER_CASES = [  # (resolution N, table size T, what)
    (5, 4096, "a level whose vertices fit in the table (1:1)"),
    (7, 512, "a level whose (N+1)^3 = 512 vertices exactly fill the table (1:1)"),
    (40, 4096, "a hashed level"),
    (300, 3001, "a hashed level whose table size is not a power of 2"),
]


def check_level_corners(level_corners) -> None:
    """07-1: ``level_corners(points01 (P, 3) in [0, 1], resolution, table_size) -> (indices (P, 8) int64 in [0, T), weights (P, 8))``.

    The 8 corners may come in any order: each point's (index, weight) pairs are compared as a set."""

    def body() -> None:
        for seed, (N, T, what) in enumerate(_CORNER_CASES):
            points = _corner_points(seed + 10, 60)
            P = points.shape[0]
            res = call(level_corners, points, N, T, what=f"level_corners(points ({P}, 3), resolution={N}, table_size={T})")
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise CheckFailed("level_corners must return the pair (indices, weights)")
            indices, weights = res
            expect_tensor(indices, f"the indices of {what}", shape=(P, 8), dtype=torch.int64)
            expect_tensor(weights, f"the weights of {what}", shape=(P, 8))
            if not weights.is_floating_point():
                raise CheckFailed(f"the weights have dtype {weights.dtype}: trilinear weights are fractions, return a float tensor")
            want = ref_level_corners(points, N, T)
            got = (indices, weights.detach())
            # points within 1e-4 of a cell face may land in either cell through rounding: their corners are not compared
            # (their interpolation is, below); 0 and 1 are exact
            scaled = points.double() * N
            frac = scaled - scaled.floor()
            sure = (((frac > 1e-4) & (frac < 1 - 1e-4)) | (scaled == 0) | (scaled == N)).all(1)
            same = _same_corners(got, want)
            if not same[sure].all():
                for text, options in _corner_variants(points, N, T).items():
                    for variant in options:
                        if _same_corners(got, variant)[sure].all():
                            raise CheckFailed(f"the corners of {what} (N = {N}, T = {T}) are wrong: {text}")
                outside = (indices < 0) | (indices >= T)
                if outside.any():
                    k = int(outside.any(1).nonzero()[0])
                    raise CheckFailed(f"{int(outside.sum())} corner indices of {what} lie outside [0, T) = [0, {T}), e.g. "
                                      f"{int(indices[outside][0])} for the point {[round(c, 4) for c in points[k].tolist()]}: "
                                      "hash modulo T, and index 1:1 only when the level's (N+1)^3 vertices fit in T")
                sums = weights.double().sum(1)
                if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
                    k = int((sums - 1).abs().argmax())
                    raise CheckFailed(f"the weights of a point sum to {float(sums[k]):.4f}, not 1 (point "
                                      f"{[round(c, 4) for c in points[k].tolist()]}): trilinear weights are products over the "
                                      "axes, prod_i (f_i if c_i = 1 else 1 - f_i), and the 8 of them sum to 1")
                k = int((~same & sure).nonzero()[0])
                at_one = (" (a coordinate equal to 1 falls in the last cell: lower corner N - 1, f = 1)"
                          if bool((points[k] == 1).any()) else "")
                raise CheckFailed(f"the corners of {what} (N = {N}, T = {T}) differ from the reference on {int((~same & sure).sum())} "
                                  f"of {int(sure.sum())} points, e.g. point {[round(c, 4) for c in points[k].tolist()]}{at_one}: expected "
                                  f"(index: weight) {_describe_corners(want[0][k], want[1][k])}, got "
                                  f"{_describe_corners(indices[k], weights[k].detach())}")
            outside = (indices < 0) | (indices >= T)
            if outside.any():
                raise CheckFailed(f"{int(outside.sum())} corner indices of {what} lie outside [0, {T}) at points on cell faces: "
                                  "hash modulo T, and index 1:1 only when the level's (N+1)^3 vertices fit in T")
            table = _randn(T, 3, seed=seed + 20)
            interp = (weights.detach().double()[..., None] * table.double()[indices]).sum(1)
            expect_close(interp, (want[1].double()[..., None] * table.double()[want[0]]).sum(1),
                         f"the features interpolated from a random table at the points of {what} (some on cell faces)",
                         atol=1e-4, rtol=1e-4)

    run("07-1", EXERCISES["07-1"], body)


# ---------------------------------------------------------------- 07-2 volume rendering


def _render_variant(sigmas, colours, t, deltas, *, inclusive=False, linear_alpha=False, product_t=False, alpha_t=False,
                    no_deltas=False, t_deltas=False, norm_depth=False, norm_colour=False) -> torch.Tensor:
    """colour, depth and opacity of the quadrature with switches, flattened into one vector (float64)."""
    s, c, tt, d = sigmas.double(), colours.double(), t.double(), deltas.double()
    if no_deltas:
        d = torch.ones_like(d)
    if t_deltas:
        d = torch.cat([tt[:, 1:] - tt[:, :-1], torch.full_like(tt[:, :1], 1e10)], 1)
    tau = s * d
    alpha = tau if linear_alpha else 1 - torch.exp(-tau)
    if alpha_t:
        trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), alpha[:, :-1]], 1), 1)
    elif product_t:
        trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
    else:
        before = torch.cumsum(tau, 1) - (0 if inclusive else tau)
        trans = torch.exp(-before)
    w = trans * alpha
    colour, depth, opacity = (w[..., None] * c).sum(1), (w * tt).sum(1), w.sum(1)
    if norm_depth:
        depth = depth / opacity
    if norm_colour:
        colour = colour / opacity[:, None]
    return torch.cat([colour.reshape(-1), depth, opacity])


_RENDER_VARIANTS = {
    "T_i includes the sample's own density (an inclusive cumsum): T_i = exp(-sum_{j<i} sigma_j delta_j) sums the samples "
    "*before* i only (cumsum minus the sample's own term)": [dict(inclusive=True)],
    "alpha_i = sigma_i delta_i: the opacity of an interval is alpha_i = 1 - exp(-sigma_i delta_i) (it stays below 1)":
        [dict(linear_alpha=True), dict(linear_alpha=True, product_t=True)],
    "the transmittance is a product of the alphas: T_i = prod_{j<i} (1 - alpha_j), what passes the samples before i "
    "(= exp(-sum_{j<i} sigma_j delta_j))": [dict(alpha_t=True)],
    "the interval lengths are ignored: the optical depth of a sample is sigma_i * delta_i": [dict(no_deltas=True)],
    "the interval lengths are recomputed from t (t_{i+1} - t_i, the last one infinite): use the given deltas, the widths of "
    "the bins the samples stand for": [dict(t_deltas=True)],
    "the depth is divided by the opacity: this exercise's depth is sum_i w_i t_i, not normalised (0 for a ray that meets "
    "nothing; the sky fills the rest)": [dict(norm_depth=True)],
    "the colour is divided by the opacity: the colour is sum_i w_i c_i (the background adds (1 - opacity) times its own colour)":
        [dict(norm_colour=True), dict(norm_colour=True, norm_depth=True)],
}


def _render_case(R: int, S: int, C: int, seed: int):
    sigmas = torch.nn.functional.softplus(2.0 * _randn(R, S, seed=seed)) * 1.5
    deltas = 0.05 + 0.3 * _rand(R, S, seed=seed + 1)
    t = 0.5 + torch.cumsum(deltas, 1) - deltas / 2
    colours = _rand(R, S, C, seed=seed + 2)
    return sigmas, colours, t, deltas


def _ref_render(sigmas, colours, t, deltas):
    """The reference render in float64 (in float32 it is off by about 1e-4 next to an optical depth of 2000)."""
    return ref_volume_render(sigmas.double(), colours.double(), t.double(), deltas.double())


def _render(render_rays, sigmas, colours, t, deltas, what: str, opaque: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The learner's (colour, depth, opacity), checked for shape; ``opaque``: some samples have alpha = 1."""
    R, S, C = colours.shape
    res = call(render_rays, sigmas, colours, t, deltas, what=f"render_rays(sigmas ({R}, {S}), colours ({R}, {S}, {C}), t, deltas) on {what}")
    if not (isinstance(res, (tuple, list)) and len(res) == 3):
        raise CheckFailed("render_rays must return the tuple (colour (R, C), depth (R,), opacity (R,))")
    colour, depth, opacity = res
    for value, name, shape in ((colour, "the colour", (R, C)), (depth, "the depth", (R,)), (opacity, "the opacity", (R,))):
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all() and opaque:
            raise CheckFailed(f"{name} has NaN/inf entries on rays with a density of 1e4 (alpha = 1): compute T_i = "
                              "exp(-sum_{j<i} sigma_j delta_j) (an exclusive cumsum), not through log(1 - alpha) or a division by (1 - alpha)")
        expect_tensor(value, f"{name} of {what}", shape=shape)
    return colour, depth, opacity


def check_render_rays(render_rays) -> None:
    """07-2: ``render_rays(sigmas (R, S), colours (R, S, C), t (R, S), deltas (R, S)) -> (colour (R, C), depth (R,), opacity (R,))``
    (NeRF Eq. 3; depth = sum_i w_i t_i, not normalised)."""

    def body() -> None:
        for seed, (R, S, C) in enumerate([(5, 12, 3), (4, 7, 2)]):
            sigmas, colours, t, deltas = _render_case(R, S, C, 30 + 10 * seed)
            what = f"{R} random rays"
            colour, depth, opacity = _render(render_rays, sigmas, colours, t, deltas, what)
            ref = _ref_render(sigmas, colours, t, deltas)
            got = torch.cat([colour.detach().reshape(-1), depth.detach(), opacity.detach()])
            want = torch.cat([ref.colour.reshape(-1), ref.depth, ref.opacity])
            if not is_close(got, want, atol=1e-5, rtol=1e-4):
                for text, options in _RENDER_VARIANTS.items():
                    if any(is_close(got, _render_variant(sigmas, colours, t, deltas, **kw), atol=1e-5, rtol=1e-4) for kw in options):
                        raise CheckFailed(f"the render of {what} is wrong: {text}")
                expect_close(opacity.detach(), ref.opacity, f"the opacity of {what} (sum_i w_i)")
                expect_close(colour.detach(), ref.colour, f"the colour of {what} (sum_i w_i c_i)")
                expect_close(depth.detach(), ref.depth, f"the depth of {what} (sum_i w_i t_i)")

        # an opaque wall, an empty ray and two walls: densities of 1e4 stop the ray, what is behind them is hidden
        S = 10
        sigmas = torch.zeros(3, S)
        sigmas[0, 4] = 1e4
        sigmas[2, 1], sigmas[2, 6] = 1e4, 1e4
        sigmas[2, 0] = 0.8
        deltas = torch.full((3, S), 0.2)
        t = 1.0 + torch.cumsum(deltas, 1) - 0.1
        colours = _rand(3, S, 3, seed=50)
        what = "rays with a density of 1e4 (an opaque wall), and an empty ray"
        sig_in, col_in = sigmas.clone().requires_grad_(True), colours.clone().requires_grad_(True)
        colour, depth, opacity = _render(render_rays, sig_in, col_in, t, deltas, what, opaque=True)
        ref = _ref_render(sigmas, colours, t, deltas)
        # float32 loses about 1e-4 next to an optical depth of 2000 (cumsum minus the sample's own term): hence atol=5e-4
        expect_close(colour[0].detach(), colours[0, 4], "the colour of a ray whose 5th sample has density 1e4: the wall's colour "
                     "(alpha = 1 there, so T = 0 behind it and nothing behind the wall shows)", atol=5e-4)
        expect_close(depth[0].detach(), t[0, 4], "the depth of a ray whose 5th sample has density 1e4 (the wall's t)", atol=5e-4)
        expect_close(colour[1].detach(), torch.zeros(3), "the colour of a ray with no density (nothing stops it)", atol=1e-6)
        expect_close(depth[1].detach(), torch.zeros(()), "the depth of a ray with no density (sum_i w_i t_i = 0)", atol=1e-6)
        expect_close(opacity[1].detach(), torch.zeros(()), "the opacity of a ray with no density", atol=1e-6)
        expect_close(colour.detach(), ref.colour, f"the colour of {what}", atol=5e-4)
        expect_close(depth.detach(), ref.depth, f"the depth of {what}", atol=5e-4)
        expect_close(opacity.detach(), ref.opacity, f"the opacity of {what}", atol=5e-4)

        # the gradient with respect to the densities: finite where alpha = 1, and the reference's
        R, S, C = 4, 9, 3
        sigmas, colours, t, deltas = _render_case(R, S, C, 60)
        sigmas[1, 3], sigmas[3, 0] = 1e4, 1e4
        sig_in, col_in = sigmas.clone().requires_grad_(True), colours.clone().requires_grad_(True)
        colour, depth, opacity = _render(render_rays, sig_in, col_in, t, deltas, "random rays, two with a density of 1e4", opaque=True)
        if not (colour.requires_grad and depth.requires_grad and opacity.requires_grad):
            raise CheckFailed("the render carries no gradient: compute it with torch operations on sigmas and colours "
                              "(no .detach(), no .item(), no torch.no_grad()): the field learns through it")
        gc, gd, go = _randn(R, C, seed=61), _randn(R, seed=62), _randn(R, seed=63)
        grads = torch.autograd.grad((colour * gc).sum() + (depth * gd).sum() + (opacity * go).sum(), [sig_in, col_in], allow_unused=True)
        if grads[0] is None:
            raise CheckFailed("the render does not depend on sigmas: the weights w_i come from the densities")
        if not torch.isfinite(grads[0]).all():
            raise CheckFailed("the gradient with respect to sigmas has NaN/inf entries on rays with a density of 1e4 (alpha = 1): "
                              "compute T_i = exp(-sum_{j<i} sigma_j delta_j) (an exclusive cumsum), not through log(1 - alpha) "
                              "or a division by (1 - alpha) (a torch.where around them still lets the NaN gradient through)")
        s_ref, c_ref = sigmas.double().requires_grad_(True), colours.double().requires_grad_(True)
        r = ref_volume_render(s_ref, c_ref, t.double(), deltas.double())
        want = torch.autograd.grad((r.colour * gc.double()).sum() + (r.depth * gd.double()).sum() + (r.opacity * go.double()).sum(),
                                   [s_ref, c_ref])
        expect_close(grads[0], want[0], "the gradient of the render with respect to sigmas", atol=5e-4, rtol=1e-3)
        if grads[1] is None:
            raise CheckFailed("the colour does not depend on the samples' colours: it is sum_i w_i c_i")
        expect_close(grads[1], want[1], "the gradient of the render with respect to the colours", atol=5e-4, rtol=1e-3)

    run("07-2", EXERCISES["07-2"], body)


# ---------------------------------------------------------------- 07-3 layout-constrained sampling


def _band_variant(origins, directions, boxes: LayoutBoxes, front: float, back: float, *, yaw=True, pick="min", exit=False,
                  clamp_near=True, behind=False, inside=True, miss="zero") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(near, far, hit) with switches, to name a learner's mistake."""
    o, d = origins.double(), directions.double()
    angle = boxes.yaw.double() if yaw else torch.zeros_like(boxes.yaw.double())
    c, s = torch.cos(angle), torch.sin(angle)
    rel = o[:, None, :] - boxes.centre.double()[None]  # (R, B, 3)

    def local(v: torch.Tensor) -> torch.Tensor:  # world -> box frame: rotate by -yaw about +z
        return torch.stack([c * v[..., 0] + s * v[..., 1], -s * v[..., 0] + c * v[..., 1], v[..., 2]], -1)

    lo, ld = local(rel), local(d[:, None, :].expand_as(rel))
    ld = torch.where(ld.abs() < 1e-12, torch.full_like(ld, 1e-12), ld)
    h = boxes.half_size.double()
    t1, t2 = (-h - lo) / ld, (h - lo) / ld
    t_in, t_out = torch.minimum(t1, t2).amax(-1), torch.maximum(t1, t2).amin(-1)
    hit = t_out >= t_in if behind else t_out >= t_in.clamp(min=0)
    entry = t_out if exit else (t_in.clamp(min=0) if inside else t_in)
    any_hit = hit.any(1)
    if pick == "min":
        t = torch.where(hit, entry, torch.full_like(entry, math.inf)).amin(1)
    elif pick == "max":
        t = torch.where(hit, entry, torch.full_like(entry, -math.inf)).amax(1)
    else:  # the last box of the list that the ray hits (a loop that overwrites)
        last = (hit.long() * torch.arange(1, hit.shape[1] + 1)).argmax(1)
        t = entry.gather(1, last[:, None])[:, 0]
    t = torch.where(any_hit, t, torch.zeros_like(t))
    near = (t - front).clamp(min=0) if clamp_near else t - front
    far = t + back
    if miss == "zero":
        near, far = torch.where(any_hit, near, torch.zeros_like(near)), torch.where(any_hit, far, torch.zeros_like(far))
    return near.float(), far.float(), any_hit


_BAND_VARIANTS = {
    "the boxes' yaw is ignored: express the ray in each box's frame (subtract the centre, rotate by -yaw about +z) before "
    "the slab test": [dict(yaw=False)],
    "the band starts at the farthest box the ray enters: t_hit is where the ray *first* enters the layout, the minimum "
    "entry distance over the boxes it hits": [dict(pick="max")],
    "the band starts at the last box of the list that the ray hits: take the nearest one, the minimum entry distance over "
    "the boxes it hits": [dict(pick="last")],
    "the band is placed around where the ray leaves the box (t_out): t_hit is where it enters, t_in = max_i min(t-_i, t+_i)":
        [dict(exit=True)],
    "near is not clamped at 0: near = max(t_hit - front, 0), the band cannot start behind the camera": [dict(clamp_near=False)],
    "boxes behind the camera count as hits: a box is hit only when t_out >= max(t_in, 0) (a box entirely behind the ray's "
    "origin has t_out < 0)": [dict(behind=True), dict(behind=True, inside=False)],
    "a ray that starts inside a box gets a negative t_hit: it is already in the box, so t_hit = max(t_in, 0) = 0":
        [dict(inside=False)],
    "rays that enter no box get a band: they need near = far = 0 and hit = False (only the sky colours them)":
        [dict(miss="band")],
}


def _street_layout() -> LayoutBoxes:
    """A hand-built street: two buildings along +x, a car behind the camera, a ground slab, a car near the camera."""
    centre = torch.tensor([[6.0, 0.5, 1.0], [14.0, -1.0, 1.5], [-7.0, 0.0, 1.0], [0.0, 0.0, -0.05], [1.3, -1.4, 0.5]])
    yaw = torch.tensor([0.5, -0.4, 0.2, 0.0, 0.9])
    half = torch.tensor([[1.0, 2.0, 1.0], [1.5, 3.0, 1.5], [1.0, 1.0, 1.0], [40.0, 40.0, 0.05], [0.4, 0.4, 0.5]])
    label = torch.tensor([LAYOUT_CLASSES.index(n) for n in ("building", "building", "car", "ground", "car")])
    return LayoutBoxes(centre, yaw, half, label, torch.arange(5))


def _street_rays() -> tuple[torch.Tensor, torch.Tensor]:
    azimuth = torch.deg2rad(torch.tensor([-50.0, -40, -30, -20, -12, -6, 0, 5, 11, 18, 27, 36, 45, 180, 170, 190]))
    elevation = torch.deg2rad(torch.tensor([-25.0, -8.0, 0.0, 6.0, 40.0]))
    a, e = torch.meshgrid(azimuth, elevation, indexing="ij")
    dirs = torch.stack([torch.cos(e) * torch.cos(a), torch.cos(e) * torch.sin(a), torch.sin(e)], -1).reshape(-1, 3)
    origins = torch.tensor([0.0, 0.0, 1.2]).expand_as(dirs)
    extra_o = torch.tensor([[6.2, 0.4, 1.1], [13.5, -0.5, 2.0], [3.0, 4.0, 1.5], [3.0, 4.0, 1.5], [0.0, 0.0, 1.2]])
    extra_d = torch.tensor([[0.3, 0.9, 0.1], [-1.0, 0.2, 0.05], [0.4, -0.9, -0.1], [0.5, -0.5, 0.0], [1.0, 0.0, 0.0]])
    extra_d = extra_d / extra_d.norm(dim=1, keepdim=True)
    return torch.cat([origins, extra_o]), torch.cat([dirs, extra_d])


def _random_layout(seed: int) -> tuple[LayoutBoxes, torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    B, R = 7, 90
    centre = torch.cat([torch.rand(B, 2, generator=g) * 24 - 12, 0.5 + 1.5 * torch.rand(B, 1, generator=g)], 1)
    yaw = (torch.rand(B, generator=g) * 2 - 1) * math.pi
    half = 0.5 + 2.5 * torch.rand(B, 3, generator=g)
    boxes = LayoutBoxes(centre, yaw, half, torch.randint(1, len(LAYOUT_CLASSES), (B,), generator=g), torch.arange(B))
    origins = torch.randn(R, 3, generator=g) * torch.tensor([3.0, 3.0, 0.3]) + torch.tensor([0.0, 0.0, 1.5])
    dirs = torch.randn(R, 3, generator=g) * torch.tensor([1.0, 1.0, 0.3])
    return boxes, origins, dirs / dirs.norm(dim=1, keepdim=True)


def _same_band(a, b) -> bool:
    return (is_close(a[0].detach(), b[0], atol=1e-4, rtol=1e-4) and is_close(a[1].detach(), b[1], atol=1e-4, rtol=1e-4)
            and torch.equal(a[2], b[2]))


def check_layout_near_far(layout_near_far) -> None:
    """07-3: ``layout_near_far(origins (R, 3), directions (R, 3), boxes: LayoutBoxes, front, back) -> (near (R,), far (R,), hit (R,) bool)``."""

    def body() -> None:
        boxes, origins, dirs = _street_layout(), *_street_rays()
        cases = [("the hand-built street", boxes, origins, dirs, 1.5, 4.0), ("a random layout", *_random_layout(70), 0.5, 2.0)]
        for what, boxes, origins, dirs, front, back in cases:
            R = origins.shape[0]
            res = call(layout_near_far, origins, dirs, boxes, front, back,
                       what=f"layout_near_far(origins ({R}, 3), directions, {what} ({len(boxes)} boxes), front={front}, back={back})")
            if not (isinstance(res, (tuple, list)) and len(res) == 3):
                raise CheckFailed("layout_near_far must return the tuple (near, far, hit)")
            near, far, hit = res
            want = ref_layout_near_far(origins, dirs, boxes, front, back)
            for value, name in ((near, "near"), (far, "far")):
                if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
                    bad = ~torch.isfinite(value)
                    hint = (": rays that enter no box need near = far = 0 (an infinite t_hit must not reach them)"
                            if not want[2][bad].any() else "")
                    raise CheckFailed(f"{name} has {int(bad.sum())} NaN/inf entries on {what}{hint}")
                expect_tensor(value, f"{name} on {what}", shape=(R,))
            expect_tensor(hit, f"hit on {what}", shape=(R,))
            if hit.dtype != torch.bool:
                raise CheckFailed(f"hit has dtype {hit.dtype}: return a bool tensor, True where the ray enters a box")
            got = (near, far, hit)
            if _same_band(got, want):
                continue
            for text, options in _BAND_VARIANTS.items():
                if any(_same_band(got, _band_variant(origins, dirs, boxes, front, back, **kw)) for kw in options):
                    raise CheckFailed(f"the sampling band on {what} is wrong: {text}")
            misses = ~want[2]
            if bool(((near.detach()[misses] != 0) | (far.detach()[misses] != 0)).any()):
                raise CheckFailed(f"rays of {what} that enter no box get near or far != 0: they need near = far = 0 and hit = False")
            bad = ~((near.detach() - want[0]).abs() <= 1e-4 + 1e-4 * want[0].abs()) | \
                ~((far.detach() - want[1]).abs() <= 1e-4 + 1e-4 * want[1].abs()) | (hit != want[2])
            k = int(bad.nonzero()[0])
            fmt = lambda v: [round(x, 3) for x in v.tolist()]  # noqa: E731
            raise CheckFailed(f"the sampling band on {what} differs from the reference on {int(bad.sum())} of {R} rays, e.g. the ray "
                              f"from {fmt(origins[k])} along {fmt(dirs[k])}: expected (near, far, hit) = ({float(want[0][k]):.4f}, "
                              f"{float(want[1][k]):.4f}, {bool(want[2][k])}), got ({float(near[k]):.4f}, {float(far[k]):.4f}, {bool(hit[k])})")

    run("07-3", EXERCISES["07-3"], body)


# ---------------------------------------------------------------- 07-4 layout condition


def _condition_variants(semantic: torch.Tensor, depth: torch.Tensor) -> dict[str, torch.Tensor]:
    one_hot = torch.nn.functional.one_hot(semantic.long(), len(LAYOUT_CLASSES)).permute(0, 3, 1, 2).float()
    clamped = depth.clamp(0, MAX_DEPTH)
    mapped = (clamped / MAX_DEPTH * 2 - 1)[:, None]
    signed = one_hot * 2 - 1
    return {
        "the one-hot channels are in {0, 1}: map them to {-1, 1} (one_hot * 2 - 1), the range of the prior's inputs":
            torch.cat([one_hot, mapped], 1),
        "the depth is not clamped: clamp it to [0, MAX_DEPTH] (MAX_DEPTH = 30) before dividing by MAX_DEPTH":
            torch.cat([signed, (depth / MAX_DEPTH * 2 - 1)[:, None]], 1),
        "the depth channel is in [0, 1]: map depth / MAX_DEPTH to [-1, 1] (* 2 - 1)": torch.cat([signed, (clamped / MAX_DEPTH)[:, None]], 1),
        "neither part is mapped to [-1, 1]: one-hot in {0, 1} and depth / MAX_DEPTH in [0, 1] both need * 2 - 1":
            torch.cat([one_hot, (clamped / MAX_DEPTH)[:, None]], 1),
        "the depth is divided by its largest value: divide by the fixed MAX_DEPTH = 30, so a depth means the same in every image":
            torch.cat([signed, ((depth / depth.amax()).clamp(0, 1) * 2 - 1)[:, None]], 1),
        "the depth is the first channel: the condition is the C one-hot channels first, then the depth (the last channel)":
            torch.cat([mapped, signed], 1),
    }


def check_layout_condition(layout_condition) -> None:
    """07-4: ``layout_condition(semantic (N, H, W) LAYOUT_CLASSES ids, depth (N, H, W)) -> (N, C+1, H, W)`` in [-1, 1]."""

    def body() -> None:
        C = len(LAYOUT_CLASSES)
        cases = []
        semantic = torch.randint(0, C, (2, 5, 6), generator=_gen(80))
        semantic.view(-1)[:C] = torch.arange(C)
        cases.append(("every class, depths from -3 to 45", semantic, _rand(2, 5, 6, seed=81) * 48 - 3))
        semantic = torch.randint(0, 4, (1, 4, 3), generator=_gen(82))
        depth = _rand(1, 4, 3, seed=83) * 35
        depth[0, 0, :] = torch.tensor([0.0, MAX_DEPTH, math.inf])  # the sky: inf, or MAX_DEPTH in a rendered depth
        cases.append(("classes 0-3 only, an infinite depth (the sky)", semantic, depth))
        for what, semantic, depth in cases:
            N, H, W = semantic.shape
            got = call(layout_condition, semantic, depth, what=f"layout_condition(semantic ({N}, {H}, {W}), depth ({N}, {H}, {W})) with {what}")
            if isinstance(got, torch.Tensor) and tuple(got.shape) == (N, H, W, C + 1):
                raise CheckFailed(f"the condition has shape {tuple(got.shape)}, channels last: the prior reads (N, C+1, H, W), "
                                  "channels second (permute(0, 3, 1, 2) the one-hot)")
            if isinstance(got, torch.Tensor) and got.ndim == 4 and got.shape[0] == N and tuple(got.shape[2:]) == (H, W) and got.shape[1] != C + 1:
                hint = (f": one_hot(semantic) without num_classes sizes it by the largest label present ({int(semantic.max())}); "
                        f"pass num_classes=len(LAYOUT_CLASSES) = {C}" if got.shape[1] == int(semantic.max()) + 2 else "")
                raise CheckFailed(f"the condition has {got.shape[1]} channels, expected C + 1 = {C + 1} ({C} LAYOUT_CLASSES one-hot "
                                  f"channels and the depth){hint}")
            if isinstance(got, torch.Tensor) and not got.is_floating_point():
                raise CheckFailed(f"the condition has dtype {got.dtype}: return a float tensor (the prior's input)")
            if isinstance(got, torch.Tensor) and got.is_floating_point() and not torch.isfinite(got).all():
                raise CheckFailed(f"the condition has NaN/inf entries where the depth is inf (the sky): clamp the depth to [0, MAX_DEPTH] "
                                  "before scaling it")
            expect_close(got, ref_layout_condition(semantic, depth), f"the layout condition with {what}", atol=1e-6,
                         wrong_variants=_condition_variants(semantic, depth))

    run("07-4", EXERCISES["07-4"], body)


# ---------------------------------------------------------------- 07-5 LG-VSD gradient and the estimator's loss


def _vsd_variants(prior: _FakePrior, estimator: _FakePrior, x, t, noise) -> dict[str, torch.Tensor]:
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    x = x.detach()
    x_t = add_noise(x, noise, t)
    diff = prior.plain(x_t, t) - estimator.plain(x_t, t)
    swapped = (1 - a).sqrt() * x + a.sqrt() * noise
    t0 = t[:1].expand_as(t)
    a0 = alphas_cumprod()[t0].view(-1, 1, 1, 1)
    x_t0 = add_noise(x, noise, t0)
    return {
        "the weight is ᾱ_t: w(t) = 1 - ᾱ_t": a * diff,
        "the weight is sqrt(1 - ᾱ_t) (the noise's share in x_t): w(t) = 1 - ᾱ_t": (1 - a).sqrt() * diff,
        "the weight w(t) = 1 - ᾱ_t is missing": diff,
        "the sign is flipped: the gradient is w(t) (eps_prior - eps_estimator), the pretrained prior minus the particle estimator": -(1 - a) * diff,
        "the estimator is not used: VSD subtracts eps_estimator(x_t, t), not the sampled noise (that is SDS)":
            (1 - a) * (prior.plain(x_t, t) - noise),
        "x is not noised: both networks predict the noise in x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise (add_noise), not in x":
            (1 - a) * (prior.plain(x, t) - estimator.plain(x, t)),
        "x_t is the noise alone: x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise mixes the render and the noise (add_noise)":
            (1 - a) * (prior.plain(noise, t) - estimator.plain(noise, t)),
        "sqrt(ᾱ_t) and sqrt(1 - ᾱ_t) are swapped in the noising: x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise":
            (1 - a) * (prior.plain(swapped, t) - estimator.plain(swapped, t)),
        "every sample uses the first sample's timestep: t holds one timestep per sample (B,), in the noising, both networks and the weight":
            (1 - a0) * (prior.plain(x_t0, t0) - estimator.plain(x_t0, t0)),
        "the weight uses the first sample's timestep: w(t) = 1 - ᾱ_t per sample, shaped (B, 1, 1, 1)": (1 - a0) * diff,
    }


def _check_vsd_gradient(vsd_gradient) -> None:
    prior, estimator = _FakePrior(3, seed=100), _FakePrior(3, seed=101)
    for seed, (shape, t) in enumerate([((3, 3, 6, 8), [100, 450, 900]), ((2, 3, 5, 5), [820, 60])]):
        x = (_rand(*shape, seed=seed + 102) * 2 - 1).requires_grad_(True)
        t = torch.tensor(t)
        noise = _randn(*shape, seed=seed + 104)
        got = call(vsd_gradient, prior, estimator, x, t, noise,
                   what=f"vsd_gradient(eps_prior, eps_estimator, x {shape}, t {t.tolist()}, noise)")
        expect_tensor(got, "the VSD gradient", shape=shape)
        want = ref_vsd_gradient(prior.plain, estimator.plain, x, t, noise)
        expect_close(got.detach(), want, f"the VSD gradient for t = {t.tolist()}", atol=1e-5, rtol=1e-4,
                     wrong_variants=_vsd_variants(prior, estimator, x, t, noise))
        if got.requires_grad:
            raise CheckFailed("the VSD gradient carries an autograd graph (through x or the networks): it is a fixed direction, "
                              "compute it under torch.no_grad() from x.detach() (neither network's Jacobian is used)")


class _FakeEstimator:
    """A noise predictor linear in x_t and in the camera pose, whose weights require a gradient (they are what the
    estimator's loss trains); it remembers the poses it is called with, to read the learner's drop mask."""

    def __init__(self, channels: int, seed: int) -> None:
        self.mix = (0.5 * torch.eye(channels) + 0.3 * _randn(channels, channels, seed=seed)).requires_grad_(True)
        self.bias = 0.4 * _randn(channels, seed=seed + 1)
        self.camera = (0.5 * _randn(12, channels, seed=seed + 2)).requires_grad_(True)
        self.poses: list[torch.Tensor] = []

    def __call__(self, x_t: torch.Tensor, t, pose: torch.Tensor | None = None) -> torch.Tensor:
        if pose is None:
            raise CheckFailed("eps_estimator was called without a pose: call eps_estimator(x_t, t, pose) with the (B, 12) "
                              "poses, zeros for the images whose camera is dropped")
        t = torch.as_tensor(t)
        if t.is_floating_point():
            raise CheckFailed(f"eps_estimator was called with a {t.dtype} timestep: timesteps are integers (one per sample)")
        if not isinstance(pose, torch.Tensor) or tuple(pose.shape) != (x_t.shape[0], 12):
            shape = tuple(pose.shape) if isinstance(pose, torch.Tensor) else type(pose).__name__
            raise CheckFailed(f"eps_estimator was called with a pose of shape {shape}: pass the ({x_t.shape[0]}, 12) poses, one per image")
        self.poses.append(pose.detach().clone())
        level = (t.double() / 1000.0).float().reshape(-1, 1, 1, 1)
        out = torch.einsum("dc,bchw->bdhw", self.mix, x_t) + self.bias.view(1, -1, 1, 1) * (1.0 + 2.0 * level) - level
        return out + (pose @ self.camera)[:, :, None, None]

    def plain(self, x_t: torch.Tensor, t, pose: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            saved = list(self.poses)
            out = self(x_t, t, pose)
            self.poses = saved
            return out


def _estimator_variants(est: _FakeEstimator, x, t, noise, pose, drop) -> dict[str, torch.Tensor]:
    p = torch.where(drop[:, None], torch.zeros_like(pose), pose)
    a = alphas_cumprod()[t].view(-1, 1, 1, 1)
    x = x.detach()
    err = est.plain(add_noise(x, noise, t), t, p) - noise
    swapped = (1 - a).sqrt() * x + a.sqrt() * noise
    return {
        "the loss is summed: average the squared error over every element (.mean())": (err**2).sum(),
        "the loss sums each image's squared error and averages over the batch: average over every element (.mean())": (err**2).sum((1, 2, 3)).mean(),
        "x is not noised: the estimator predicts the noise in x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise (add_noise)":
            ((est.plain(x, t, p) - noise) ** 2).mean(),
        "sqrt(ᾱ_t) and sqrt(1 - ᾱ_t) are swapped in the noising: x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) noise":
            ((est.plain(swapped, t, p) - noise) ** 2).mean(),
        "the estimator is compared with x: its target is the noise that was added (DDPM's loss ||eps_phi(x_t) - eps||^2)":
            ((est.plain(add_noise(x, noise, t), t, p) - x) ** 2).mean(),
    }


def _drop_diagnosis(dropped: torch.Tensor, want: torch.Tensor, dropout: float) -> str | None:
    B = dropped.numel()
    if torch.equal(dropped, want):
        return None
    if bool(dropped.all()) and not bool(want.all()):
        return (f"the camera is dropped for every image (dropout = {dropout}): drop each image's pose with probability dropout, "
                "drop = torch.rand(B, generator=generator) < dropout")
    if not bool(dropped.any()) and bool(want.any()):
        return (f"the camera is never dropped (dropout = {dropout} is ignored): replace each image's pose by zeros where "
                "torch.rand(B, generator=generator) < dropout")
    if torch.equal(dropped, ~want):
        return ("the drop mask is inverted: this keeps each camera with probability dropout; drop it where "
                "torch.rand(B, generator=generator) < dropout")
    share = dropped.float().mean().item()
    if B >= 1000 and abs(share - dropout) > 0.03:
        return (f"{share:.3f} of {B} images lose their camera with dropout = {dropout}: each image's camera is dropped with "
                "probability dropout, drop = torch.rand(B, generator=generator) < dropout")
    return None


def _check_estimator_loss(estimator_loss) -> None:
    cases = [((16, 3, 4, 4), 0.5, 110), ((2000, 3, 2, 2), 0.1, 111), ((5, 3, 4, 3), 0.0, 112), ((5, 3, 3, 4), 1.0, 113)]
    for shape, dropout, seed in cases:
        B = shape[0]
        est = _FakeEstimator(3, seed=seed)
        x = (_rand(*shape, seed=seed + 1) * 2 - 1).requires_grad_(True)
        t = torch.randint(20, 980, (B,), generator=_gen(seed + 2))
        noise = _randn(*shape, seed=seed + 3)
        pose = _randn(B, 12, seed=seed + 4)
        what = f"estimator_loss(eps_estimator, x {shape}, t, noise, pose ({B}, 12), dropout={dropout}, generator)"
        loss = call(estimator_loss, est, x, t, noise, pose, dropout, _gen(seed + 5), what=what)
        if not est.poses:
            raise CheckFailed("estimator_loss does not call eps_estimator(x_t, t, pose): the loss trains the estimator")
        seen = est.poses[-1]
        dropped = (seen == 0).all(1)
        if not torch.equal(seen[~dropped], pose[~dropped]):
            raise CheckFailed("the poses of the images that keep their camera were changed: pass pose unchanged where the "
                              "camera is kept and zeros (12 of them) where it is dropped")
        want_drop = torch.rand(B, generator=_gen(seed + 5)) < dropout
        text = _drop_diagnosis(dropped, want_drop, dropout)
        if text is None and not torch.equal(dropped, want_drop):
            est.poses.clear()
            call(estimator_loss, est, x, t, noise, pose, dropout, _gen(seed + 5), what=what)
            again = (est.poses[-1] == 0).all(1) if est.poses else dropped
            if not torch.equal(again, dropped):
                text = ("two calls with generators of the same seed drop different cameras: draw the mask from the generator passed "
                        "in, torch.rand(B, generator=generator) < dropout, not from the global random state (a run must be reproducible)")
            else:
                text = ("the drop mask is not the one torch.rand(B, generator=generator) < dropout draws: draw one number per image "
                        "from the generator, before anything else, and drop where it is below dropout")
        if text is not None:
            raise CheckFailed(f"the camera dropout of {what} is wrong: {text}")
        _scalar(loss, "the estimator's loss")
        want = ref_estimator_loss(est.plain, x, t, noise, pose, dropout, _gen(seed + 5))
        expect_close(loss.detach(), want, f"the estimator's loss for x {shape}, dropout = {dropout}", atol=1e-5, rtol=1e-4,
                     wrong_variants=_estimator_variants(est, x, t, noise, pose, want_drop))
        if not loss.requires_grad:
            raise CheckFailed("the estimator's loss carries no gradient: compute it with torch operations (no torch.no_grad(), "
                              "no .item()), it trains the estimator's parameters")
        grad_x, grad_mix, grad_cam = torch.autograd.grad(loss, [x, est.mix, est.camera], allow_unused=True)
        if grad_x is not None and bool(grad_x.abs().sum() > 0):
            raise CheckFailed("the estimator's loss sends a gradient into x (the render): detach it (x.detach()), only the "
                              "estimator φ learns from this loss")
        if grad_mix is None or not bool(grad_mix.abs().sum() > 0):
            raise CheckFailed("the estimator's loss does not reach the estimator's parameters: call eps_estimator inside the loss, "
                              "with no torch.no_grad() around it")


def _check_shipped_prior(vsd_gradient, estimator_loss) -> None:
    """One run on the shipped layout prior and a LoRA particle estimator at 32 px (about 0.3 s)."""
    from course_lib.priors.shipped import load_prior
    from course_lib.text_to_3d.urban_architect.guidance import ParticleEstimator, prior_eps_fn

    prior = load_prior("prior_layout")
    prompts = ["a street", "a street"]
    semantic = torch.randint(0, len(LAYOUT_CLASSES), (2, 32, 32), generator=_gen(120))
    condition = ref_layout_condition(semantic, _rand(2, 32, 32, seed=121) * 40)
    estimator = ParticleEstimator(prior, 4)
    with torch.no_grad():  # a camera embedding that is not zero yet, so the dropped cameras change the prediction
        estimator.camera[2].weight.copy_(0.05 * _randn(*estimator.camera[2].weight.shape, seed=122))
    pose = _randn(2, 12, seed=123)
    eps_prior = prior_eps_fn(prior, prompts, condition, 3.0)
    eps_estimator = estimator.eps_fn(prompts, condition, pose)
    x = _rand(2, 3, 32, 32, seed=124) * 2 - 1
    t = torch.tensor([250, 700])
    noise = _randn(2, 3, 32, 32, seed=125)
    got = call(vsd_gradient, eps_prior, eps_estimator, x, t, noise,
               what="vsd_gradient with the shipped layout prior (CFG 3) and a LoRA particle estimator, x (2, 3, 32, 32)")
    expect_tensor(got, "the VSD gradient with the shipped prior", shape=x.shape)
    expect_close(got.detach(), ref_vsd_gradient(eps_prior, eps_estimator, x, t, noise),
                 "the VSD gradient with the shipped prior", atol=1e-4, rtol=1e-3)
    loss = call(estimator_loss, eps_estimator, x, t, noise, pose, 0.5, _gen(126),
                what="estimator_loss with the LoRA particle estimator of the shipped prior, x (2, 3, 32, 32)")
    _scalar(loss, "the estimator's loss with the shipped prior")
    expect_close(loss.detach(), ref_estimator_loss(eps_estimator, x, t, noise, pose, 0.5, _gen(126)),
                 "the estimator's loss with the shipped prior", atol=1e-5, rtol=1e-4)
    grads = torch.autograd.grad(loss, estimator.trainable_parameters(), allow_unused=True)
    if all(g is None or not bool(g.abs().sum() > 0) for g in grads):
        raise CheckFailed("the estimator's loss does not reach the LoRA and camera parameters of the particle estimator")


def check_vsd(vsd_gradient, estimator_loss) -> None:
    """07-5: ``vsd_gradient(eps_prior, eps_estimator, x, t, noise) -> w(t) (eps_prior(x_t, t) - eps_estimator(x_t, t))`` (Urban
    Architect Eq. 3) and ``estimator_loss(eps_estimator, x, t, noise, pose, dropout, generator) -> scalar`` (the particle
    estimator's DDPM loss, camera dropped with probability ``dropout``).

    The chapter's last check: it also prints which exercises of the chapter are still open."""

    def body() -> None:
        _check_vsd_gradient(vsd_gradient)
        _check_estimator_loss(estimator_loss)
        _check_shipped_prior(vsd_gradient, estimator_loss)

    run("07-5", EXERCISES["07-5"], body, chapter_exercises=EXERCISES)
