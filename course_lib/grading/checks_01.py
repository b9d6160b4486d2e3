"""Checkers of chapter 01 (Infini-attention). Each compares the learner's code with course_lib's
reference on random inputs and edge cases and, when it is wrong, says how."""

from __future__ import annotations

import math
from functools import partial

import torch

from course_lib.attention import infini as ref
from course_lib.attention.sdpa import scaled_dot_product_attention as ref_sdpa
from course_lib.grading.checking import CheckFailed, call, expect_close, expect_tensor, require_passed, run

# every exercise of the chapter (id -> title): its last check prints which are still open
EXERCISES = {
    "01-1": "causal scaled dot-product attention",
    "01-2": "memory retrieval (eq. 3)",
    "01-3": "linear memory update (eq. 4)",
    "01-4": "delta-rule memory update (eq. 5)",
    "01-5": "gated mixing (eq. 6)",
    "01-6": "Infini-attention layer (read, update, gate)",
    "01-7": "streaming segment loop",
}

# checks_NN.require("NN-1", ..., what=...): an experiment on the learner's code stops while one is open
require = partial(require_passed, EXERCISES)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed))


def check_sdpa(fn) -> None:
    """01-1: causal scaled dot-product attention ``fn(q, k, v, causal)``."""

    def body() -> None:
        for seed, (B, H, N, d_k, d_v) in enumerate([(2, 2, 5, 4, 3), (1, 3, 8, 16, 16), (2, 1, 1, 8, 2)]):
            q, k, v = _randn(B, H, N, d_k, seed=seed), _randn(B, H, N, d_k, seed=seed + 10), _randn(B, H, N, d_v, seed=seed + 20)
            for causal in (False, True):
                mask = torch.ones(N, N, dtype=torch.bool).tril() if causal else None
                scores = q @ k.transpose(-2, -1)
                wrong = {
                    "the scores are not divided by sqrt(d_k)": _softmax_av(scores, v, mask),
                    "the scores are divided by d_k instead of sqrt(d_k)": _softmax_av(scores / d_k, v, mask),
                }
                if causal:
                    wrong["it is not causal: query i still attends to keys after i"] = ref_sdpa(q, k, v, causal=False)
                    wrong["the mask hides the diagonal too: query i must see key i"] = _strict_causal(q, k, v)
                    if N > 1:
                        wrong["the mask is flipped: query i sees keys i, i+1, ... (the future) instead of 0..i"] = ref_sdpa(q, k, v, mask=mask.T)
                else:
                    wrong["the softmax runs over the queries (dim -2) instead of the keys (dim -1)"] = torch.softmax(scores / math.sqrt(d_k), -2) @ v
                expected = ref_sdpa(q, k, v, causal=causal)
                out = call(fn, q, k, v, causal=causal, what=f"scaled_dot_product_attention(causal={causal})")
                expect_close(out, expected, f"the output for shape {(B, H, N, d_k)}, causal={causal}", wrong_variants=wrong)
        q, k, v = _randn(1, 1, 6, 4, seed=7), _randn(1, 1, 6, 4, seed=8), _randn(1, 1, 6, 4, seed=9)
        k2, v2 = k.clone(), v.clone()
        k2[..., 3:, :] += 5.0
        v2[..., 3:, :] -= 5.0
        a = call(fn, q, k, v, causal=True, what="scaled_dot_product_attention")
        b = call(fn, q, k2, v2, causal=True, what="scaled_dot_product_attention")
        if not torch.allclose(a[..., :3, :], b[..., :3, :], atol=1e-6):
            raise CheckFailed("changing keys/values at positions 3.. changed the outputs at positions 0..2: the mask is not causal")

    run("01-1", "causal scaled dot-product attention", body)


def _softmax_av(scores: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def _strict_causal(q, k, v):
    n = q.shape[-2]
    mask = torch.ones(n, n, dtype=torch.bool).tril(-1)
    mask[0, 0] = True  # keep row 0 defined
    return ref_sdpa(q, k, v, mask=mask)


def _memory_inputs(seed: int, B=2, H=2, N=5, d_k=4, d_v=3):
    sigma_q = ref.elu_plus_one(_randn(B, H, N, d_k, seed=seed))
    sigma_k = ref.elu_plus_one(_randn(B, H, N, d_k, seed=seed + 1))
    v = _randn(B, H, N, d_v, seed=seed + 2)
    M = _randn(B, H, d_k, d_v, seed=seed + 3)
    z = ref.elu_plus_one(_randn(B, H, d_k, seed=seed + 4)) * 3
    return sigma_q, sigma_k, v, M, z


def check_memory_retrieve(fn) -> None:
    """01-2: A_mem = sigma(Q) M / (sigma(Q) z), zeros for the empty memory."""

    def body() -> None:
        for seed in range(3):
            sigma_q, _, _, M, z = _memory_inputs(seed * 7)
            out = call(fn, sigma_q, M, z, what="memory_retrieve")  # reference computed below from unchanged inputs
            wrong = {
                "the normaliser is missing: divide sigma(Q) M by sigma(Q) z": sigma_q @ M,
                "the normaliser sums z without weighting it by sigma(Q)": (sigma_q @ M) / z.sum(-1)[..., None, None],
            }
            expect_close(out, ref.memory_retrieve(sigma_q, M, z), "A_mem", wrong_variants=wrong)
        sigma_q = ref.elu_plus_one(_randn(1, 2, 4, 4, seed=3))
        empty = call(fn, sigma_q, torch.zeros(1, 2, 4, 3), torch.zeros(1, 2, 4), what="memory_retrieve on the empty memory M_0 = z_0 = 0")
        expect_tensor(empty, "A_mem on the empty memory (0/0: the first segment)", shape=(1, 2, 4, 3))
        if empty.abs().max() != 0:
            raise CheckFailed("on the empty memory (M = 0, z = 0) A_mem must be all zeros (the course's definition of 0/0)")

    run("01-2", "memory retrieval (eq. 3)", body)


def check_memory_update_linear(fn) -> None:
    """01-3: M += sigma(K)^T V, z += sum_t sigma(K_t)."""

    def body() -> None:
        for seed in range(3):
            _, sigma_k, v, M, z = _memory_inputs(seed * 11)
            out = call(fn, sigma_k, v, M, z, what="memory_update_linear")
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("memory_update_linear must return the pair (M_new, z_new)")
            M_ref, z_ref = ref.memory_update_linear(sigma_k, v, M, z)
            expect_close(out[0], M_ref, "M_s", wrong_variants={
                "M_s forgets M_{s-1}: add sigma(K)^T V to the old memory": sigma_k.transpose(-2, -1) @ v,
            })
            expect_close(out[1], z_ref, "z_s", wrong_variants={
                "z_s forgets z_{s-1}: add the sum of sigma(K_t) to the old normaliser": sigma_k.sum(-2),
                "z_s averages sigma(K_t) over the segment: it must sum them": z + sigma_k.mean(-2),
                "z_s is not updated": z,
            })
            if out[0].dtype != torch.float32:
                raise CheckFailed(f"M_s is {out[0].dtype}: accumulate the memory in float32 (bf16 states overflow)")
        sigma_k16, v16 = [10 * t.bfloat16() for t in _memory_inputs(5)[1:3]]
        M0, z0 = torch.zeros(2, 2, 4, 3), torch.zeros(2, 2, 4)
        half = call(fn, sigma_k16, v16, M0, z0, what="memory_update_linear with bfloat16 K, V")
        if half[0].dtype != torch.float32 or half[1].dtype != torch.float32:
            raise CheckFailed("with bfloat16 sigma(K) and V, M and z must still be float32: cast K and V with .float() first")
        M32, z32 = ref.memory_update_linear(sigma_k16.float(), v16.float(), M0, z0)
        if not (torch.allclose(half[0], M32, rtol=1e-6, atol=1e-6) and torch.allclose(half[1], z32, rtol=1e-6, atol=1e-6)):
            raise CheckFailed("with bfloat16 inputs the update is computed in bfloat16 and cast afterwards: cast K and V to float32 *before* the product")

    run("01-3", "linear memory update (eq. 4)", body)


def check_memory_update_delta(fn) -> None:
    """01-4: M += sigma(K)^T (V - sigma(K) M / sigma(K) z)."""

    def body() -> None:
        for seed in range(3):
            _, sigma_k, v, M, z = _memory_inputs(seed * 13)
            out = call(fn, sigma_k, v, M, z, what="memory_update_delta")
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("memory_update_delta must return the pair (M_new, z_new)")
            M_ref, z_ref = ref.memory_update_delta(sigma_k, v, M, z)
            expect_close(out[0], M_ref, "M_s", wrong_variants={
                "this is the linear update: subtract what the memory already returns for these keys, sigma(K) M / (sigma(K) z)": ref.memory_update_linear(sigma_k, v, M, z)[0],
                "the retrieved value is not normalised: divide sigma(K) M_{s-1} by sigma(K) z_{s-1}": M + sigma_k.transpose(-2, -1) @ (v - sigma_k @ M),
                "the retrieval is normalised with the updated z_s: use z_{s-1}": M + sigma_k.transpose(-2, -1) @ (v - ref.memory_retrieve(sigma_k, M, z_ref)),
            })
            expect_close(out[1], z_ref, "z_s", wrong_variants={"z_s is not updated: the delta rule updates z like the linear rule": z})
        _, sigma_k, v, _, _ = _memory_inputs(4)
        M0, z0 = torch.zeros(2, 2, 4, 3), torch.zeros(2, 2, 4)
        out = call(fn, sigma_k, v, M0, z0, what="memory_update_delta on the empty memory")
        expect_close(out[0], ref.memory_update_delta(sigma_k, v, M0, z0)[0], "M_1 from the empty memory (0/0 must count as 0)")

    run("01-4", "delta-rule memory update (eq. 5)", body)


def check_gate_mix(fn) -> None:
    """01-5: A = sigmoid(beta) A_mem + (1 - sigmoid(beta)) A_dot, beta per head."""

    def body() -> None:
        B, H, N, d = 2, 3, 4, 5
        a_mem, a_dot = _randn(B, H, N, d, seed=1), _randn(B, H, N, d, seed=2)
        beta = torch.tensor([-2.0, 0.5, 3.0])
        out = call(fn, a_mem, a_dot, beta, what="gate_mix")
        g = torch.sigmoid(beta).view(1, -1, 1, 1)
        expect_close(out, ref.gate_mix(a_mem, a_dot, beta), "the gated mix", wrong_variants={
            "the gate is swapped: sigmoid(beta) weighs A_mem, 1 - sigmoid(beta) weighs A_dot": (1 - g) * a_mem + g * a_dot,
            "beta is used without the sigmoid": beta.view(1, -1, 1, 1) * a_mem + (1 - beta.view(1, -1, 1, 1)) * a_dot,
        })

    run("01-5", "gated mixing (eq. 6)", body)


def _check_layer_outputs(make_layer, memory: str, what: str) -> None:
    torch.manual_seed(0)
    reference = ref.InfiniAttention(16, 2, memory=memory)
    with torch.no_grad():
        reference.beta.copy_(torch.tensor([-1.0, 1.5]))
    layer = call(make_layer, 16, 2, memory, what=f"{what}(16, 2, {memory!r})")
    try:
        layer.load_state_dict(reference.state_dict())
    except Exception as err:
        raise CheckFailed(f"{what} must keep the parameters of course_lib's MultiHeadAttention (qkv, out) and beta: {err}") from None
    segs = [_randn(2, 6, 16, seed=s) for s in range(3)]
    state_ref, state = None, None
    for i, x in enumerate(segs):
        prev_state_ref = state_ref if state_ref is not None else reference.initial_state(2)
        out_ref, state_ref = reference(x, state_ref)
        res = call(layer, x, state, what=f"{what}.forward on segment {i}")
        if not (isinstance(res, tuple) and len(res) == 2):
            raise CheckFailed(f"{what}.forward must return (output, new_state)")
        out, state = res
        wrong = {"the memory is read after it is updated: read M_{s-1} first, then write M_s": _read_after_write(reference, x, prev_state_ref)}
        if i > 0:
            wrong["the memory state is not carried: use the state passed in"] = reference(x, None)[0]
        expect_close(out, out_ref, f"the output of segment {i} ({memory} memory)", atol=1e-5, wrong_variants=wrong)
        if not isinstance(state, ref.MemoryState):
            raise CheckFailed(f"{what}.forward must return a MemoryState as new state, got {type(state).__name__}")
        _, k, v = reference.split_heads(x)
        other = "linear" if memory == "delta" else "delta"
        other_update = ref.memory_update_linear if other == "linear" else ref.memory_update_delta
        expect_close(state.M, state_ref.M, f"M after segment {i}", wrong_variants={
            f"M follows the {other} rule, but this layer's memory is {memory!r}": other_update(ref.elu_plus_one(k), v, prev_state_ref.M, prev_state_ref.z)[0],
        })
        expect_close(state.z, state_ref.z, f"z after segment {i}")


def _read_after_write(layer: ref.InfiniAttention, x: torch.Tensor, state: ref.MemoryState) -> torch.Tensor:
    q, k, v = layer.split_heads(x)
    a_dot = ref_sdpa(q, k, v, causal=True)
    update = ref.memory_update_delta if layer.memory == "delta" else ref.memory_update_linear
    M, z = update(ref.elu_plus_one(k), v, state.M, state.z)
    a_mem = ref.memory_retrieve(ref.elu_plus_one(q), M, z)
    return layer.merge_heads(ref.gate_mix(a_mem, a_dot, layer.beta))


def _gradients_after_two_segments(module, forward, segs: list[torch.Tensor], what: str) -> tuple:
    state = None
    for x in segs:
        out, state = forward(x, state)
    call(out.sum().backward, what=f"backward through {what}")
    return module.qkv.weight.grad, module.beta.grad


def _check_layer_gradients(make_layer, what: str) -> None:
    """Training back-propagates through the memory: the gradients must match the reference's."""
    torch.manual_seed(0)
    reference = ref.InfiniAttention(16, 2, memory="delta")
    layer = call(make_layer, 16, 2, "delta", what=f"{what}(16, 2, 'delta')")
    layer.load_state_dict(reference.state_dict())
    segs = [_randn(2, 6, 16, seed=s) for s in range(2)]
    qkv_ref, beta_ref = _gradients_after_two_segments(reference, reference, segs, what)
    learner_forward = lambda x, state: call(layer, x, state, what=f"{what}.forward (with gradients)")  # noqa: E731
    qkv, beta = _gradients_after_two_segments(layer, learner_forward, segs, what)
    if qkv is None or beta is None or not (torch.allclose(qkv, qkv_ref, atol=1e-4, rtol=1e-3) and torch.allclose(beta, beta_ref, atol=1e-4, rtol=1e-3)):
        raise CheckFailed(
            "the outputs are right but the gradients are not: something cuts the graph (a .detach(), .item(), "
            "torch.no_grad() or .data on the memory state?) so training could not learn through the memory"
        )


def check_infini_layer(make_layer) -> None:
    """01-6: the Infini-attention layer forward over one segment with a streaming state."""

    def body() -> None:
        with torch.no_grad():
            for memory in ("linear", "delta"):
                _check_layer_outputs(make_layer, memory, "your Infini-attention layer")
        _check_layer_gradients(make_layer, "your Infini-attention layer")

    run("01-6", "Infini-attention layer (read, update, gate)", body)


def check_stream(fn) -> None:
    """01-7: the streaming loop over segments, ``fn(layer, x, segment_len) -> (out, state)``."""

    def body() -> None:
        torch.manual_seed(1)
        layer = ref.InfiniAttention(8, 2, memory="delta")
        x = _randn(2, 20, 8, seed=5)
        with torch.no_grad():
            res = call(fn, layer, x, 6, what="stream(layer, x, segment_len=6)")
            if not (isinstance(res, tuple) and len(res) == 2):
                raise CheckFailed("stream must return (outputs of all tokens, final state)")
            out, state = res
            outs, st = [], None
            for seg in x.split(6, dim=1):
                o, st = layer(seg, st)
                outs.append(o)
            wrong = {
                "every segment starts from an empty memory: pass the state on to the next segment": torch.cat([layer(s, None)[0] for s in x.split(6, dim=1)], 1),
                "the whole sequence went through one attention call: split it into segments of segment_len": layer(x, None)[0],
            }
            expect_close(out, torch.cat(outs, 1), "the streamed output (20 tokens, segments of 6, last one shorter)", wrong_variants=wrong)
            if not isinstance(state, ref.MemoryState):
                raise CheckFailed(f"the final state must be a MemoryState, got {type(state).__name__}")
            expect_close(state.M, st.M, "the final memory M")
            expect_close(state.z, st.z, "the final normaliser z")

    run("01-7", "streaming segment loop", body, chapter_exercises=EXERCISES)
