"""Chapter 03 models: the ViT equals timm's, iLLaMA's sizes match the paper, the switches do what Table 17 says."""

from __future__ import annotations

import math

import pytest
import timm
import torch

from course_lib.attention.rmsnorm import RMSNorm, rms_norm
from course_lib.attention.rope import apply_rope, rope_angles
from course_lib.attention.sdpa import scaled_dot_product_attention
from course_lib.attention.swiglu_ffn import SwiGLU, swiglu_hidden_dim
from course_lib.vision import PAPER_PARAMS_M, count_parameters, illama, llamafication_steps, step_config
from course_lib.vision.masks import class_token_mask, soft_mask, soft_mask_bias
from course_lib.vision.soft_mask_schedule import soft_mask_alpha
from course_lib.vision.timm_weights import timm_vit_state_dict
from course_lib.vision.vit import ViTConfig, VisionTransformer

TINY = dict(image_size=16, patch_size=4, in_chans=3, num_classes=7, dim=24, depth=2, num_heads=3)


def test_vit_equals_timm_vision_transformer():
    torch.manual_seed(0)
    theirs = timm.models.vision_transformer.VisionTransformer(
        img_size=16, patch_size=4, in_chans=3, num_classes=7, embed_dim=24, depth=2, num_heads=3, mlp_ratio=4.0, qkv_bias=True
    ).eval()
    with torch.no_grad():  # non-trivial norms and position embedding, so that a swapped name would show
        for name, p in theirs.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = VisionTransformer(ViTConfig(**TINY)).eval()
    ours.load_state_dict(timm_vit_state_dict(theirs.state_dict()), strict=True)
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(ours(images), theirs(images), atol=1e-5, rtol=1e-4)
        assert torch.allclose(ours.forward_features(images), theirs.forward_head(theirs.forward_features(images), pre_logits=True), atol=1e-5)


def test_timm_mapping_refuses_unknown_parameters():
    with pytest.raises(ValueError, match="no counterpart"):
        timm_vit_state_dict({"blocks.0.ls1.gamma": torch.ones(3)})


@pytest.mark.parametrize("size", ["tiny", "small", "base", "large"])
def test_full_scale_parameter_counts_match_the_paper(size):
    with torch.device("meta"):
        model = illama(size)
    millions = count_parameters(model) / 1e6
    assert abs(millions - PAPER_PARAMS_M[size]) / PAPER_PARAMS_M[size] < 0.01, (size, millions)
    assert model.cfg.norm == "rmsnorm" and model.cfg.ffn == "swiglu" and model.cfg.cls_position == "last"


def test_causal_mask_with_class_token_first_makes_the_output_independent_of_the_image():
    torch.manual_seed(0)
    cfg = ViTConfig(**TINY, norm="rmsnorm", ffn="swiglu", mask="causal", cls_position="first", swiglu_multiple_of=8)
    model = VisionTransformer(cfg).eval()
    a, b = torch.randn(3, 3, 16, 16), 5 * torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        out_a, out_b = model(a), model(b)
    assert torch.allclose(out_a, out_b, atol=1e-6) and torch.allclose(out_a[0], out_a[1], atol=1e-6)
    # the gradient reaching the patch embedding is exactly zero: no training can fix it
    loss = model(a).logsumexp(-1).sum()
    loss.backward()
    assert model.patch_embed.proj.weight.grad.abs().max() == 0
    for step in ("last", "modified"):
        fixed = VisionTransformer(ViTConfig(**TINY, mask="causal" if step == "last" else "modified", cls_position="last" if step == "last" else "first"))
        with torch.no_grad():
            assert not torch.allclose(fixed(a), fixed(b), atol=1e-4)


def test_post_sequence_class_token_sees_every_patch_and_patches_stay_causal():
    torch.manual_seed(1)
    model = VisionTransformer(ViTConfig(**TINY, mask="causal", cls_position="last")).eval()
    x = model.tokens(torch.randn(1, 3, 16, 16))
    y = x.clone()
    y[:, 5] += torch.randn(x.shape[-1])  # change token 5 only
    mask = model.attention_mask()
    with torch.no_grad():
        ox, oy = x, y
        for block in model.blocks:
            ox, oy = block(ox, mask), block(oy, mask)
    assert torch.allclose(ox[:, :5], oy[:, :5], atol=1e-6)  # earlier tokens do not see token 5
    assert (ox[:, -1] - oy[:, -1]).abs().max() > 1e-5  # the class token does


def test_masks():
    assert torch.equal(class_token_mask(3, "causal"), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert torch.equal(class_token_mask(3, "modified", "first"), torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert class_token_mask(4, "bidirectional").all()
    with pytest.raises(ValueError, match="mask kind"):
        class_token_mask(3, "triangular")
    with pytest.raises(ValueError, match="cls_position"):
        class_token_mask(3, "causal", "middle")


def test_soft_mask_interpolates_bidirectional_and_causal():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 4)
    hard = class_token_mask(6, "causal")
    assert torch.allclose(scaled_dot_product_attention(q, k, v, mask=soft_mask_bias(hard, 0.0)), scaled_dot_product_attention(q, k, v, causal=True), atol=1e-6)
    assert torch.allclose(scaled_dot_product_attention(q, k, v, mask=soft_mask_bias(hard, 1.0)), scaled_dot_product_attention(q, k, v), atol=1e-6)
    # alpha in between: eq. 2 (softmax(A) * S) with its rows renormalised
    weights = torch.softmax(q @ k.transpose(-2, -1) / 2.0, -1) * soft_mask(hard, 0.3)
    expected = (weights / weights.sum(-1, keepdim=True)) @ v
    assert torch.allclose(scaled_dot_product_attention(q, k, v, mask=soft_mask_bias(hard, 0.3)), expected, atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        soft_mask(hard, 1.5)


def test_soft_mask_schedule():
    assert [soft_mask_alpha(t, 4, "linear") for t in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert [soft_mask_alpha(t, 4, "constant") for t in range(6)] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="schedule"):
        soft_mask_alpha(0, 4, "cosine")


def test_rope_is_relative_and_rotates_adjacent_pairs():
    angles = rope_angles(7, 8)
    q, k = torch.randn(8), torch.randn(8)
    rq, rk = apply_rope(q.expand(7, 8), angles), apply_rope(k.expand(7, 8), angles)
    scores = rq @ rk.T
    assert torch.allclose(scores[1:, 1:], scores[:-1, :-1], atol=1e-5)
    x = torch.zeros(2, 8)
    x[1, 0] = 1.0  # position 1, feature 0: rotated into feature 1 (its pair), by angle 1 * theta^0 = 1 rad
    out = apply_rope(x, rope_angles(2, 8))
    assert torch.allclose(out[1, :2], torch.tensor([math.cos(1.0), math.sin(1.0)]), atol=1e-6) and out[1, 2:].abs().max() == 0
    with pytest.raises(ValueError, match="even"):
        rope_angles(4, 5)
    with pytest.raises(ValueError, match="angles must be"):
        apply_rope(torch.randn(3, 8), rope_angles(4, 8))


def test_rmsnorm_and_swiglu_modules():
    x = torch.randn(2, 3, 8) + 2.0
    out = RMSNorm(8)(x)
    assert torch.allclose(out.pow(2).mean(-1), torch.ones(2, 3), atol=1e-4)
    assert not torch.allclose(out.mean(-1), torch.zeros(2, 3), atol=1e-2)  # no mean subtraction
    with pytest.raises(ValueError, match="weight"):
        rms_norm(x, torch.ones(4))
    assert [swiglu_hidden_dim(d) for d in (192, 384, 768, 1024)] == [512, 1024, 2048, 2816]
    assert SwiGLU(8, 16)(x).shape == x.shape


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="norm"):
        ViTConfig(norm="batchnorm")
    with pytest.raises(ValueError, match="divisible"):
        ViTConfig(dim=10, num_heads=3)
    model = VisionTransformer(ViTConfig(**TINY))
    with pytest.raises(ValueError, match="expects images of shape"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="iLLaMA size"):
        illama("huge")


def test_every_table17_step_builds_and_runs():
    base = ViTConfig(**TINY, swiglu_multiple_of=8)
    steps = llamafication_steps()
    assert [s.name for s in steps][:4] == ["ViT", "+ SwiGLU", "+ RMSNorm", "+ causal mask"] and len(steps) == 10
    for step in steps:
        model = VisionTransformer(step_config(base, step))
        assert model(torch.randn(2, 3, 16, 16)).shape == (2, 7)
        maps = model.attention_maps(torch.randn(2, 3, 16, 16))
        assert maps.shape == (2, 2, 3, 17, 17) and torch.allclose(maps.sum(-1), torch.ones(()), atol=1e-5)
        if model.cfg.mask != "bidirectional":
            assert maps[..., ~model.hard_mask].abs().max() == 0
