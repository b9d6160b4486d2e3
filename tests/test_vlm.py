"""Chapter 04 (BRAVE): the world, the encoders' blind spots, the bridges, frozen training, full scale."""

from __future__ import annotations

import pytest
import torch

from course_lib import assets
from course_lib.attention import apply_rope, rms_norm, rope_angles, scaled_dot_product_attention, swiglu, swiglu_hidden_dim
from course_lib.lm import TinyDecoder, TinyDecoderConfig
from course_lib.vlm import (
    BridgeConfig,
    MEQFormer,
    QFormerEnsemble,
    TrainData,
    VisionLanguageModel,
    build_encoder,
    count_trainable,
    encode_images,
    freeze,
    make_pairs,
    make_vqa,
    train_bridge,
)
from course_lib.vlm.data import lm_labels, lm_pretraining_text
from course_lib.vlm.pretraining import load_lm
from course_lib.vlm.world import ANS, VOCAB, Obj, Scene, decode, encode, render


def test_vocabulary_round_trip_and_unknown_word():
    assert decode(encode("what shape is at the top_left ?")) == "what shape is at the top_left ?"
    with pytest.raises(ValueError, match="not a word"):
        encode("what hue is it ?")


def test_every_question_has_one_answer_and_pairs_differ_in_one_attribute():
    data = make_vqa(40, seed=0)
    for scene in data.scenes:
        assert len({o.shape for o in scene.objects}) == len({o.colour for o in scene.objects}) == len(scene.objects)
    assert {a for a, k in zip(data.answers, data.kinds) if k == "count"} <= {"one", "two", "three"}
    pairs = make_pairs(20, seed=0)
    for p in range(20):
        a, b = pairs.images[2 * p], pairs.images[2 * p + 1]
        assert not torch.equal(a, b), "the two images of a pair must differ"
        assert pairs.answers[2 * p] != pairs.answers[2 * p + 1], "a pair's question must have two different answers"
    assert set(pairs.changed) == {"shape", "colour"}


def _scene(shape: int, colour: int) -> torch.Tensor:
    return render(Scene((Obj(cell=1, shape=shape, colour=colour, radius=5.0, dx=0.0, dy=0.0),)), noise=0.0)[None]


@torch.no_grad()
def test_blind_spots_are_built_in():
    torch.manual_seed(0)
    shape_cnn, colour_net, layout_vit = (freeze(build_encoder(n)) for n in ("shape_cnn", "colour_net", "layout_vit"))
    red_square, blue_square, red_circle = _scene(0, 0), _scene(0, 2), _scene(1, 0)
    assert torch.equal(shape_cnn.tokens(red_square), shape_cnn.tokens(blue_square)), "the shape CNN must not see colour"
    assert not torch.equal(shape_cnn.tokens(red_square), shape_cnn.tokens(red_circle))
    assert torch.equal(colour_net.tokens(red_square), colour_net.tokens(red_circle)), "the colour net must not see shape"
    assert not torch.equal(colour_net.tokens(red_square), colour_net.tokens(blue_square))
    assert torch.equal(layout_vit.tokens(red_square), layout_vit.tokens(blue_square)), "the layout ViT must not see colour"


def _tiny_setup():
    torch.manual_seed(0)
    encoders = {n: freeze(build_encoder(n)) for n in ("shape_cnn", "colour_net", "layout_vit")}
    lm = freeze(TinyDecoder(TinyDecoderConfig(vocab_size=len(VOCAB), dim=16, depth=1, num_heads=2)))
    data_set = make_vqa(8, seed=0)
    feats = encode_images(encoders, data_set.images)
    data = TrainData(feats, data_set.captions, torch.tensor(data_set.image_index), data_set.questions, data_set.answers)
    return encoders, lm, data


def test_lm_and_encoders_stay_frozen_during_bridge_training():
    encoders, lm, data = _tiny_setup()
    names = list(encoders)
    before_lm = {k: v.clone() for k, v in lm.state_dict().items()}
    before_enc = {n: {k: v.clone() for k, v in e.state_dict().items()} for n, e in encoders.items()}
    cfg = BridgeConfig(dim=16, depth=1, num_heads=2, queries_per_encoder=2)
    model = VisionLanguageModel(MEQFormer([data.features[n].shape[-1] for n in names], len(VOCAB), cfg), lm, names)
    bridge_before = {k: v.clone() for k, v in model.bridge.state_dict().items()}
    losses = train_bridge(model, data, caption_steps=2, vqa_steps=3, batch_size=4, progress=False)
    assert len(losses) == 5
    for k, v in lm.state_dict().items():
        assert torch.equal(v, before_lm[k]), f"LM weight {k} changed during bridge training"
    for n, enc in encoders.items():
        for k, v in enc.state_dict().items():
            assert torch.equal(v, before_enc[n][k]), f"encoder {n}: {k} changed during bridge training"
    for module in [lm, *encoders.values()]:
        for p in module.parameters():
            assert not p.requires_grad and p.grad is None
    changed = [k for k, v in model.bridge.state_dict().items() if not torch.equal(v, bridge_before[k])]
    assert changed, "the bridge did not train"
    assert count_trainable(model) == count_trainable(model.bridge) + count_trainable(model.to_lm)


@pytest.mark.parametrize("dropout_in_vqa", [True, False])
def test_encoder_dropout_acts_in_the_stages_the_recipe_asks(monkeypatch, dropout_in_vqa):
    import course_lib.vlm.qformer as qformer

    encoders, lm, data = _tiny_setup()
    names = list(encoders)
    cfg = BridgeConfig(dim=16, depth=1, num_heads=2, queries_per_encoder=2, encoder_dropout=0.3)
    model = VisionLanguageModel(MEQFormer([data.features[n].shape[-1] for n in names], len(VOCAB), cfg), lm, names)
    seen = []
    real = qformer.encoder_keep_mask

    def spy(batch_size, token_counts, p, training, generator=None):
        seen.append(p if training else None)
        return real(batch_size, token_counts, p, training, generator)

    monkeypatch.setattr(qformer, "encoder_keep_mask", spy)
    train_bridge(model, data, caption_steps=2, vqa_steps=3, batch_size=4, progress=False, dropout_in_vqa=dropout_in_vqa)
    assert seen[:2] == [0.3, 0.3]  # captioning always drops encoders
    assert seen[2:] == ([0.3] * 3 if dropout_in_vqa else [0.0] * 3)


def test_brave_has_fewer_trainable_parameters_than_the_ensemble():
    from course_lib.vlm.bridges import bridge_config

    dims, cfg = [34, 18, 34], BridgeConfig()
    brave, ensemble = MEQFormer(dims, len(VOCAB), cfg), QFormerEnsemble(dims, len(VOCAB), cfg)
    assert brave.num_queries == ensemble.num_queries == 3 * cfg.queries_per_encoder
    assert count_trainable(brave) < count_trainable(ensemble) / 2
    # the chapter's sizes: BRAVE's one bridge is wider, and still smaller than the ensemble
    wide = MEQFormer(dims, len(VOCAB), bridge_config(kind="brave"))
    assert count_trainable(wide) < count_trainable(QFormerEnsemble(dims, len(VOCAB), bridge_config()))


def test_encoder_dropout_only_in_training_and_removal_at_inference():
    _, _, data = _tiny_setup()
    names = list(data.features)
    feats = [data.features[n][:4] for n in names]
    bridge = MEQFormer([f.shape[-1] for f in feats], len(VOCAB), BridgeConfig(dim=16, depth=1, num_heads=2, encoder_dropout=0.5))
    q_ids = torch.tensor([encode("how many objects are there ?")] * 4)
    mask = torch.ones_like(q_ids, dtype=torch.bool)
    bridge.eval()
    with torch.no_grad():
        a, b = bridge(feats, q_ids, mask), bridge(feats, q_ids, mask)
        assert torch.equal(a, b), "at inference the bridge must be deterministic (no encoder dropout)"
        assert not torch.equal(a, bridge(feats, q_ids, mask, keep_encoders=[True, False, True]))
        with pytest.raises(ValueError, match="keep at least one"):
            bridge(feats, q_ids, mask, keep_encoders=[False, False, False])
        with pytest.raises(ValueError, match="3 encoders"):
            bridge(feats[:2], q_ids, mask)


def test_tiny_decoder_refuses_ambiguous_input():
    lm = TinyDecoder(TinyDecoderConfig(vocab_size=len(VOCAB), dim=16, depth=1, num_heads=2, max_len=8))
    with pytest.raises(ValueError, match="either input_ids or inputs_embeds"):
        lm()
    with pytest.raises(ValueError, match="exceed max_len"):
        lm(torch.zeros(1, 9, dtype=torch.long))


def test_tiny_decoder_is_llama_blocks_written_out():
    torch.manual_seed(0)
    lm = TinyDecoder(TinyDecoderConfig(vocab_size=len(VOCAB), dim=32, depth=2, num_heads=4, max_len=16)).eval()
    ids = torch.randint(len(VOCAB), (2, 10))
    B, N, H, d = 2, 10, 4, 8
    x, angles = lm.embed(ids), rope_angles(N, d)
    for block in lm.blocks:  # RMSNorm, bias-free causal attention with RoPE, RMSNorm, SwiGLU of 2/3 * 4 * dim -> 96
        assert block.attn.qkv.bias is None and block.mlp.fc1.weight.shape == (swiglu_hidden_dim(32, 4.0, 16), 32) == (96, 32)
        q, k, v = (block.attn.qkv(rms_norm(x, block.norm1.weight, 1e-6))).view(B, N, 3, H, d).permute(2, 0, 3, 1, 4)
        a = scaled_dot_product_attention(apply_rope(q, angles), apply_rope(k, angles), v, causal=True)  # (B, H, N, d)
        x = x + block.attn.out(a.transpose(1, 2).reshape(B, N, H * d))
        mlp = block.mlp
        x = x + swiglu(rms_norm(x, block.norm2.weight, 1e-6), mlp.fc1.weight, mlp.fc2.weight, mlp.fc3.weight)
    expected = rms_norm(x, lm.norm.weight, 1e-6) @ lm.head.weight.T
    with torch.no_grad():
        torch.testing.assert_close(lm(ids), expected, atol=1e-5, rtol=1e-5)


def test_shipped_tiny_lm_loads_unchanged_and_reproduces_its_recorded_accuracy():
    lm = load_lm()  # strict load: the decoder's parameter names are those of the shipped ch04_tiny_lm
    assert set(lm.state_dict()) == set(assets.load("ch04_tiny_lm"))
    test = lm_pretraining_text(200, 1)  # the held-out text of the build (seed 0 + 1)
    labels, answer = lm_labels(test), test == ANS
    with torch.no_grad():
        accuracy = (lm(test).argmax(-1)[answer] == labels[answer]).float().mean().item()
    assert round(accuracy, 4) == assets.metadata("ch04_tiny_lm")["metrics"]["answer_from_caption_accuracy"]


def test_full_scale_builds_on_meta_with_the_papers_counts():
    from course_lib.vlm.full_scale import build_full_scale

    encoders, lm, bridge, count = build_full_scale()
    assert count.num_queries == 160
    assert 80 < count.bridge < 200, f"MEQ-Former + projection: {count.bridge:.0f}M, paper 116M"
    assert 2_500 < count.lm < 3_200, f"FlanT5-XL: {count.lm:.0f}M"
    assert 5_000 < count.total < 12_000, f"total {count.total:.0f}M, paper 10.3B"
    assert all(not p.requires_grad for m in [lm, *encoders.values()] for p in m.parameters())
    assert all(p.is_meta for p in bridge.parameters())
