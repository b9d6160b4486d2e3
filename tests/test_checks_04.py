"""Chapter 04 checkers accept correct implementations and reject plausible wrong ones, in words."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.grading import checks_04
from course_lib.grading.checking import CheckFailed
from course_lib.vlm import model as model_ref
from course_lib.vlm import qformer as qformer_ref


# --- correct implementations, written independently of course_lib (the checker refuses course_lib's own) ---

def cross_attention(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
    B, Nq, d = queries.shape
    q = F.linear(queries, w_q).unflatten(-1, (num_heads, -1)).transpose(1, 2)
    k = F.linear(features, w_k).unflatten(-1, (num_heads, -1)).transpose(1, 2)
    v = F.linear(features, w_v).unflatten(-1, (num_heads, -1)).transpose(1, 2)
    mask = None if key_mask is None else key_mask[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return F.linear(out.transpose(1, 2).flatten(2), w_o)


def qformer_layer(layer, queries, text, features, text_mask=None, key_mask=None):
    n = queries.shape[1]
    x = torch.cat([queries, text], 1)
    mask = None
    if text_mask is not None:
        mask = torch.cat([torch.ones_like(text_mask[:, :1]).expand(-1, n), text_mask], 1)[:, None, None, :]
    x = x + layer.self_attn(layer.norm_self(x), mask)
    q, t = x.split([n, text.shape[1]], 1)
    if layer.cross_attn is not None:
        q = q + layer.cross_attn(layer.norm_cross(q), features, key_mask)
    x = torch.cat([q, t], 1)
    x = x + layer.ffn(layer.norm_ffn(x))
    return x[:, :n], x[:, n:]


def concat(features, projections):
    out = [p(f) for f, p in zip(features, projections)]
    return torch.cat(out, dim=-2)


def keep_mask(batch_size, token_counts, p, training, generator=None):
    if not training:
        return torch.ones(batch_size, sum(token_counts), dtype=torch.bool)
    drop = torch.rand(batch_size, len(token_counts), generator=generator) < p
    drop[drop.all(1)] = False
    return torch.cat([(~drop[:, k : k + 1]).expand(-1, n) for k, n in enumerate(token_counts)], 1)


def lm_inputs(query_outputs, to_lm, text_embeds):
    return torch.cat([to_lm(query_outputs), text_embeds], 1)


def pair_acc(correct):
    pairs = correct.reshape(-1, 2)
    return float((pairs[:, 0] & pairs[:, 1]).sum()) / pairs.shape[0]


def test_checkers_accept_correct_code(capsys):
    checks_04.check_cross_attention(cross_attention)
    checks_04.check_qformer_layer(qformer_layer)
    checks_04.check_concat_encoder_features(concat)
    checks_04.check_encoder_keep_mask(keep_mask)
    checks_04.check_build_lm_inputs(lm_inputs)
    checks_04.check_pair_accuracy(pair_acc)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "✅ 04-1 cross-attention from the queries: correct",
        "✅ 04-2 the Q-Former block: correct",
        "✅ 04-3 multi-encoder concatenation with per-encoder projections: correct",
        "✅ 04-4 encoder dropout: correct",
        "✅ 04-5 the soft prompt: correct",
        "✅ 04-6 MMVP pair accuracy: correct",
        "progress of chapter 04: all 6 exercises pass in this kernel",
    ]


def test_checkers_accept_valid_alternatives(capsys):
    """Other correct ways: a loop over heads, masking with -inf by hand, a torch.where keep mask."""

    def per_head(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
        d = queries.shape[-1]
        dh = d // num_heads
        q, k, v = queries @ w_q.T, features @ w_k.T, features @ w_v.T
        outs = []
        for h in range(num_heads):
            s = q[..., h * dh:(h + 1) * dh] @ k[..., h * dh:(h + 1) * dh].transpose(1, 2) / math.sqrt(dh)
            if key_mask is not None:
                s = s.masked_fill(~key_mask[:, None, :], -1e9)
            outs.append(s.softmax(-1) @ v[..., h * dh:(h + 1) * dh])
        return torch.cat(outs, -1) @ w_o.T

    def keep_where(batch_size, token_counts, p, training, generator=None):
        if not training or p == 0:
            return torch.ones(batch_size, sum(token_counts)).bool()
        keep = torch.rand(batch_size, len(token_counts), generator=generator) > p
        keep = torch.where(keep.any(1, keepdim=True), keep, torch.ones_like(keep))
        return keep.repeat_interleave(torch.tensor(token_counts), dim=1)

    checks_04.check_cross_attention(per_head)
    checks_04.check_encoder_keep_mask(keep_where)
    checks_04.check_pair_accuracy(lambda c: c.view(-1, 2).all(1).float().mean())  # a 0-d tensor is accepted
    assert capsys.readouterr().out.count("correct") == 3


def _fails(check, fn, *words):
    with pytest.raises(CheckFailed) as err:
        check(fn)
    message = str(err.value)
    for word in words:
        assert word in message, message
    return message


def test_cross_attention_rejects_wrong_code():
    check = checks_04.check_cross_attention

    def keyed_on_queries(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
        return cross_attention(queries, queries, w_q, w_k, w_v, w_o, num_heads)

    def unscaled(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
        d = queries.shape[-1] // num_heads
        return cross_attention(queries * math.sqrt(d), features, w_q, w_k, w_v, w_o, num_heads, key_mask)

    def no_mask(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
        return cross_attention(queries, features, w_q, w_k, w_v, w_o, num_heads)

    def no_out_proj(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
        return cross_attention(queries, features, w_q, w_k, w_v, torch.eye(w_o.shape[0]), num_heads, key_mask)

    def one_head(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
        s = (queries @ w_q.T) @ (features @ w_k.T).transpose(1, 2) / math.sqrt(queries.shape[-1] // num_heads)
        if key_mask is not None:
            s = s.masked_fill(~key_mask[:, None, :], float("-inf"))
        return s.softmax(-1) @ (features @ w_v.T) @ w_o.T

    def queries_from_features(queries, features, w_q, w_k, w_v, w_o, num_heads, key_mask=None):
        return cross_attention(features, queries, w_q, w_k, w_v, w_o, num_heads)

    _fails(check, keyed_on_queries, "self-attention")
    _fails(check, unscaled, "not scaled")
    _fails(check, no_mask, "key_mask is ignored")
    _fails(check, no_out_proj, "W_o")
    _fails(check, one_head, "heads are not split")
    _fails(check, queries_from_features, "shape")


def test_qformer_layer_rejects_wrong_code():
    check = checks_04.check_qformer_layer

    def separate(layer, queries, text, features, text_mask=None, key_mask=None):
        q = queries + layer.self_attn(layer.norm_self(queries))
        t = text + layer.self_attn(layer.norm_self(text), None if text_mask is None else text_mask[:, None, None, :])
        if layer.cross_attn is not None:
            q = q + layer.cross_attn(layer.norm_cross(q), features, key_mask)
        return q + layer.ffn(layer.norm_ffn(q)), t + layer.ffn(layer.norm_ffn(t))

    def text_sees_image(layer, queries, text, features, text_mask=None, key_mask=None):
        n = queries.shape[1]
        mask = None if text_mask is None else torch.cat([torch.ones_like(text_mask[:, :1]).expand(-1, n), text_mask], 1)[:, None, None, :]
        x = torch.cat([queries, text], 1)
        x = x + layer.self_attn(layer.norm_self(x), mask)
        if layer.cross_attn is not None:
            x = x + layer.cross_attn(layer.norm_cross(x), features, key_mask)
        x = x + layer.ffn(layer.norm_ffn(x))
        return x[:, :n], x[:, n:]

    def ignores_key_mask(layer, queries, text, features, text_mask=None, key_mask=None):
        return qformer_layer(layer, queries, text, features, text_mask, None)

    def ignores_text_mask(layer, queries, text, features, text_mask=None, key_mask=None):
        return qformer_layer(layer, queries, text, features, None, key_mask)

    def no_residual_on_cross(layer, queries, text, features, text_mask=None, key_mask=None):
        n = queries.shape[1]
        mask = None if text_mask is None else torch.cat([torch.ones_like(text_mask[:, :1]).expand(-1, n), text_mask], 1)[:, None, None, :]
        x = torch.cat([queries, text], 1)
        x = x + layer.self_attn(layer.norm_self(x), mask)
        q, t = x[:, :n], x[:, n:]
        if layer.cross_attn is not None:
            q = layer.cross_attn(layer.norm_cross(q), features, key_mask)
        x = torch.cat([q, t], 1)
        x = x + layer.ffn(layer.norm_ffn(x))
        return x[:, :n], x[:, n:]

    _fails(check, separate, "[queries; text]")
    _fails(check, text_sees_image, "only the queries")
    _fails(check, ignores_key_mask, "key_mask")
    _fails(check, ignores_text_mask, "text_mask")
    _fails(check, no_residual_on_cross, "differs from the reference")
    _fails(check, lambda layer, q, t, f, tm=None, km=None: q, "pair")


def test_concat_rejects_wrong_code():
    check = checks_04.check_concat_encoder_features

    def summed(features, projections):
        return sum(p(f)[:, : features[0].shape[1]] if p(f).shape[1] >= features[0].shape[1] else p(f).mean(1, keepdim=True).expand(-1, features[0].shape[1], -1)
                   for f, p in zip(features, projections))

    def shared_projection(features, projections):
        return torch.cat([projections[0](f) for f in features], 1)

    def reversed_order(features, projections):
        return torch.cat([p(f) for f, p in zip(features[::-1], projections[::-1])], 1)

    def side_by_side(features, projections):
        n = min(f.shape[1] for f in features)
        return torch.cat([p(f)[:, :n] for f, p in zip(features, projections)], -1)

    def unprojected(features, projections):
        return torch.cat(features, 1)

    _fails(check, summed, "summed")
    _fails(check, shared_projection, "own linear projection")
    _fails(check, reversed_order, "order")
    _fails(check, side_by_side, "tokens")
    _fails(check, unprojected, "projection")


def test_encoder_keep_mask_rejects_wrong_code():
    check = checks_04.check_encoder_keep_mask

    def active_at_inference(batch_size, token_counts, p, training, generator=None):
        return keep_mask(batch_size, token_counts, p, True, generator)

    def drops_tokens(batch_size, token_counts, p, training, generator=None):
        if not training:
            return torch.ones(batch_size, sum(token_counts), dtype=torch.bool)
        return torch.rand(batch_size, sum(token_counts), generator=generator) >= p

    def same_for_batch(batch_size, token_counts, p, training, generator=None):
        return keep_mask(1, token_counts, p, training, generator).expand(batch_size, -1)

    def p_is_keep(batch_size, token_counts, p, training, generator=None):
        return keep_mask(batch_size, token_counts, 1 - p if training else p, training, generator)

    def may_drop_all(batch_size, token_counts, p, training, generator=None):
        if not training:
            return torch.ones(batch_size, sum(token_counts), dtype=torch.bool)
        keep = torch.rand(batch_size, len(token_counts), generator=generator) >= p
        return keep.repeat_interleave(torch.tensor(token_counts), dim=1)

    def unseeded(batch_size, token_counts, p, training, generator=None):
        return keep_mask(batch_size, token_counts, p, training, None)

    _fails(check, active_at_inference, "only acts in training")
    _fails(check, drops_tokens, "whole")
    _fails(check, same_for_batch, "independently")
    _fails(check, p_is_keep, "probability to drop")
    _fails(check, may_drop_all, "every encoder")
    _fails(check, unseeded, "generator")


def test_build_lm_inputs_rejects_wrong_code():
    check = checks_04.check_build_lm_inputs
    _fails(check, lambda q, to_lm, t: torch.cat([q, t], 1), "to_lm")  # not projected: widths differ
    _fails(check, lambda q, to_lm, t: torch.cat([t, to_lm(q)], 1), "prefix")
    _fails(check, lambda q, to_lm, t: to_lm(q)[:, : t.shape[1]] + t, "in front of")
    _fails(check, lambda q, to_lm, t: torch.cat([to_lm(q), to_lm(t)], 1) if q.shape[-1] == t.shape[-1] else torch.cat([to_lm(q), t], 1), "text goes through to_lm")


def test_pair_accuracy_rejects_wrong_code():
    check = checks_04.check_pair_accuracy
    _fails(check, lambda c: c.float().mean().item(), "per image")
    _fails(check, lambda c: c.view(-1, 2).any(1).float().mean().item(), "either")
    _fails(check, lambda c: (c[: len(c) // 2] & c[len(c) // 2:]).float().mean().item(), "(i, i + P)")
    _fails(check, lambda c: c.view(-1, 2).all(1), "float")


def test_checkers_refuse_course_lib_reference():
    with pytest.raises(CheckFailed, match="imported rather than written"):
        checks_04.check_cross_attention(qformer_ref.cross_attention)
    with pytest.raises(CheckFailed, match="imported rather than written"):
        checks_04.check_pair_accuracy(model_ref.pair_accuracy)


def test_unimplemented_exercise_is_reported():
    def todo(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks_04.check_encoder_keep_mask(todo)
