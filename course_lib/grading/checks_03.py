"""Checkers of chapter 03 (iLLaMA). Each compares the learner's code with course_lib's reference
on random inputs and edge cases and, when it is wrong, says how."""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F

from course_lib.attention.rmsnorm import rms_norm as ref_rms_norm
from course_lib.attention.rope import apply_rope as ref_apply_rope
from course_lib.attention.rope import rope_angles as ref_rope_angles
from course_lib.attention.swiglu_ffn import swiglu as ref_swiglu
from course_lib.attention.swiglu_ffn import swiglu_hidden_dim as ref_hidden_dim
from course_lib.grading.checking import CheckFailed, call, expect_close, expect_tensor, require_passed, run
from course_lib.vision.masks import class_token_mask as ref_mask
from course_lib.vision.masks import soft_mask as ref_soft_mask
from course_lib.vision.soft_mask_schedule import soft_mask_alpha as ref_alpha

# every exercise of the chapter (id -> title): its last check prints which are still open
EXERCISES = {
    "03-1": "RMSNorm",
    "03-2": "SwiGLU and its hidden size",
    "03-3": "causal and modified attention masks (eq. 1)",
    "03-4": "post-sequence class token",
    "03-5": "rotary position embedding (RoPE)",
    "03-6": "soft mask and its schedule (eq. 2)",
}

# checks_NN.require("NN-1", ..., what=...): an experiment on the learner's code stops while one is open
require = partial(require_passed, EXERCISES)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def check_rms_norm(fn) -> None:
    """03-1: RMSNorm ``fn(x, weight, eps)``."""

    def body() -> None:
        for seed, (shape, scale, eps) in enumerate([((2, 5, 8), 1.0, 1e-6), ((3, 16), 1e-3, 1e-5), ((1, 4, 2, 6), 10.0, 1e-6)]):
            x = _randn(*shape, seed=seed) * scale + 0.5 * scale  # a non-zero mean tells RMSNorm from LayerNorm
            weight = 1.0 + 0.5 * _randn(shape[-1], seed=seed + 10)
            ms = x.pow(2).mean(-1, keepdim=True)
            wrong = {
                "this is LayerNorm: RMSNorm does not subtract the mean (divide x by sqrt(mean(x^2) + eps))": F.layer_norm(x, (shape[-1],), weight, None, eps),
                "eps is added outside the square root: use sqrt(mean(x^2) + eps)": x / (ms.sqrt() + eps) * weight,
                "eps is missing: use sqrt(mean(x^2) + eps)": x / ms.sqrt() * weight,
                "the learnable gain is not applied: multiply by weight": ref_rms_norm(x, torch.ones_like(weight), eps),
                "the mean of x^2 runs over the wrong dimension: normalise each token over its features (dim -1)": x / (x.pow(2).mean(0, keepdim=True) + eps).sqrt() * weight,
                "x is divided by its standard deviation: RMSNorm uses the root mean square, sqrt(mean(x^2))": x / (x.var(-1, keepdim=True, unbiased=False) + eps).sqrt() * weight,
            }
            out = call(fn, x, weight, eps, what=f"rms_norm(x of shape {shape}, weight, eps={eps})")
            expect_close(out, ref_rms_norm(x, weight, eps), f"RMSNorm of x with shape {shape}", atol=1e-5 * max(scale, 1), wrong_variants=wrong)

    run("03-1", "RMSNorm", body)


def check_swiglu(hidden_dim_fn, swiglu_fn) -> None:
    """03-2: the SwiGLU hidden-size rule ``hidden_dim_fn(dim, mlp_ratio, multiple_of)`` and ``swiglu_fn(x, w1, w2, w3)``."""

    def body() -> None:
        for dim, ratio, multiple in [(192, 4.0, 256), (384, 4.0, 256), (768, 4.0, 256), (1024, 4.0, 256), (32, 4.0, 8), (100, 3.0, 16)]:
            got = call(hidden_dim_fn, dim, ratio, multiple, what=f"swiglu_hidden_dim({dim}, {ratio}, {multiple})")
            want = ref_hidden_dim(dim, ratio, multiple)
            if not isinstance(got, int):
                raise CheckFailed(f"swiglu_hidden_dim({dim}, {ratio}, {multiple}) returned {type(got).__name__}: return a Python int")
            if got != want:
                hidden = 2 * int(dim * ratio) / 3
                hints = {
                    multiple * int(hidden // multiple): "it rounds down: round 2/3 * ratio * D *up* to a multiple",
                    int(dim * ratio): "the 2/3 factor is missing (three matrices instead of two keep the parameters equal only with 2/3)",
                    multiple * round(hidden / multiple): "it rounds to the nearest multiple: round *up*",
                    int(hidden): "it does not round to a multiple of multiple_of",
                }
                raise CheckFailed(f"swiglu_hidden_dim({dim}, {ratio}, {multiple}) = {got}, expected {want}" + (f": {hints[got]}" if got in hints else ""))
        for seed, (lead, D, Fh) in enumerate([((2, 5), 8, 16), ((3,), 12, 24)]):
            x = _randn(*lead, D, seed=seed)
            w1, w2, w3 = _randn(Fh, D, seed=seed + 1) / 3, _randn(D, Fh, seed=seed + 2) / 4, _randn(Fh, D, seed=seed + 3) / 3
            wrong = {
                "GELU is used as the gate: SwiGLU gates with SiLU (x * sigmoid(x))": (F.gelu(x @ w1.T) * (x @ w3.T)) @ w2.T,
                "the gate is a plain sigmoid: SiLU is x * sigmoid(x)": (torch.sigmoid(x @ w1.T) * (x @ w3.T)) @ w2.T,
                "SiLU is applied to the W3 branch: the paper gates SiLU(W1 x) * (W3 x)": (F.silu(x @ w3.T) * (x @ w1.T)) @ w2.T,
                "there is no gating: multiply SiLU(W1 x) elementwise by W3 x": F.silu(x @ w1.T) @ w2.T,
            }
            out = call(swiglu_fn, x, w1, w2, w3, what=f"swiglu(x of shape {tuple(x.shape)}, w1, w2, w3)")
            expect_close(out, ref_swiglu(x, w1, w2, w3), "the SwiGLU output", wrong_variants=wrong)

    run("03-2", "SwiGLU and its hidden size", body)


def check_class_token_mask(fn) -> None:
    """03-3: ``fn(num_tokens, kind, cls_position)``: the bidirectional, causal and modified masks."""

    def body() -> None:
        for n in (9, 5, 2, 1):
            for kind in ("bidirectional", "causal", "modified"):
                for pos in ("first", "last"):
                    out = call(fn, n, kind, pos, what=f"class_token_mask({n}, {kind!r}, {pos!r})")
                    expect_tensor(out, f"the {kind} mask for {n} tokens", shape=(n, n))
                    if out.dtype != torch.bool:
                        raise CheckFailed(f"the mask has dtype {out.dtype}: return a boolean tensor, True where a query may attend")
                    want = ref_mask(n, kind, pos)
                    if torch.equal(out, want):
                        continue
                    tril = torch.ones(n, n, dtype=torch.bool).tril()
                    cls = 0 if pos == "first" else n - 1
                    hint = "it differs from the reference"
                    if torch.equal(out, tril.T):
                        hint = "it is the transpose: query i must see keys 0..i (torch.tril), not i..N-1"
                    elif torch.equal(out, torch.ones(n, n, dtype=torch.bool).tril(-1)):
                        hint = "the diagonal is masked: a token must see itself"
                    elif kind == "modified" and torch.equal(out, tril):
                        hint = "the class token's row is still causal: in the modified mask the class token sees every token"
                    elif kind == "modified" and out[cls].all() and not torch.equal(out[:, cls], want[:, cls]):
                        hint = "the class token's column is unmasked too: only its row (what it sees) changes; patches stay causal"
                    elif kind == "modified" and not out[cls].all():
                        hint = f"the class token sees only {int(out[cls].sum())} of the {n} tokens: unmask its whole row"
                    elif kind == "causal" and torch.equal(out, ref_mask(n, "modified", pos)):
                        hint = "the class token's row is unmasked: that is the modified mask, not the causal one"
                    elif kind == "bidirectional":
                        hint = "the bidirectional mask lets every token see every token"
                    raise CheckFailed(f"the {kind} mask for {n} tokens with the class token {pos} is wrong: {hint}")

    run("03-3", "causal and modified attention masks (eq. 1)", body)


def check_add_class_token(fn) -> None:
    """03-4: ``fn(patch_tokens, cls_token, position) -> (tokens, cls_index)``."""

    def body() -> None:
        for B, N, D in [(2, 4, 3), (1, 1, 5), (3, 16, 8)]:
            patches, cls = _randn(B, N, D, seed=N), _randn(1, 1, D, seed=D)
            for pos in ("first", "last"):
                res = call(fn, patches, cls, pos, what=f"add_class_token(patches {tuple(patches.shape)}, cls {tuple(cls.shape)}, {pos!r})")
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise CheckFailed("add_class_token must return the pair (tokens, index of the class token)")
                tokens, index = res
                expect_tensor(tokens, "the token sequence", shape=(B, N + 1, D))
                want_index = 0 if pos == "first" else N
                if index not in (want_index, want_index - (N + 1)) or not isinstance(index, int):
                    raise CheckFailed(f"with the class token {pos} its index is {want_index}, got {index!r}")
                want = torch.cat((cls.expand(B, 1, D), patches) if pos == "first" else (patches, cls.expand(B, 1, D)), 1)
                other = torch.cat((patches, cls.expand(B, 1, D)) if pos == "first" else (cls.expand(B, 1, D), patches), 1)
                expect_close(tokens, want, f"the tokens with the class token {pos}", wrong_variants={
                    f"the class token is on the wrong end: '{pos}' puts it {'before' if pos == 'first' else 'after'} the patches": other,
                })

    run("03-4", "post-sequence class token", body)


def check_rope(angles_fn, apply_fn) -> None:
    """03-5: ``angles_fn(num_positions, head_dim, theta)`` and ``apply_fn(x, angles)`` (1D RoPE, adjacent pairs)."""

    def body() -> None:
        for N, d, theta in [(5, 8, 10000.0), (17, 16, 10000.0), (3, 4, 100.0)]:
            got = call(angles_fn, N, d, theta, what=f"rope_angles({N}, {d}, {theta})")
            want = ref_rope_angles(N, d, theta)
            i = torch.arange(d // 2, dtype=torch.float32)
            m = torch.arange(N, dtype=torch.float32)[:, None]
            expect_close(got, want, f"the angles for {N} positions, head_dim {d}", wrong_variants={
                "the frequencies use theta^(-i/d): the exponent is -2i/d": m * theta ** (-i / d),
                "positions start at 1: the first token has position 0": (m + 1) * theta ** (-2 * i / d),
                "the frequencies grow with i: theta_i = theta^(-2i/d) decreases": m * theta ** (2 * i / d),
            })
            x = _randn(2, 3, N, d, seed=N + d)
            half = d // 2
            cos, sin = want.cos(), want.sin()
            x1, x2 = x[..., :half], x[..., half:]
            rotate_half = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1)
            out = call(apply_fn, x, want, what=f"apply_rope(x of shape {tuple(x.shape)}, angles)")
            expect_close(out, ref_apply_rope(x, want), "the rotated features", wrong_variants={
                "the pairs are (x_i, x_{i+d/2}) (the 'rotate half' layout): iLLaMA, like LLaMA, rotates adjacent pairs (x_{2i}, x_{2i+1})": rotate_half,
                "the rotation goes the wrong way (angle -m theta_i): x'_{2i} = x_{2i} cos - x_{2i+1} sin": ref_apply_rope(x, -want),
            })
        # the same query and key content at every position: the scores must depend on m - n only
        q, k = _randn(1, 1, 1, 8, seed=1).expand(1, 1, 9, 8), _randn(1, 1, 1, 8, seed=2).expand(1, 1, 9, 8)
        angles = ref_rope_angles(9, 8)
        rq, rk = call(apply_fn, q, angles, what="apply_rope"), call(apply_fn, k, angles, what="apply_rope")
        scores = (rq @ rk.transpose(-2, -1))[0, 0]  # (9, 9)
        if not torch.allclose(scores[1:, 1:], scores[:-1, :-1], atol=1e-4):
            raise CheckFailed("<q_m, k_n> changes when both positions shift by one: RoPE must make the score depend on m - n only")

    run("03-5", "rotary position embedding (RoPE)", body)


def check_soft_mask(alpha_fn, soft_mask_fn) -> None:
    """03-6: the schedule ``alpha_fn(step, cutoff_step, schedule)`` and ``soft_mask_fn(hard_mask, alpha)`` (eq. 2)."""

    def body() -> None:
        cutoff = 10
        for schedule in ("linear", "constant"):
            got = [call(alpha_fn, t, cutoff, schedule, what=f"soft_mask_alpha({t}, {cutoff}, {schedule!r})") for t in range(15)]
            want = [ref_alpha(t, cutoff, schedule) for t in range(15)]
            if not all(isinstance(a, (int, float)) for a in got):
                raise CheckFailed("soft_mask_alpha must return a Python float")
            if not all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(got, want)):
                if any(a > 0 for a in got[cutoff:]):
                    hint = "alpha must be 0 from the cutoff step on: the end of training uses the hard causal mask"
                elif not math.isclose(got[0], 1.0):
                    hint = f"alpha starts at {got[0]}: it starts at 1 (the fully bidirectional mask)"
                elif schedule == "constant":
                    hint = "the constant schedule keeps alpha = 1 until the cutoff, then drops it to 0"
                else:
                    hint = "the linear schedule goes 1 - step / cutoff_step"
                raise CheckFailed(f"the {schedule} schedule gives {[round(a, 3) for a in got]}, expected {[round(b, 3) for b in want]}: {hint}")
        hard = ref_mask(6, "causal", "last")
        for alpha in (0.3, 0.0, 1.0):
            out = call(soft_mask_fn, hard, alpha, what=f"soft_mask(causal mask, alpha={alpha})")
            expect_close(out, ref_soft_mask(hard, alpha), f"S for alpha = {alpha}", wrong_variants={
                "alpha and 1 - alpha are swapped: S = alpha * ones + (1 - alpha) * causal": ref_soft_mask(hard, 1 - alpha),
                "S should be 1 on and below the diagonal and alpha above it": alpha * hard.float(),
            } if alpha not in (0.0, 1.0) else {})

    run("03-6", "soft mask and its schedule (eq. 2)", body, chapter_exercises=EXERCISES)
