"""Vision-language models with several frozen encoders (chapter 04, BRAVE 2404.07204): a procedural
image-question world, encoders with different blind spots, the Q-Former and the MEQ-Former,
the soft prompt into a frozen LM, training and MMVP-style pair evaluation."""

from course_lib.vlm.encoders import ENCODER_NAMES, ColourNet, LayoutViT, ShapeCNN, build_encoder, freeze, ink
from course_lib.vlm.model import (
    TrainData,
    VisionLanguageModel,
    encode_images,
    pair_accuracy,
    pair_results,
    train_bridge,
    vqa_accuracy,
)
from course_lib.vlm.qformer import (
    BridgeConfig,
    CrossAttention,
    MEQFormer,
    QFormerEnsemble,
    QFormerLayer,
    build_lm_inputs,
    concat_encoder_features,
    count_trainable,
    cross_attention,
    encoder_keep_mask,
    qformer_layer,
)
from course_lib.vlm.world import QUESTION_TYPES, make_pairs, make_vqa

__all__ = [
    "ENCODER_NAMES", "ColourNet", "LayoutViT", "ShapeCNN", "build_encoder", "freeze", "ink",
    "TrainData", "VisionLanguageModel", "encode_images", "pair_accuracy", "pair_results", "train_bridge", "vqa_accuracy",
    "BridgeConfig", "CrossAttention", "MEQFormer", "QFormerEnsemble", "QFormerLayer", "build_lm_inputs",
    "concat_encoder_features", "count_trainable", "cross_attention", "encoder_keep_mask", "qformer_layer",
    "QUESTION_TYPES", "make_pairs", "make_vqa",
]
