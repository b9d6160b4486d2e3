"""course_lib.attention: attention, the Infini-attention layer, the tiny LM; and its training on the passkey task."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.attention import (
    InfiniAttention,
    InfiniLMConfig,
    MultiHeadAttention,
    TinyInfiniLM,
    causal_mask,
    elu_plus_one,
    memory_retrieve,
    memory_update_delta,
    memory_update_linear,
    scaled_dot_product_attention,
)
from course_lib.longctx.passkey import PasskeyTask
from course_lib.longctx.passkey_training import PASSKEY_ASSETS, PasskeyRecipe, filler_repeats, train_passkey
from course_lib.parameter_count import count_parameters
from course_lib.profiling import LiveTensorMeter


def test_causal_mask_and_sdpa_match_torch():
    q, k, v = torch.randn(3, 2, 7, 8), torch.randn(3, 2, 7, 8), torch.randn(3, 2, 7, 5)
    ours = scaled_dot_product_attention(q, k, v, causal=True)
    theirs = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_mha_is_causal():
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(1, 6, 16)
    y = x.clone()
    y[:, 4:] += 3.0
    assert torch.allclose(mha(x)[:, :4], mha(y)[:, :4], atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 4)


def test_empty_memory_reads_zero_and_no_nan_gradient():
    sigma_q = torch.rand(1, 2, 3, 4, requires_grad=True)
    out = memory_retrieve(sigma_q, torch.zeros(1, 2, 4, 5), torch.zeros(1, 2, 4))
    assert out.abs().max() == 0
    out.sum().backward()
    assert torch.isfinite(sigma_q.grad).all()


def test_delta_rule_does_not_rewrite_what_memory_holds():
    sigma_k = torch.rand(1, 1, 1, 4) + 0.5
    v = torch.randn(1, 1, 1, 3)
    M, z = memory_update_delta(sigma_k, v, torch.zeros(1, 1, 4, 3), torch.zeros(1, 1, 4))
    M2, z2 = memory_update_delta(sigma_k, v, M, z)
    assert torch.allclose(M2, M, atol=1e-6)  # the value is already retrievable: nothing new to write
    assert torch.allclose(z2, 2 * z)
    M_lin, _ = memory_update_linear(sigma_k, v, M, z)
    assert torch.allclose(M_lin, 2 * M)


def test_memory_accumulates_in_float32():
    M, z = memory_update_linear(torch.rand(1, 1, 2, 4).bfloat16(), torch.randn(1, 1, 2, 3).bfloat16(), torch.zeros(1, 1, 4, 3), torch.zeros(1, 1, 4))
    assert M.dtype == z.dtype == torch.float32


@pytest.mark.parametrize("memory", ["linear", "delta", "off"])
def test_streaming_equals_one_pass_and_state_is_constant(memory):
    torch.manual_seed(0)
    model = TinyInfiniLM(InfiniLMConfig(vocab_size=30, d_model=16, num_heads=2, num_layers=2, d_ff=32, segment_len=5, memory=memory)).eval()
    tokens = torch.randint(30, (2, 23))
    sizes = []
    last = model.stream(tokens, on_segment=lambda i, states: sizes.append(sum(s.nbytes for s in states if s is not None)))
    full = model(tokens)
    assert torch.allclose(last, full[:, -1], atol=1e-5)
    assert len(sizes) == 5 and len(set(sizes)) == 1
    expected = 0 if memory == "off" else 4 * model.cfg.memory_values * 2  # batch 2, float32
    assert sizes[0] == expected


@pytest.mark.parametrize("memory", ["linear", "delta", "off"])
@pytest.mark.parametrize("shared_prefix", [0, 12, 37])
def test_stream_shortcuts_give_the_same_logits(memory, shared_prefix):
    # stream() skips the last block's feed-forward before the last segment, reads a prefix shared by every row
    # once, and with no memory reads only the last segment: the logits must equal those of every segment in full
    torch.manual_seed(0)
    model = TinyInfiniLM(InfiniLMConfig(vocab_size=30, d_model=16, num_heads=2, num_layers=3, d_ff=32, segment_len=5, memory=memory)).eval()
    tokens = torch.randint(30, (3, 37))
    tokens[:, :shared_prefix] = tokens[:1, :shared_prefix]
    states, hidden = [None] * 3, None
    with torch.no_grad():
        for seg in tokens.split(5, dim=1):
            hidden, states = model.forward_segment(seg, states)
    # equal up to the float rounding that differs between batch sizes (the shared prefix is read as a batch of one)
    assert torch.allclose(model.stream(tokens), model.logits(hidden[:, -1]), rtol=0, atol=1e-6)
    changed = tokens.clone()
    changed[:, :30] = torch.randint(30, (3, 30))  # every segment but the last
    differs = not torch.allclose(model.stream(changed), model.stream(tokens))
    assert differs == (memory != "off")  # only the memory carries earlier segments to the last one


def test_memory_lets_later_segments_see_earlier_ones():
    torch.manual_seed(0)
    cfg = InfiniLMConfig(vocab_size=30, d_model=16, num_heads=2, num_layers=1, d_ff=32, segment_len=4)
    a, b = torch.randint(30, (1, 12)), torch.randint(30, (1, 12))
    b[:, 4:] = a[:, 4:]  # same last two segments, different first segment
    with_memory = TinyInfiniLM(cfg).eval()
    assert not torch.allclose(with_memory(a, last_only=True), with_memory(b, last_only=True))
    without = TinyInfiniLM(InfiniLMConfig(**{**cfg.to_dict(), "memory": "off"})).eval()
    assert torch.allclose(without(a, last_only=True), without(b, last_only=True))


def test_paper_config_counts():
    cfg = InfiniLMConfig.paper_lm()
    assert cfg.memory_values == 128 * 129 * 8 * 12  # the paper's "1.6M" memory values
    assert 1.55e6 < cfg.memory_values < 1.65e6
    with torch.device("meta"):
        one_b = TinyInfiniLM(InfiniLMConfig.paper_1b())
    assert 0.9e9 < count_parameters(one_b) < 1.1e9


def test_unknown_memory_rule_is_rejected():
    with pytest.raises(ValueError, match="linear"):
        InfiniAttention(8, 2, memory="lstm")


@pytest.mark.parametrize("length", [64, 100, 257, 1024])
def test_passkey_prompt_exact_length_and_answer_present(length):
    task = PasskeyTask()
    for depth in (0.0, 0.37, 1.0):
        ids, key_at = task.prompt(length, depth, passkey=42)
        assert len(ids) == length
        words = task.decode(ids).split()
        assert words[key_at : key_at + 5] == ["the", "pass", "key", "is", "42"]
        assert words[-4:] == ["the", "pass", "key", "is"]
    batch = task.batch(4, length, depth=0.5, generator=torch.Generator().manual_seed(0))
    assert batch.tokens.shape == (4, length)
    for row, answer in zip(batch.tokens, batch.answers):
        assert (row == answer).sum() == 2  # the passkey appears twice in the key sentence


def test_passkey_bad_input_messages():
    task = PasskeyTask()
    with pytest.raises(ValueError, match="too short"):
        task.prompt(20, 0.5, 1)
    with pytest.raises(ValueError, match="depth"):
        task.prompt(100, 1.5, 1)
    with pytest.raises(ValueError, match="passkey"):
        task.prompt(100, 0.5, 100)
    with pytest.raises(ValueError, match="not in the passkey vocabulary"):
        task.encode("the grass is purple")


def test_filler_repeats_leave_key_and_question_alone():
    task = PasskeyTask()
    batch = task.batch(3, 128, generator=torch.Generator().manual_seed(0))
    r = filler_repeats(task, batch, 256.0, torch.Generator().manual_seed(1))
    for i in range(3):
        k = int(batch.key_start[i])
        assert (r[i, k : k + task.key_len] == 1).all() and (r[i, -task.question_len :] == 1).all()
        assert (r[i, : task.intro_len] == 1).all()
        filler = torch.cat([r[i, task.intro_len : k], r[i, k + task.key_len : -task.question_len]])
        assert filler.min() >= 1 and filler.max() <= 256 and filler.unique().numel() == 1


def test_repeats_of_one_equal_no_repeats():
    torch.manual_seed(0)
    model = TinyInfiniLM(InfiniLMConfig(vocab_size=30, d_model=16, num_heads=2, num_layers=2, d_ff=32, segment_len=5))
    tokens = torch.randint(30, (2, 17))
    assert torch.allclose(model(tokens, repeats=torch.ones(2, 17)), model(tokens))


def test_training_reduces_loss():
    task = PasskeyTask()
    recipe = PasskeyRecipe(steps=60, batch_size=32, train_len=64, lr=1e-2, filler_repeats_max=4.0)
    torch.manual_seed(0)
    model = TinyInfiniLM(InfiniLMConfig(vocab_size=task.vocab_size, **recipe.model))
    losses = train_passkey(model, task, recipe, progress=False)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 1.0


def test_shipped_recipes_are_registered():
    from course_lib import assets

    for name in PASSKEY_ASSETS:
        assert name in assets.RECIPES


def test_live_tensor_meter_peak_is_flat_for_streaming():
    torch.manual_seed(0)
    model = TinyInfiniLM(InfiniLMConfig(vocab_size=30, d_model=16, num_heads=2, num_layers=2, d_ff=32, segment_len=8)).eval()
    peaks = []
    for n in (64, 512):
        tokens = torch.randint(30, (1, n))
        with LiveTensorMeter() as meter:
            model.stream(tokens)
        peaks.append(meter.peak_bytes)
    assert peaks[0] == peaks[1] > 0
    with LiveTensorMeter() as meter:
        x = torch.ones(1000)
    assert meter.peak_bytes >= 4000 and meter.live_bytes >= 4000
    del x
    assert meter.live_bytes == 0


def test_elu_plus_one_keeps_tiny_values():
    from course_lib.attention import elu_plus_one

    x = torch.tensor([-30.0, -17.0, -1.0, 0.0, 2.0])
    assert torch.allclose(elu_plus_one(x), torch.tensor([math.exp(-30), math.exp(-17), math.exp(-1), 1.0, 3.0]), rtol=1e-6, atol=0)


def test_key_sentence_sits_between_filler_sentences():
    task = PasskeyTask()
    for depth in (0.0, 0.3, 0.5, 0.77, 1.0):
        ids, key_at = task.prompt(300, depth, passkey=7)
        assert task.decode(ids[key_at - 1 : key_at]) == "."


def test_filler_repeats_with_a_layer_that_cannot_take_them_is_a_clear_error():
    from course_lib.attention.mha import MultiHeadAttention

    class LocalOnly(MultiHeadAttention):
        def __init__(self, d_model, num_heads, memory):
            super().__init__(d_model, num_heads)

        def forward(self, x, state=None):
            return super().forward(x), state

    model = TinyInfiniLM(InfiniLMConfig(vocab_size=30, d_model=16, num_heads=2, num_layers=1, d_ff=32, segment_len=4), attention=LocalOnly)
    with pytest.raises(TypeError, match="filler_repeats_max=1"):
        model(torch.randint(30, (1, 8)), repeats=torch.ones(1, 8))


def test_memory_stays_float32_under_autocast():
    torch.manual_seed(0)
    layer = InfiniAttention(16, 2, memory="linear")
    x = torch.randn(2, 6, 16)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        _, state = layer(x)
        _, k, v = layer.split_heads(x)  # bf16 projections, as the layer saw them
    expected_M, _ = memory_update_linear(elu_plus_one(k.float()), v.float(), torch.zeros_like(state.M), torch.zeros_like(state.z))
    assert state.M.dtype == torch.float32
    torch.testing.assert_close(state.M, expected_M, rtol=1e-5, atol=1e-5)  # a bf16 matmul would be off by ~1e-2
