"""Checkers of chapter 04 (BRAVE). Each compares the learner's code with course_lib's reference
on random inputs and edge cases and, when it is wrong, says how."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from course_lib.grading.checking import CheckFailed, call, expect_close, expect_tensor, require_passed, run
from course_lib.vlm.model import pair_accuracy as ref_pair_accuracy
from course_lib.vlm.qformer import QFormerLayer
from course_lib.vlm.qformer import build_lm_inputs as ref_build_lm_inputs
from course_lib.vlm.qformer import concat_encoder_features as ref_concat
from course_lib.vlm.qformer import cross_attention as ref_cross_attention
from course_lib.vlm.qformer import qformer_layer as ref_qformer_layer

# every exercise of the chapter (id -> title): its last check prints which are still open
EXERCISES = {
    "04-1": "cross-attention from the queries",
    "04-2": "the Q-Former block",
    "04-3": "multi-encoder concatenation with per-encoder projections",
    "04-4": "encoder dropout",
    "04-5": "the soft prompt",
    "04-6": "MMVP pair accuracy",
}

# checks_NN.require("NN-1", ..., what=...): an experiment on the learner's code stops while one is open
require = partial(require_passed, EXERCISES)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _plain_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def _heads(x: torch.Tensor, w: torch.Tensor, h: int) -> torch.Tensor:
    B, N, d = x.shape[0], x.shape[1], w.shape[0]
    return (x @ w.T).view(B, N, h, d // h).transpose(1, 2)


def _merge(a: torch.Tensor) -> torch.Tensor:
    B, H, N, dh = a.shape
    return a.transpose(1, 2).reshape(B, N, H * dh)


def check_cross_attention(fn) -> None:
    """04-1: ``fn(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None)``."""

    def body() -> None:
        for seed, (B, Nq, Nf, d, h, masked) in enumerate([(2, 3, 7, 8, 2, False), (3, 4, 9, 12, 3, True), (1, 5, 5, 8, 1, True)]):
            q_in, f = _randn(B, Nq, d, seed=seed), _randn(B, Nf, d, seed=seed + 10)
            w = [_randn(d, d, seed=seed + 20 + i) / math.sqrt(d) for i in range(4)]
            mask = (_randn(B, Nf, seed=seed + 30) > -0.3) if masked else None
            if mask is not None:
                mask[:, 0] = True  # every query sees at least one feature token
            what = f"cross_attention(queries {tuple(q_in.shape)}, features {tuple(f.shape)}, ..., num_heads={h}" + (", key_mask)" if masked else ")")
            out = call(fn, q_in, f, *w, h, mask, what=what) if masked else call(fn, q_in, f, *w, h, what=what)
            want = ref_cross_attention(q_in, f, *w, h, mask)
            dh = d // h
            m4 = None if mask is None else mask[:, None, None, :]
            qh, kh, vh = _heads(q_in, w[0], h), _heads(f, w[1], h), _heads(f, w[2], h)
            wrong = {
                "the keys and values come from the queries (that is self-attention): keys and values are the *features*, W_k F and W_v F":
                    _merge(_plain_attention(qh, _heads(q_in, w[1], h), _heads(q_in, w[2], h), dh ** -0.5)) @ w[3].T,
                "the keys are the queries and the values the features: both keys and values come from the features":
                    _merge(_plain_attention(qh, _heads(q_in, w[1], h), vh, dh ** -0.5)) @ w[3].T if Nq == Nf else None,
                "the scores are not scaled: divide Q K^T by sqrt(d_head)": _merge(_plain_attention(qh, kh, vh, 1.0, m4)) @ w[3].T,
                "the scores are scaled by sqrt(d_model): use sqrt(d_head), the width of one head": _merge(_plain_attention(qh, kh, vh, d ** -0.5, m4)) @ w[3].T,
                "the output projection W_o is missing": _merge(_plain_attention(qh, kh, vh, dh ** -0.5, m4)),
                "key_mask is ignored: hidden feature tokens (dropped encoders) must get zero attention": ref_cross_attention(q_in, f, *w, h, None),
                "the heads are not split: attention runs once over the full width (num_heads heads of d/num_heads each)":
                    (_plain_attention(q_in @ w[0].T, f @ w[1].T, f @ w[2].T, dh ** -0.5, None if mask is None else mask[:, None, :])) @ w[3].T,
            }
            wrong = {k: v for k, v in wrong.items() if v is not None}
            if not masked:
                wrong.pop("key_mask is ignored: hidden feature tokens (dropped encoders) must get zero attention")
            expect_close(out, want, f"the cross-attention output for {Nq} queries and {Nf} feature tokens", wrong_variants=wrong)

    run("04-1", "cross-attention from the queries", body)


def _layer(dim: int, heads: int, cross: bool, seed: int) -> QFormerLayer:
    torch.manual_seed(seed)
    layer = QFormerLayer(dim, heads, cross=cross)
    with torch.no_grad():
        for module in layer.modules():
            if isinstance(module, nn.LayerNorm):  # non-trivial norms, so that a skipped norm shows
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
    return layer.eval()


def check_qformer_layer(fn) -> None:
    """04-2: ``fn(layer, queries, text, features, text_mask=None, key_mask=None) -> (queries, text)``."""

    def body() -> None:
        for seed, (B, Nq, Nt, Nf, d, h, cross, masks) in enumerate([
            (2, 3, 4, 6, 8, 2, True, False), (2, 4, 3, 5, 8, 2, True, True), (1, 2, 3, 4, 8, 2, False, True),
        ]):
            layer = _layer(d, h, cross, seed)
            q, t, f = _randn(B, Nq, d, seed=seed), _randn(B, Nt, d, seed=seed + 1), _randn(B, Nf, d, seed=seed + 2)
            tm = km = None
            if masks:
                tm = torch.ones(B, Nt, dtype=torch.bool)
                tm[0, -1] = False  # a padded question token
                km = torch.ones(B, Nf, dtype=torch.bool)
                km[:, : Nf // 2] = False  # a dropped encoder
            with torch.no_grad():
                res = call(fn, layer, q, t, f, tm, km, what=f"qformer_layer(layer, queries {tuple(q.shape)}, text {tuple(t.shape)}, features {tuple(f.shape)}, ...)")
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise CheckFailed("qformer_layer must return the pair (new queries, new text)")
                want_q, want_t = ref_qformer_layer(layer, q, t, f, tm, km)
                wrong = _qformer_wrong_variants(layer, q, t, f, tm, km)
            expect_close(res[0], want_q, "the new queries", atol=1e-5, wrong_variants={k: v[0] for k, v in wrong.items()})
            expect_close(res[1], want_t, "the new text tokens", atol=1e-5, wrong_variants={k: v[1] for k, v in wrong.items()})

    run("04-2", "the Q-Former block", body)


def _qformer_wrong_variants(layer, q, t, f, tm, km) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    nq = q.shape[1]
    ffn = lambda x: x + layer.ffn(layer.norm_ffn(x))  # noqa: E731
    cross = (lambda x: x + layer.cross_attn(layer.norm_cross(x), f, km)) if layer.cross_attn is not None else (lambda x: x)  # noqa: E731
    keep = None if tm is None else torch.cat((tm.new_ones(tm.shape[0], nq), tm), 1)[:, None, None, :]

    def separate():  # queries and text each attend only to themselves
        qq = q + layer.self_attn(layer.norm_self(q))
        tt = t + layer.self_attn(layer.norm_self(t), None if tm is None else tm[:, None, None, :])
        return ffn(cross(qq)), ffn(tt)

    def text_crosses_too():
        x = torch.cat((q, t), 1)
        x = x + layer.self_attn(layer.norm_self(x), keep)
        x = ffn(cross(x)) if layer.cross_attn is not None else ffn(x)
        return x[:, :nq], x[:, nq:]

    def cross_first():
        x = torch.cat((cross(q), t), 1)
        x = ffn(x + layer.self_attn(layer.norm_self(x), keep))
        return x[:, :nq], x[:, nq:]

    def no_text_mask():
        return ref_qformer_layer(layer, q, t, f, None, km)

    def no_key_mask():
        return ref_qformer_layer(layer, q, t, f, tm, None)

    variants = {
        "the queries and the text attend separately: BRAVE's MEQ-Former runs self-attention over the concatenation [queries; text]": separate(),
        "the text tokens cross-attend to the image too: only the queries read the visual features": text_crosses_too(),
        "cross-attention comes before self-attention: the block is self-attention, then cross-attention, then the FFN": cross_first(),
    }
    if tm is not None:
        variants["text_mask is ignored: padded question tokens must be hidden in self-attention"] = no_text_mask()
    if km is not None and layer.cross_attn is not None:
        variants["key_mask is ignored: pass it to the cross-attention, so dropped encoders stay hidden"] = no_key_mask()
    return variants


def check_concat_encoder_features(fn) -> None:
    """04-3: ``fn(features: list of (B, N_k, D_k), projections: list of modules) -> (B, sum N_k, d)``."""

    def body() -> None:
        for seed, (counts, dims, d) in enumerate([((5, 5), (6, 6), 6), ((16, 4, 16), (34, 16, 32), 8), ((3,), (4,), 5)]):
            torch.manual_seed(seed)
            B = 2
            feats = [_randn(B, n, dk, seed=seed + i) for i, (n, dk) in enumerate(zip(counts, dims))]
            projs = [nn.Linear(dk, d) for dk in dims]
            with torch.no_grad():
                out = call(fn, feats, projs, what=f"concat_encoder_features({len(feats)} encoders with {list(counts)} tokens, ...)")
                want = ref_concat(feats, projs)
                if isinstance(out, torch.Tensor) and out.ndim == 3 and out.shape[1] == counts[0] and len(counts) > 1:
                    raise CheckFailed(f"the result has {out.shape[1]} tokens, not {sum(counts)}: the encoders' tokens were summed, averaged "
                                      "or laid side by side; concatenate the projected sequences along the token dimension (dim=1)")
                if isinstance(out, torch.Tensor) and out.ndim == 3 and out.shape[-1] != d:
                    raise CheckFailed(f"the tokens have width {out.shape[-1]}, not the common width {d}: apply each encoder's projection before concatenating")
                wrong = {
                    "the encoders' sequences come out in the wrong order: keep encoder 0's tokens first": torch.cat([p(x) for p, x in zip(projs[::-1], feats[::-1])], 1),
                }
                if len(set(dims)) == 1:
                    wrong["every encoder goes through the first projection: each encoder has its own linear projection"] = torch.cat([projs[0](x) for x in feats], 1)
            expect_close(out, want, "the concatenated projected features", wrong_variants=wrong)

    run("04-3", "multi-encoder concatenation with per-encoder projections", body)


def check_encoder_keep_mask(fn) -> None:
    """04-4: ``fn(batch_size, token_counts, p, training, generator=None) -> (B, sum(token_counts)) bool``."""

    def body() -> None:
        counts, B = [16, 4, 16], 4000
        for training, p in ((False, 0.2), (True, 0.0)):
            out = call(fn, 8, counts, p, training, torch.Generator().manual_seed(0), what=f"encoder_keep_mask(8, {counts}, p={p}, training={training})")
            expect_tensor(out, "the keep mask", shape=(8, sum(counts)))
            if out.dtype != torch.bool:
                raise CheckFailed(f"the keep mask has dtype {out.dtype}: return a boolean tensor, True = the token is seen")
            if not out.all():
                raise CheckFailed(f"with training={training} and p={p} tokens are dropped: encoder dropout only acts in training, with p > 0 "
                                  "(at inference every encoder is seen)")
        for p in (0.2, 0.5):
            out = call(fn, B, counts, p, True, torch.Generator().manual_seed(1), what=f"encoder_keep_mask({B}, {counts}, p={p}, training=True)")
            expect_tensor(out, "the keep mask", shape=(B, sum(counts)))
            if out.dtype != torch.bool:
                raise CheckFailed(f"the keep mask has dtype {out.dtype}: return a boolean tensor, True = the token is seen")
            blocks = torch.split(out, counts, dim=1)
            for k, block in enumerate(blocks):
                if not (block.all(1) | ~block.any(1)).all():
                    raise CheckFailed(f"encoder {k}'s tokens are dropped one by one: drop *whole* encoders (all {counts[k]} of its tokens together)")
            kept = torch.stack([block[:, 0] for block in blocks], 1)  # (B, K)
            if (kept.all(0) | ~kept.any(0)).all():
                raise CheckFailed("every sample drops the same encoders: draw the dropout independently for each sample")
            if not kept.any(1).all():
                raise CheckFailed("some samples lose every encoder: a sample that drew 'drop' for all encoders must keep them all")
            expected_drop = p - p ** len(counts)  # all-dropped samples keep everything
            rate = 1 - kept.float().mean().item()
            if abs(rate - expected_drop) > 0.03:
                hint = " (is p the probability to *keep* an encoder? it is the probability to drop one)" if abs(rate - ((1 - p) - (1 - p) ** len(counts))) < 0.03 else ""
                raise CheckFailed(f"encoders are dropped at rate {rate:.3f}, expected about {expected_drop:.3f} for p={p}{hint}")
            a = call(fn, 64, counts, p, True, torch.Generator().manual_seed(7), what="encoder_keep_mask with a seeded generator")
            b = call(fn, 64, counts, p, True, torch.Generator().manual_seed(7), what="encoder_keep_mask with a seeded generator")
            if not torch.equal(a, b):
                raise CheckFailed("two calls with equally seeded generators differ: draw the random numbers from `generator`")

    run("04-4", "encoder dropout", body)


def check_build_lm_inputs(fn) -> None:
    """04-5: ``fn(query_outputs, to_lm, text_embeds) -> (B, N_q + N_t, d_lm)``."""

    def body() -> None:
        for seed, (B, Nq, Nt, d, d_lm) in enumerate([(2, 6, 5, 8, 12), (3, 4, 4, 8, 8)]):
            torch.manual_seed(seed)
            q, t = _randn(B, Nq, d, seed=seed), _randn(B, Nt, d_lm, seed=seed + 1)
            to_lm = nn.Linear(d, d_lm)
            with torch.no_grad():
                out = call(fn, q, to_lm, t, what=f"build_lm_inputs(query_outputs {tuple(q.shape)}, to_lm, text_embeds {tuple(t.shape)})")
                if isinstance(out, torch.Tensor) and out.ndim == 3 and out.shape[1] == Nt and Nq != Nt:
                    raise CheckFailed("the result has only the text's length: the soft prompt goes *in front of* the text (concatenate along dim 1)")
                want = ref_build_lm_inputs(q, to_lm, t)
                wrong = {"the text comes first: the soft prompt is a prefix, [prompt; text]": torch.cat((t, to_lm(q)), 1)}
                if d == d_lm:
                    wrong["the query outputs are not projected: map them with to_lm into the LM's input space"] = torch.cat((q, t), 1)
                    wrong["the text goes through to_lm too: only the query outputs are projected, the text is already LM embeddings"] = torch.cat((to_lm(q), to_lm(t)), 1)
            if isinstance(out, torch.Tensor) and out.ndim == 3 and out.shape[-1] == d and d != d_lm:
                raise CheckFailed(f"the tokens have width {d}, the bridge's, not the LM's {d_lm}: project the query outputs with to_lm")
            expect_close(out, want, "the LM input embeddings", wrong_variants=wrong)

    run("04-5", "the soft prompt", body)


def check_pair_accuracy(fn) -> None:
    """04-6: ``fn(correct: (2P,) bool, pair p = rows 2p and 2p+1) -> float``."""

    def body() -> None:
        cases = [
            torch.tensor([True, True, True, False, False, False, True, True]),
            torch.tensor([True, False, False, True, True, True]),
            torch.tensor([True, True]),
            torch.tensor([False, False]),
            torch.tensor([True, True, True, True, True, False, False, True, True, True]),
        ]
        for correct in cases:
            got = call(fn, correct, what=f"pair_accuracy({correct.int().tolist()})")
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if not isinstance(got, (float, int)):
                raise CheckFailed(f"pair_accuracy returned {type(got).__name__}: return a Python float")
            want = ref_pair_accuracy(correct)
            if math.isclose(got, want, abs_tol=1e-6):
                continue
            P = correct.numel() // 2
            hints = {
                correct.float().mean().item(): "that is the accuracy per image: a pair counts only if both of its answers are right",
                correct.view(-1, 2).any(1).float().mean().item(): "a pair counts when *either* answer is right: it needs both",
                (correct[:P] & correct[P:]).float().mean().item(): "the pairs are taken as (i, i + P): pair p is rows 2p and 2p + 1",
            }
            hint = next((h for v, h in hints.items() if math.isclose(got, v, abs_tol=1e-6)), "it differs from the reference")
            raise CheckFailed(f"pair_accuracy({correct.int().tolist()}) = {got}, expected {want}: {hint}")

    run("04-6", "MMVP pair accuracy", body, chapter_exercises=EXERCISES)
