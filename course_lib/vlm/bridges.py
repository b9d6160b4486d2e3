"""The five bridges of chapter 04's experiment, trained by recorded commands and shipped as assets.

``python -m course_lib.assets build ch04_bridge_brave`` (and ``_shape_cnn``, ``_colour_net``,
``_layout_vit``, ``_ensemble``) trains one bridge between the shipped frozen encoders and the
shipped frozen LM: captioning, then VQA (BRAVE 2404.07204 §3-4). The notebook trains a
shortened BRAVE itself and evaluates all five shipped bridges in its run.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from course_lib import assets
from course_lib.config import chapter_values
from course_lib.vlm.encoders import ENCODER_NAMES
from course_lib.vlm.model import TrainData, VisionLanguageModel, encode_images, pair_accuracy, pair_results, train_bridge, vqa_accuracy
from course_lib.vlm.pretraining import load_encoder, load_lm
from course_lib.vlm.qformer import BridgeConfig, MEQFormer, QFormerEnsemble
from course_lib.vlm.world import VOCAB, make_pairs, make_vqa

BRIDGE_KINDS = (*ENCODER_NAMES, "ensemble", "brave")
TRAIN_SEED, TEST_SEED, PAIR_SEED = 1, 2, 3


def bridge_config(values: dict | None = None, kind: str = "single") -> BridgeConfig:
    """The reduced-scale bridge sizes of ``course_lib.config.CHAPTER_04`` (``kind='brave'``: BRAVE's width)."""
    v = values or chapter_values("04", "reduced")
    return BridgeConfig(dim=v["brave_dim"] if kind == "brave" else v["bridge_dim"], depth=v["bridge_depth"], num_heads=v["bridge_heads"],
                        queries_per_encoder=v["queries_per_encoder"], cross_attention_every=v["cross_attention_every"],
                        encoder_dropout=v["encoder_dropout"])


def make_bridge_model(kind: str, dims: dict[str, int], lm: torch.nn.Module, cfg: BridgeConfig | None = None) -> VisionLanguageModel:
    """A fresh bridge of ``kind`` (an encoder name, 'ensemble' or 'brave') in front of the frozen ``lm``;
    ``cfg`` defaults to :func:`bridge_config` for that kind."""
    cfg = cfg or bridge_config(kind=kind)
    if kind not in BRIDGE_KINDS:
        raise ValueError(f"unknown bridge {kind!r}; choose one of {BRIDGE_KINDS}")
    if kind == "brave":
        return VisionLanguageModel(MEQFormer([dims[n] for n in ENCODER_NAMES], len(VOCAB), cfg), lm, list(ENCODER_NAMES))
    if kind == "ensemble":
        return VisionLanguageModel(QFormerEnsemble([dims[n] for n in ENCODER_NAMES], len(VOCAB), cfg), lm, list(ENCODER_NAMES))
    return VisionLanguageModel(MEQFormer([dims[kind]], len(VOCAB), cfg), lm, [kind])


def trainable_state(model: VisionLanguageModel) -> dict[str, torch.Tensor]:
    """The bridge's and the LM map's weights (the frozen LM is not saved again)."""
    return {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.startswith("lm.")}


def load_bridge(kind: str, dims: dict[str, int], lm: torch.nn.Module, cfg: BridgeConfig | None = None) -> VisionLanguageModel:
    """The shipped trained bridge ``kind`` (chapter 04), in eval mode."""
    model = make_bridge_model(kind, dims, lm, cfg)
    missing, unexpected = model.load_state_dict(assets.load(f"ch04_bridge_{kind}"), strict=False)
    if unexpected or any(not k.startswith("lm.") for k in missing):
        raise RuntimeError(f"ch04_bridge_{kind} does not fit the bridge (missing {missing}, unexpected {unexpected}); "
                           f"rebuild it with `python -m course_lib.assets build ch04_bridge_{kind}`")
    return model.eval()


def training_data(encoders: dict[str, torch.nn.Module], num_images: int) -> TrainData:
    """The bridges' training set (seed ``TRAIN_SEED``): ``num_images`` images, their features, captions and questions."""
    train = make_vqa(num_images, seed=TRAIN_SEED)
    feats = encode_images(encoders, train.images)
    return TrainData(feats, train.captions, torch.tensor(train.image_index), train.questions, train.answers)


def train_shipped_bridge(variant: str, data: TrainData, lm: torch.nn.Module, values: dict, *, seed: int,
                         steps: tuple[int, int] | None = None) -> tuple[VisionLanguageModel, list[float]]:
    """The bridge ``variant`` trained by the recipe in ``values`` (chapter 04's reduced config, or a candidate of
    :mod:`course_lib.vlm.recipe_choice`): captioning then VQA, ``steps`` = (caption, VQA) steps (default: the config's)."""
    if variant not in BRIDGE_KINDS:
        raise ValueError(f"no bridge {variant!r}; the variants are {', '.join(BRIDGE_KINDS)}")
    torch.manual_seed(seed)
    model = make_bridge_model(variant, {n: data.features[n].shape[-1] for n in ENCODER_NAMES}, lm, bridge_config(values, variant))
    caption_steps, vqa_steps = steps or (values["caption_steps"], values["vqa_steps"])
    losses = train_bridge(model, data, caption_steps, vqa_steps, values["batch_size"], values["lr"], seed=seed, progress=False,
                          dropout_in_vqa=values["encoder_dropout_in_vqa"])
    return model, losses


def build_asset(out_path: Path, *, seed: int, quick: bool = False, variant: str) -> dict:
    """Asset builder of ``ch04_bridge_<variant>`` (see course_lib.assets.Recipe): train the bridge
    ``variant`` (one of ``BRIDGE_KINDS``) by captioning then VQA between the shipped frozen parts."""
    if variant not in BRIDGE_KINDS:
        raise ValueError(f"no bridge {variant!r}; the variants are {', '.join(BRIDGE_KINDS)}")
    start = time.perf_counter()
    values = chapter_values("04", "reduced")
    encoders = {n: load_encoder(n) for n in ENCODER_NAMES}
    lm = load_lm()
    data = training_data(encoders, 64 if quick else values["train_images"])
    caption_steps, vqa_steps = (5, 15) if quick else (values["caption_steps"], values["vqa_steps"])
    model, losses = train_shipped_bridge(variant, data, lm, values, seed=seed, steps=(caption_steps, vqa_steps))
    assets.save_safetensors(trainable_state(model), out_path)
    vqa_losses = losses[caption_steps:]
    metrics = {"caption_steps": caption_steps, "vqa_steps": vqa_steps,
               "loss_start": round(sum(vqa_losses[:10]) / 10, 4), "loss_end": round(sum(vqa_losses[-10:]) / 10, 4)}
    if not quick:
        test = make_vqa(values["test_images"], seed=TEST_SEED)
        pairs = make_pairs(values["test_pairs"], seed=PAIR_SEED)
        acc = vqa_accuracy(model, encode_images(encoders, test.images), test.image_index, test.kinds, test.questions, test.answers)
        metrics.update({f"test_{k}": round(v, 4) for k, v in acc.items()})
        metrics["test_pairs"] = round(pair_accuracy(pair_results(model, encode_images(encoders, pairs.images), pairs.questions, pairs.answers)), 4)
    metrics["train_seconds"] = round(time.perf_counter() - start, 1)
    return metrics
