"""Vision transformers (chapter 03 on): patch embedding, a ViT with iLLaMA's LLaMAfication switches,
the class-token and soft masks, iLLaMA's sizes, small-data training and the ImageNet entry point.
``count_parameters`` (from ``course_lib.parameter_count``) is here too, to check those sizes."""

from course_lib.parameter_count import count_parameters
from course_lib.vision.digits import ImageDataset, ImageSplit, load_digits_dataset
from course_lib.vision.illama import (
    ILLAMA_SIZES,
    PAPER_PARAMS_M,
    Step,
    illama,
    illama_base,
    illama_config,
    illama_large,
    illama_small,
    illama_tiny,
    llamafication_steps,
    step_config,
)
from course_lib.vision.masks import class_token_mask, soft_mask, soft_mask_bias
from course_lib.vision.patch_embed import PatchEmbed
from course_lib.vision.soft_mask_schedule import soft_mask_alpha
from course_lib.vision.timm_weights import timm_vit_state_dict
from course_lib.vision.training import TrainRecipe, TrainResult, evaluate, train_classifier
from course_lib.vision.vit import ViTConfig, VisionTransformer

__all__ = [
    "ImageDataset", "ImageSplit", "load_digits_dataset",
    "ILLAMA_SIZES", "PAPER_PARAMS_M", "Step", "count_parameters", "illama", "illama_base", "illama_config",
    "illama_large", "illama_small", "illama_tiny", "llamafication_steps", "step_config",
    "class_token_mask", "soft_mask", "soft_mask_bias", "PatchEmbed", "soft_mask_alpha", "timm_vit_state_dict",
    "TrainRecipe", "TrainResult", "evaluate", "train_classifier", "ViTConfig", "VisionTransformer",
]
