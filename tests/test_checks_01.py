"""Chapter 01 checkers accept the reference and reject plausible wrong implementations, in words."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.attention import infini as ref
from course_lib.attention.sdpa import scaled_dot_product_attention
from course_lib.grading import checks_01
from course_lib.grading.checking import CheckFailed


def _sdpa_not_causal(q, k, v, causal=False):
    return scaled_dot_product_attention(q, k, v)


def _sdpa_no_scale(q, k, v, causal=False):
    return scaled_dot_product_attention(q * math.sqrt(q.shape[-1]), k, v, causal=causal)


def _sdpa_wrong_shape(q, k, v, causal=False):
    return scaled_dot_product_attention(q, k, v, causal=causal).transpose(-2, -1)


def _retrieve_no_normaliser(sigma_q, M, z):
    return sigma_q @ M


def _retrieve_nan_on_empty(sigma_q, M, z):
    return (sigma_q @ M) / (sigma_q @ z.unsqueeze(-1))


def _linear_mean_z(sigma_k, v, M, z):
    return M + sigma_k.transpose(-2, -1) @ v, z + sigma_k.mean(-2)


def _linear_keeps_dtype(sigma_k, v, M, z):
    return M.to(v.dtype) + sigma_k.transpose(-2, -1) @ v, z.to(v.dtype) + sigma_k.sum(-2)


def _delta_without_retrieval(sigma_k, v, M, z):
    return ref.memory_update_linear(sigma_k, v, M, z)


def _delta_unnormalised(sigma_k, v, M, z):
    return M + sigma_k.transpose(-2, -1) @ (v - sigma_k @ M), z + sigma_k.sum(-2)


def _gate_swapped(a_mem, a_dot, beta):
    return ref.gate_mix(a_dot, a_mem, beta)


def _gate_no_sigmoid(a_mem, a_dot, beta):
    g = beta.view(1, -1, 1, 1)
    return g * a_mem + (1 - g) * a_dot


class _WriteThenRead(ref.InfiniAttention):
    def forward(self, x, state=None):
        q, k, v = self.split_heads(x)
        state = state or self.initial_state(x.shape[0])
        M, z = ref.memory_update_delta(ref.elu_plus_one(k), v, state.M, state.z) if self.memory == "delta" else ref.memory_update_linear(ref.elu_plus_one(k), v, state.M, state.z)
        a_mem = ref.memory_retrieve(ref.elu_plus_one(q), M, z)
        a_dot = scaled_dot_product_attention(q, k, v, causal=True)
        return self.merge_heads(ref.gate_mix(a_mem, a_dot, self.beta)), ref.MemoryState(M, z)


class _ForgetsState(ref.InfiniAttention):
    def forward(self, x, state=None):
        return super().forward(x, None)


class _AlwaysLinear(ref.InfiniAttention):
    def __init__(self, d_model, num_heads, memory="delta"):
        super().__init__(d_model, num_heads, memory="linear")


def _stream_reference(layer, x, segment_len):
    outs, state = [], None
    for seg in x.split(segment_len, dim=1):
        out, state = layer(seg, state)
        outs.append(out)
    return torch.cat(outs, 1), state


def _stream_resets(layer, x, segment_len):
    outs, state = [], None
    for seg in x.split(segment_len, dim=1):
        out, state = layer(seg, None)
        outs.append(out)
    return torch.cat(outs, 1), state


def _stream_one_call(layer, x, segment_len):
    return layer(x, None)


def _not_implemented(*args, **kwargs):
    raise NotImplementedError()


def _linear_in_place(sigma_k, v, M, z):
    M += sigma_k.transpose(-2, -1) @ v
    z += sigma_k.sum(-2)
    return M, z


def _sdpa_scales_q_in_place(q, k, v, causal=False):
    q.div_(math.sqrt(q.shape[-1]))
    return scaled_dot_product_attention(q * math.sqrt(q.shape[-1]), k, v, causal=causal)


def _linear_in_bf16(sigma_k, v, M, z):
    return M + (sigma_k.transpose(-2, -1) @ v).float(), z + sigma_k.sum(-2).float()


class _DetachesState(ref.InfiniAttention):
    def forward(self, x, state=None):
        out, new = super().forward(x, state)
        return out, ref.MemoryState(new.M.detach(), new.z.detach())


def _stream_forgets_z(layer, x, segment_len):
    out, state = _stream_reference(layer, x, segment_len)
    return out, ref.MemoryState(state.M, torch.zeros_like(state.z))


def _sdpa_flipped_mask(q, k, v, causal=False):
    n = q.shape[-2]
    return scaled_dot_product_attention(q, k, v, mask=torch.ones(n, n, dtype=torch.bool).triu() if causal else None)


# Correct implementations written differently from course_lib's: every checker must accept them.
def _sdpa_torch(q, k, v, causal=False):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)


def _retrieve_einsum_eps(sigma_q, M, z):
    num = torch.einsum("bhnk,bhkv->bhnv", sigma_q, M)
    den = torch.einsum("bhnk,bhk->bhn", sigma_q, z)[..., None]
    return num / den.clamp_min(1e-30)


def _linear_einsum(sigma_k, v, M, z):
    sigma_k, v = sigma_k.float(), v.float()
    return M + torch.einsum("bhnk,bhnv->bhkv", sigma_k, v), z + torch.einsum("bhnk->bhk", sigma_k)


def _delta_explicit(sigma_k, v, M, z):
    sigma_k, v = sigma_k.float(), v.float()
    retrieved = _retrieve_einsum_eps(sigma_k, M, z)
    return M + sigma_k.transpose(-2, -1) @ (v - retrieved), z + sigma_k.sum(-2)


def _gate_lerp(a_mem, a_dot, beta):
    return torch.lerp(a_dot, a_mem, torch.sigmoid(beta)[None, :, None, None])


class _LayerWrittenDifferently(ref.InfiniAttention):
    def forward(self, x, state=None):
        q, k, v = self.split_heads(x)
        a_dot = _sdpa_torch(q, k, v, causal=True)
        if state is None:
            state = self.initial_state(x.shape[0])
        sq, sk = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
        a_mem = _retrieve_einsum_eps(sq, state.M, state.z)
        M, z = (_delta_explicit if self.memory == "delta" else _linear_einsum)(sk, v, state.M, state.z)
        return self.merge_heads(_gate_lerp(a_mem, a_dot, self.beta)), ref.MemoryState(M, z)


def _stream_with_list(layer, x, segment_len):
    state, outs = None, []
    for start in range(0, x.shape[1], segment_len):
        out, state = layer(x[:, start : start + segment_len], state)
        outs.append(out)
    return torch.cat(outs, dim=1), state


def _own(reference):
    """The reference, as a learner's own code would be: defined outside course_lib."""
    if isinstance(reference, type):
        return type(f"My{reference.__name__}", (reference,), {"__module__": __name__})
    return lambda *args, **kwargs: reference(*args, **kwargs)


CASES = [
    (checks_01.check_sdpa, scaled_dot_product_attention, [(_sdpa_not_causal, "not causal"), (_sdpa_no_scale, "sqrt(d_k)"), (_sdpa_wrong_shape, "has shape"), (_sdpa_flipped_mask, "flipped"), (_sdpa_scales_q_in_place, "in place")]),
    (checks_01.check_memory_retrieve, ref.memory_retrieve, [(_retrieve_no_normaliser, "normaliser is missing"), (_retrieve_nan_on_empty, "NaN")]),
    (checks_01.check_memory_update_linear, ref.memory_update_linear, [(_linear_mean_z, "averages"), (_linear_keeps_dtype, "float32"), (_linear_in_place, "in place"), (_linear_in_bf16, "bfloat16")]),
    (checks_01.check_memory_update_delta, ref.memory_update_delta, [(_delta_without_retrieval, "linear update"), (_delta_unnormalised, "not normalised")]),
    (checks_01.check_gate_mix, ref.gate_mix, [(_gate_swapped, "swapped"), (_gate_no_sigmoid, "without the sigmoid")]),
    (checks_01.check_infini_layer, ref.InfiniAttention, [(_WriteThenRead, "read after it is updated"), (_ForgetsState, "not carried"), (_AlwaysLinear, "follows the linear rule"), (_DetachesState, "gradients")]),
    (checks_01.check_stream, _stream_reference, [(_stream_resets, "empty memory"), (_stream_one_call, "one attention call"), (_stream_forgets_z, "normaliser z")]),
]

VALID_ALTERNATIVES = [
    (checks_01.check_sdpa, _sdpa_torch),
    (checks_01.check_memory_retrieve, _retrieve_einsum_eps),
    (checks_01.check_memory_update_linear, _linear_einsum),
    (checks_01.check_memory_update_delta, _delta_explicit),
    (checks_01.check_gate_mix, _gate_lerp),
    (checks_01.check_infini_layer, _LayerWrittenDifferently),
    (checks_01.check_stream, _stream_with_list),
]


@pytest.mark.parametrize("checker,implementation", VALID_ALTERNATIVES, ids=[f.__name__ for _, f in VALID_ALTERNATIVES])
def test_checker_accepts_other_correct_implementations(checker, implementation, capsys):
    checker(implementation)
    assert "✅" in capsys.readouterr().out


def test_checker_names_the_unfinished_exercise_it_depends_on():
    def delta_using_unsolved_retrieve(sigma_k, v, M, z):
        return _not_implemented_retrieve(sigma_k, M, z)

    with pytest.raises(CheckFailed, match="calls `_not_implemented_retrieve`"):
        checks_01.check_memory_update_delta(delta_using_unsolved_retrieve)


def _not_implemented_retrieve(sigma_q, M, z):
    raise NotImplementedError()


def test_checks_do_not_change_the_global_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks_01.check_infini_layer(_own(ref.InfiniAttention))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("checker,reference,wrongs", CASES, ids=[c[0].__name__ for c in CASES])
def test_checker_accepts_reference(checker, reference, wrongs, capsys):
    checker(_own(reference))
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    "checker,wrong,expected",
    [(c[0], w, msg) for c in CASES for w, msg in c[2]],
    ids=[f"{c[0].__name__}-{w.__name__}" for c in CASES for w, _ in c[2]],
)
def test_checker_rejects_wrong_implementation(checker, wrong, expected):
    with pytest.raises(CheckFailed, match="❌") as err:
        checker(wrong)
    assert expected in str(err.value), str(err.value)


@pytest.mark.parametrize("checker", [c[0] for c in CASES], ids=[c[0].__name__ for c in CASES])
def test_checker_reports_unimplemented_exercise(checker):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        checker(_not_implemented)


def test_checker_refuses_course_libs_own_reference():
    with pytest.raises(CheckFailed, match="course_lib's reference"):
        checks_01.check_memory_retrieve(ref.memory_retrieve)
    with pytest.raises(CheckFailed, match="course_lib's reference"):
        checks_01.check_infini_layer(ref.InfiniAttention)


def test_a_warning_does_not_fail_a_correct_function(capsys):
    import warnings

    def retrieve_with_warning(sigma_q, M, z):
        warnings.warn("learner's debug warning")
        return ref.memory_retrieve(sigma_q, M, z)

    checks_01.check_memory_retrieve(retrieve_with_warning)
    captured = capsys.readouterr()
    assert "✅" in captured.out and "debug warning" not in captured.err
