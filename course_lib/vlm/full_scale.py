"""BRAVE at the paper's size, built on the ``meta`` device for counting (chapter 04, 2404.07204 §3, §4).

Five frozen encoders (timm architectures, ``pretrained=False`` here: nothing downloads), the
frozen FlanT5-XL (transformers ``T5Config`` with the XL sizes) and a 12 x 768 MEQ-Former with
32 queries per encoder (160). SILC-G/16 and ViT-e are not public; the closest public timm
models of their size stand in for them (named in ``PAPER_ENCODERS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.vlm.qformer import BridgeConfig, MEQFormer

# (paper's encoder, timm architecture used at full scale, note)
PAPER_ENCODERS = (
    ("EVA-CLIP-g", "eva_giant_patch14_clip_224", ""),
    ("CLIP-L/14", "vit_large_patch14_clip_224", ""),
    ("SILC-G/16", "vit_giant_patch14_clip_224", "SILC is not public: a ViT-g/14 CLIP of the same size stands in"),
    ("ViT-e", "vit_gigantic_patch14_clip_224", "ViT-e is not public: ViT-bigG/14 (OpenCLIP) stands in"),
    ("DINOv2-L/14", "vit_large_patch14_dinov2", "at 224 px, as in the paper"),
)
BERT_VOCAB = 30522  # the Q-Former's text tokenizer (BLIP-2 initialises it from BERT-base)
PAPER_TRAINABLE_M = 116  # BRAVE §4: 116M trainable parameters of 10.3B


def flan_t5_xl_config():
    """transformers' ``T5Config`` with FlanT5-XL's sizes (google/flan-t5-xl), built offline."""
    from transformers import T5Config

    return T5Config(vocab_size=32128, d_model=2048, d_kv=64, d_ff=5120, num_layers=24, num_decoder_layers=24,
                    num_heads=32, feed_forward_proj="gated-gelu", tie_word_embeddings=False, is_encoder_decoder=True)


def paper_bridge_config() -> BridgeConfig:
    """The MEQ-Former of BRAVE §3: 12 layers of width 768, 32 queries per encoder, cross-attention every other block."""
    return BridgeConfig(dim=768, depth=12, num_heads=12, queries_per_encoder=32, cross_attention_every=2,
                        max_text_len=512, encoder_dropout=0.2)


def build_encoders_on_meta() -> dict[str, nn.Module]:
    """The five encoders as timm models on the meta device (no weights, no download), last block dropped."""
    import timm

    encoders = {}
    with torch.device("meta"):
        for paper_name, timm_name, _ in PAPER_ENCODERS:
            kwargs = {"img_size": 224} if "dinov2" in timm_name else {}
            model = timm.create_model(timm_name, pretrained=False, num_classes=0, **kwargs)
            model.blocks = model.blocks[:-1]  # BRAVE drops each encoder's last layer
            encoders[paper_name] = model
    return encoders


@dataclass
class FullScaleCount:
    """Parameter counts of the full-scale BRAVE, in millions."""

    encoders: dict[str, float]
    lm: float
    bridge: float
    num_queries: int

    @property
    def total(self) -> float:
        return sum(self.encoders.values()) + self.lm + self.bridge


def build_full_scale() -> tuple[dict[str, nn.Module], nn.Module, nn.Module, FullScaleCount]:
    """Encoders, FlanT5-XL and the MEQ-Former (with its linear map into T5's input space) on meta."""
    from transformers import AutoModelForSeq2SeqLM

    encoders = build_encoders_on_meta()
    with torch.device("meta"):
        lm = AutoModelForSeq2SeqLM.from_config(flan_t5_xl_config())
        widths = [m.num_features for m in encoders.values()]
        bridge = MEQFormer(widths, BERT_VOCAB, paper_bridge_config())
        to_lm = nn.Linear(768, lm.config.d_model)
    for module in list(encoders.values()) + [lm]:
        for p in module.parameters():
            p.requires_grad_(False)
    bridge_with_map = nn.ModuleDict({"meq_former": bridge, "to_lm": to_lm})
    m = lambda mod: sum(p.numel() for p in mod.parameters()) / 1e6  # noqa: E731
    count = FullScaleCount({k: m(v) for k, v in encoders.items()}, m(lm), m(bridge_with_map), bridge.num_queries)
    return encoders, lm, bridge_with_map, count
