"""The scale switch, device choice and seeding shared by every chapter.

Every notebook starts with ``cfg = chapter_config("NN")``. It reads ``COURSE_SCALE``
(``reduced``, the default, or ``full``) and ``COURSE_DEVICE`` (``auto``, the default: the GPU where
one is visible; ``cpu``; ``cuda``), picks the device, seeds every random number
generator and prints one status line. The numbers of every chapter live here, the
reduced and the full value side by side, so that a reader sees at once what the CPU
version shrinks and by how much.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

SCALES = ("reduced", "full")


@dataclass(frozen=True)
class Scaled:
    """One setting at both scales; ``note`` says where the reduced value departs from the paper."""

    reduced: Any
    full: Any
    note: str = ""


# Chapter 01 — Infini-attention (arXiv 2404.07143). The full column is the paper's
# language-model configuration (§4.1) and its 1B passkey fine-tune (§4.2, App. B).
CHAPTER_01 = {
    "d_model": Scaled(64, 1024),
    "num_heads": Scaled(2, 8),
    "num_layers": Scaled(2, 12),
    "d_ff": Scaled(256, 4096),
    "segment_len": Scaled(32, 2048),
    "train_len": Scaled(256, 32768, "paper: 32K-token LM inputs, 5K-token passkey fine-tune inputs"),
    "eval_lengths": Scaled(
        (256, 2048, 8192, 32768),
        (32768, 131072, 262144, 1048576),
        "paper evaluates the 1B model from 32K to 1M tokens",
    ),
    "batch_size": Scaled(32, 8, "full: the paper gives no fine-tune batch size; 8 prompts of 5K tokens per step"),
    "train_steps": Scaled(600, 400, "full: 400 passkey fine-tune steps, as in the paper"),
    "filler_repeats_max": Scaled(256.0, 1.0, "reduced only: the fix for a memory that fades with length (section 6); chosen on validation prompts by `python -m course_lib.longctx.recipe_choice` (1, 16, 256 or 4096: the best worst case over both shipped models and two positions, the smallest on a tie)"),
    "lr": Scaled(3e-3, 1e-2, "paper: Adafactor at lr 0.01 for LM training"),
    "gate_lr_multiplier": Scaled(10.0, 10.0, "re-implementations found the gate learns slowly at the base lr"),
    "eval_samples": Scaled(24, 100, "prompts per (length, position): the reduced run must fit in 5 CPU minutes"),
}

# Chapter 02 — RULER (arXiv 2404.06654). The full column is the paper's evaluation (§4):
# 13 tasks x 6 lengths x 500 samples, greedy, a Hugging Face chat model with its template.
CHAPTER_02 = {
    "lengths": Scaled((512, 1024, 2048), (4096, 8192, 16384, 32768, 65536, 131072), "paper: 4K to 128K"),
    "num_samples": Scaled(4, 500, "samples per task and length: the reduced run must fit in 5 CPU minutes"),
    "tokens_to_generate": Scaled(
        {"niah": 48, "variable_tracking": 30, "common_words_extraction": 40, "freq_words_extraction": 24, "qa": 16},
        {"niah": 128, "variable_tracking": 30, "common_words_extraction": 120, "freq_words_extraction": 50, "qa": 32},
        "reduced: enough for the longest answer under the word tokenizer, so that short lengths keep a haystack",
    ),
    "vt_example_length": Scaled(160, 500, "tokens of the one-shot VT example (reference: 500)"),
    "threshold": Scaled(85.6, 85.6, "paper: Llama-2-7B at 4K; reduced: the same number, fixed before the run (no evaluated model sets its own bar)"),
    "model": Scaled("course tiny LMs (ch02_ruler_* assets)", "mistralai/Mistral-7B-Instruct-v0.2",
                    "paper Table 3: Mistral-7B claims 32K, effective 16K"),
    "train_steps": Scaled(3000, None, "reduced only: the tiny retrieval models (shipped assets ch02_ruler_*); chosen on validation (data/recipe_choices/ch02.json)"),
    "mix_train_steps": Scaled(3500, None, "reduced only: the task-mix model (shipped asset ch02_ruler_mix), evenly over 128-256 tokens, from full256's weights"),
}

# Chapter 03 — iLLaMA (arXiv 2404.06773). The full column is iLLaMA-T on ImageNet-1K (Table 6,
# the paper's training script); the reduced column trains on scikit-learn's 8x8 digits.
CHAPTER_03 = {
    "image_size": Scaled(8, 224, "reduced: scikit-learn's 8x8 digits stand in for ImageNet-1K"),
    "patch_size": Scaled(2, 16),
    "num_classes": Scaled(10, 1000),
    "dim": Scaled(32, 192),
    "depth": Scaled(4, 12, "reduced: first picked on the test split; re-chosen on the validation split by `python -m course_lib.vision.recipe_choice`, which picks 4"),
    "num_heads": Scaled(2, 3),
    "swiglu_multiple_of": Scaled(8, 256, "reduced: 256 would make the tiny FFN 8x wider than 2/3 * 4D"),
    "epochs": Scaled(20, 300, "reduced: 160 updates; first picked on the test split, re-chosen on the validation split by `python -m course_lib.vision.recipe_choice`, which picks 20"),
    "batch_size": Scaled(128, 4096, "full: 128 per GPU x 8 GPUs x 4 accumulation steps"),
    "lr": Scaled(5e-3, 4e-3),
    "weight_decay": Scaled(0.05, 0.05),
    "mixup_alpha": Scaled(0.1, 0.1, "iLLaMA-T's script, at both scales; small 0.5, base 0.95"),
    "cutmix_alpha": Scaled(0.1, 0.1, "iLLaMA-T's script, at both scales; small 0.5, base 1.0"),
    "soft_mask_schedule": Scaled("linear", "constant", "full: iLLaMA-T uses constant, small and base linear"),
    "soft_mask_cutoff_epochs": Scaled(10, 50, "reduced: half the updates, as picked; full: 50 epochs for T and S, 25 for B"),
    "seeds": Scaled((0, 1, 2), (0,), "reduced: several seeds, since one tiny run is noisy"),
    "validation_fraction": Scaled(0.15, 0.15, "digits: 60/15/25 train/validation/test; the asserted claims are chosen on "
                                  "validation. The ImageNet entry point scores ImageNet's val set, the paper's test set"),
}

# Chapter 04 — BRAVE (arXiv 2404.07204). The full column is the paper's BRAVE (§3, §4): five
# hub encoders, FlanT5-XL, a 12 x 768 MEQ-Former; the reduced column is the procedural world.
CHAPTER_04 = {
    "encoders": Scaled(("shape_cnn", "colour_net", "layout_vit"), ("EVA-CLIP-g", "CLIP-L/14", "SILC-G/16", "ViT-e", "DINOv2-L/14"),
                       "reduced: three tiny encoders with built-in blind spots (shipped ch04_* assets)"),
    "lm": Scaled("tiny decoder (ch04_tiny_lm)", "FlanT5-XL"),
    "bridge_dim": Scaled(64, 768),
    "brave_dim": Scaled(64, 768, "BRAVE's MEQ-Former is as wide as each single Q-Former (a 96-wide one did no better)"),
    "bridge_depth": Scaled(2, 12),
    "bridge_heads": Scaled(4, 12),
    "queries_per_encoder": Scaled(8, 32, "paper: 32 per encoder, 160 in all"),
    "cross_attention_every": Scaled(1, 2, "paper: cross-attention in every other block"),
    "encoder_dropout": Scaled(0.2, 0.2),
    "encoder_dropout_in_vqa": Scaled(False, None, "paper: 20% in captioning pre-training, silent on fine-tuning; reduced: in captioning only, chosen with the learning rate, steps and images on the validation split by `python -m course_lib.vlm.recipe_choice`"),
    "image_size": Scaled(32, 224),
    "train_images": Scaled(6000, 100_000_000, "paper: WebLI 100M for captioning pre-training; reduced: with 1500 images BRAVE overfitted (train accuracy well above test)"),
    "caption_steps": Scaled(300, None, "reduced: the shipped ch04_bridge_* assets; full: the paper's WebLI captioning schedule"),
    "vqa_steps": Scaled(2700, None, "reduced: the shipped ch04_bridge_* assets; full: VQA fine-tuning on VQAv2/OKVQA/GQA mixtures"),
    "notebook_caption_steps": Scaled(50, None, "reduced: the shortened BRAVE run the notebook trains itself"),
    "notebook_vqa_steps": Scaled(250, None, "reduced: the shortened BRAVE run the notebook trains itself"),
    "batch_size": Scaled(64, 2048),
    "lr": Scaled(2.5e-3, 1e-4, "reduced: chosen on the validation split with the steps, images and VQA dropout (`python -m course_lib.vlm.recipe_choice`); full: the paper gives no bridge learning rate; 1e-4 is BLIP-2's"),
    "test_images": Scaled(300, None, "reduced: 300 images x 5 question types + the binding questions, in the validation split and in the test split (course_lib.vlm.splits); full: the VQA benchmarks"),
    "test_pairs": Scaled(150, 150, "paper: MMVP has 150 pairs; reduced: 150 in the validation split and 150 in the test split"),
}

# The shipped priors of chapters 05-07 (course_lib.priors; assets prior_*). The reduced column is what
# `python -m course_lib.assets build prior_*` trains on procedural data; the full column names the public
# model each one stands in for, as loaded from the Hugging Face hub at full scale.
PRIORS = {
    "image_size": Scaled(32, 512, "perspective views; full: SD 2.1-base's 512 px (64 x 64 latents)"),
    "panorama_size": Scaled((32, 64), (512, 1024), "equirectangular (H, W); full: DreamScene360's panorama"),
    "batch_size": Scaled(32, None),
    "prompt_dropout": Scaled(0.15, 0.1, "condition dropout for classifier-free guidance; SD trains with 10%"),
    "eval_ddim_steps": Scaled(25, 50, "DDIM steps of the recorded sample metrics"),
    "eval_guidance_scale": Scaled(3.0, 7.5, "CFG scale of the recorded metrics (panorama, layout, inpainting)"),
    "quick_steps": Scaled(24, None, "--quick builds: enough steps to see the loss go down"),
    "quick_batch": Scaled(8, None),
    # judge classifier / image features
    "classifier_model": Scaled("prior_classifier", "openai/clip-vit-large-patch14 (judge); timm vit_base_patch14_dinov2.lvd142m (features)",
                               "stands in for CLIP (prompt adherence) and DINOv2 ([CLS] features of DreamScene360's L_sem)"),
    "classifier_steps": Scaled(700, None), "classifier_lr": Scaled(2e-3, None),
    "classifier_views": Scaled(1800, None), "classifier_panoramas": Scaled(480, None),
    # text-to-image + inpainting
    "text2image_model": Scaled("prior_text2image", "stabilityai/stable-diffusion-2-1-base"),
    "inpaint_model": Scaled("prior_text2image", "stabilityai/stable-diffusion-2-inpainting", "reduced: one net serves both, RealmDreamer's eps(I, T) and eps(empty, T)"),
    "text2image_steps": Scaled(1500, None), "text2image_lr": Scaled(1.5e-3, None), "text2image_images": Scaled(2400, None),
    "text2image_known_weight": Scaled(0.1, None, "loss weight of the known pixels in the masked half of a batch"),
    "text2image_guidance_scale": Scaled(7.5, 7.5, "diffusers' default guidance_scale for SD"),
    "text2image_scale_sweep": Scaled((3.0, 5.0), None, "the sample accuracy is also recorded at these scales"),
    "inpaint_guidance_scale": Scaled(3.0, 7.5, "reduced: S_T = 3 (a 7.5 text scale pulled fills away from the scene); RealmDreamer: 7.5"),
    "fill_samples": Scaled(8, None, "fills per masked image; their mean is the prior's estimate of the hidden pixels"),
    # panorama
    "panorama_model": Scaled("prior_panorama", "stabilityai/stable-diffusion-2-1-base + a 360-degree LoRA (multiplier 0.7)",
                             "DreamScene360's StitchDiffusion; prompts prefixed '360-degree panoramic image, '"),
    "panorama_steps": Scaled(650, None), "panorama_lr": Scaled(1.5e-3, None), "panorama_images": Scaled(1200, None),
    "panorama_window": Scaled(32, 128, "window width in pixels (full: in latents, 64 x 128 windows)"),
    "panorama_stride": Scaled(16, 16),
    # monocular depth
    "depth_model": Scaled("prior_depth", "prs-eth/marigold-depth-v1-0 (diffusers) or depth-anything/Depth-Anything-V2-Small-hf"),
    "depth_steps": Scaled(900, None), "depth_lr": Scaled(2e-3, None),
    "depth_images": Scaled((1200, 900, 600), None, "perspective views, panorama ring views, street views"),
    # layout-conditioned street prior + segmenter
    "layout_model": Scaled("prior_layout", "stabilityai/stable-diffusion-2-1-base + ControlNet (segmentation + depth)",
                           "reduced: the layout is concatenated to x_t, standing in for ControlNet"),
    "layout_steps": Scaled(650, None), "layout_lr": Scaled(1.5e-3, None), "layout_images": Scaled(2000, None),
    "segmenter_steps": Scaled(400, None), "segmenter_lr": Scaled(2e-3, None),
}

# Chapter 05 — DreamScene360 (arXiv 2404.06903). The full column is the paper's pipeline and its reference code
# (ShijieZhou-UCLA/DreamScene360): SD 2.1-base + 360° LoRA, 20 tangent tiles, a hash-grid distance field, 10k
# splatting iterations on gsplat. The reduced column runs on the shipped priors and a procedural twin of the prompt.
CHAPTER_05 = {
    "prompt": Scaled("four red houses in a field", "four red houses in a field",
                     "full: prefixed '360-degree panoramic image, ' as in the reference code"),
    "panorama_size": Scaled((32, 64), (512, 1024)),
    "panorama_model": Scaled("prior_panorama", "stabilityai/stable-diffusion-2-1-base + 360-degree LoRA (multiplier 0.7)"),
    "ddim_steps": Scaled(10, 50, "reduced: 10 steps keep 12+ paired samples inside the CPU budget"),
    "guidance_scale": Scaled(3.0, 7.0, "reference: CFG 7"),
    "window": Scaled(32, 128, "full: in latents (64 x 128 windows over a 64 x 256-latent canvas)"),
    "stride": Scaled(16, 16),
    "seam_samples": Scaled(12, 12, "paired: the same noise sampled plainly and with wrap-around windows"),
    "refine_rounds": Scaled(3, 3, "reference: 3 prompts x 3 rounds, judged by GPT-4V"),
    "refine_candidates": Scaled(4, 3),
    "judge_model": Scaled("prior_classifier", "gpt-4-vision-preview (OpenAI API)", "reduced: the course's judge classifier stands in for GPT-4V"),
    "world_seed": Scaled(7, None, "reduced: the procedural twin of the prompt whose true distance measures the geometry; full scale has no truth"),
    "tangent_fov_deg": Scaled(80.0, 80.0),
    "tangent_size": Scaled(32, 512),
    "depth_model": Scaled("prior_depth", "depth-anything/Depth-Anything-V2-Small-hf"),
    "align_iterations": Scaled(300, 1500, "per phase (scale + field, then shifts); reference: 1500 each"),
    "align_shift_resolution": Scaled(16, 512, "reduced: 16 x 16 per 32 px tile, chosen on validation worlds 501-503 of the chapter's prompt "
                                            "(4 and 8 left the tiles disagreeing more, 8 with a few negative distances); reference: full resolution"),
    "align_tv_weight": Scaled(1e-2, 1e-2),
    "align_scale_weight": Scaled(0.1, 0.1, "the paper's per-tile penalty; the reference code penalises the mean scale"),
    "field_model": Scaled("Fourier-feature MLP", "hash grid (16 levels, 2 features, log2 T 19) + MLP 64 x 2",
                          "reduced: a small Fourier-feature MLP stands in for the hash grid chapter 07 builds"),
    "lift_size": Scaled((64, 128), (512, 1024), "points per panorama pixel; reduced: the tiles' angular resolution (2.5° per pixel)"),
    "fit_steps": Scaled(150, 10000, "reduced: a shared RGB fit, then the branches"),
    "branch_steps": Scaled(100, None, "reduced: each regulariser branch from the same start, equal budget; 100 steps, "
                                      "as the chapter's budget had it, so that 12 branches fit in the 5 CPU minutes on an AVX2 CPU"),
    "virtual_offsets": Scaled((0.05, 0.10, 0.20), (0.05, 0.10, 0.20), "U(-0.05, 0.05) x gamma, gamma in {1, 2, 4}, in stages"),
    "dssim_weight": Scaled(0.2, 0.2),
    "geo_weight": Scaled(0.05, 0.05, "the paper's lambda_geo; the reference's effective depth weight is 0.0025"),
    "sem_weight": Scaled(0.05, 0.05),
    "feature_model": Scaled("prior_classifier features", "timm vit_base_patch14_dinov2.lvd142m ([CLS])", "reduced: the judge's pooled features stand in for DINOv2"),
    "seeds": Scaled((0, 1, 2), (0,), "reduced: the regulariser branches over 3 seeds, paired, with intervals"),
    "eval_translation": Scaled(0.5, None, "reduced: test cameras 0.5 m from the panorama centre, against the procedural truth"),
    "eval_cameras": Scaled(8, None),
}

# Chapter 06 — RealmDreamer (arXiv 2404.07199). The full column is the paper's schedule and its reference code
# (jaidevshriram/realmdreamer).
CHAPTER_06 = {
    "image_size": Scaled(32, 512),
    "inpaint_model": Scaled("prior_text2image", "stabilityai/stable-diffusion-2-inpainting"),
    "depth_model": Scaled("prior_depth", "prs-eth/marigold-depth-v1-0"),
    "scale_image": Scaled(1.0, 1.8, "S_I of the 3-way guidance (Eq. 2); reduced: 1.0, the probe's choice on validation scenes"),
    "scale_text": Scaled(3.0, 7.5, "S_T of the 3-way guidance (Eq. 2); reduced: 3.0 (a strong text scale pulls fills to the prompt's typical look)"),
    "t_range": Scaled((0.1, 0.95), (0.2, 0.98), "paper: U(0.1, 0.95); reference run.sh: [0.2, 0.98]"),
    "ddim_steps": Scaled(10, 25, "DDIM steps of the outpainting at initialisation; reference: 25"),
    "image_weight": Scaled(5.0, 0.01, "lambda_image (mean over pixels here; paper: 0.01 on a summed latent MSE)"),
    "ssim_weight": Scaled(0.2, 100.0, "reduced: SSIM stands in for LPIPS (pretrained VGG weights); full: lambda_lpips"),
    "anchor_weight": Scaled(1.0, 1e4, "lambda_anchor (mean over pixels here)"),
    "depth_weight": Scaled(0.05, 1000.0, "lambda_depth of Eq. 6 (Pearson)"),
    "voxel": Scaled(0.3, 0.05, "occlusion-volume voxel (m); reference: 0.05 with <= 1e6 voxels"),
    "max_depth": Scaled(15.0, 15.0, "points farther than this stay out of the occupancy grid"),
    "behind": Scaled(4.0, 4.0, "occluded voxels at most this far behind the first occupied voxel (m)"),
    "aux_yaws": Scaled((-20.0, 20.0), (-30.0, 30.0), "auxiliary poses for outpainting: yaw (degrees) about the reference"),
    "distill_steps": Scaled(150, 15000, "steps of each shipped run (ch06_runs); full: the paper's 15k"),
    "live_steps": Scaled(40, None, "steps the notebook runs live with the learner's loss"),
    "refine_steps": Scaled(30, 3000), "refine_t_range": Scaled((0.1, 0.3), (0.1, 0.3)),
    "validation_scenes": Scaled(((0, 1), (3, 2), (1, 3)), None, "(prompt class, seed) the recipe was chosen on"),
    "test_scenes": Scaled(((2, 21), (4, 22), (5, 23), (0, 24)), None, "(prompt class, seed) the claims are measured on"),
    "seeds": Scaled((0, 1), (0, 1, 2)),
}

# Chapter 07 — Urban Architect (arXiv 2404.06780). The full column is the paper's configuration and its reference
# code (UrbanArchitect/UrbanArchitect).
CHAPTER_07 = {
    "render_size": Scaled(32, 256, "reduced: guide at 32 px (the priors tile at 64); full: 256 then 512 refinement"),
    "layout_model": Scaled("prior_layout", "stabilityai/stable-diffusion-2-1-base + ControlNet (segmentation + depth)"),
    "guidance_scale": Scaled(3.0, 7.5, "prior CFG; the estimator uses 1.0"),
    "t_range": Scaled((0.02, 0.6), (0.02, 0.98)),
    "lora_rank": Scaled(4, 4),
    "hash_levels": Scaled(8, 10), "hash_features": Scaled(2, 4), "hash_log2_size": Scaled(12, 21),
    "cell_size": Scaled(8.0, 400.0, "world units per hash-grid cell along the road"),
    "distill_steps": Scaled(150, None),
    "lr": Scaled(1e-2, 1e-3, "reference: AdamW 1e-3 for grid and LoRA"),
    "seeds": Scaled((0, 1), (0,), "seeds of the shipped runs (ch07_runs)"),
    "drive_steps": Scaled(600, None, "drive regime: steps x rays per step (a probe: not robust below 600 x 1024)"),
    "drive_rays": Scaled(1024, 4096),
    "sky_weight": Scaled(0.1, 0.1, "drive regime: the sky term, (1 - opacity)^2 on rays that enter the layout (reference: sky loss 0.1)"),
    "init_steps": Scaled(150, None, "palette-image initialisation of the field before distillation"),
    "edit_steps": Scaled(300, None, "fit of the editing street (background cells + a box-local car field)"),
    "live_steps": Scaled(30, None, "distillation steps the notebook runs live with the learner's functions"),
    "live_drive_steps": Scaled(80, None, "steps of the notebook's live drive (too short to compare grids: the shipped runs do)"),
    "finetune_steps": Scaled(30, None, "fine-tuning after removing a building"),
}

CHAPTERS: dict[str, dict[str, Scaled]] = {"01": CHAPTER_01, "02": CHAPTER_02, "03": CHAPTER_03, "04": CHAPTER_04,
                                          "05": CHAPTER_05, "06": CHAPTER_06, "07": CHAPTER_07}


def _env_choice(variable: str, choices: tuple[str, ...], example: str) -> str:
    """The value of environment ``variable`` (default: the first of ``choices``), checked against ``choices``."""
    value = os.environ.get(variable, choices[0]).strip().lower() or choices[0]
    if value not in choices:
        raise ValueError(f"{variable}={os.environ.get(variable)!r} is not a choice of this course. "
                         f"Set it to one of {choices} ({example}) or unset it for the default, {choices[0]!r}.")
    return value


def get_scale() -> str:
    """Return the scale chosen by ``COURSE_SCALE`` (default ``reduced``)."""
    return _env_choice("COURSE_SCALE", SCALES, "e.g. `export COURSE_SCALE=reduced`")


DEVICES = ("auto", "cpu", "cuda")
# Chapters whose reduced run stays on the CPU even where a GPU is visible, and why (their notebooks and training
# loops do not move models and batches to cfg.device yet).
CPU_ONLY_REDUCED = {number: "its reduced run is written for the CPU" for number in ("01", "02", "03", "04", "05", "06", "07")}


def get_device_choice() -> str:
    """Return the device asked for by ``COURSE_DEVICE`` (``auto``, the default, ``cpu`` or ``cuda``)."""
    return _env_choice("COURSE_DEVICE", DEVICES, "`auto` takes the GPU when one is visible")


def pick_device(scale: str, choice: str | None = None) -> torch.device:
    """The device of a run: ``COURSE_DEVICE`` (or ``choice``) ``auto`` takes CUDA when a GPU is visible, else the
    CPU; ``cpu`` / ``cuda`` force one. Full scale needs CUDA."""
    choice = get_device_choice() if choice is None else choice
    if choice not in DEVICES:
        raise ValueError(f"device choice {choice!r}: choose one of {DEVICES}")
    cuda = torch.cuda.is_available()
    if scale == "full" and (choice == "cpu" or not cuda):
        raise RuntimeError(
            "COURSE_SCALE=full runs the paper-sized configuration and needs a CUDA GPU, "
            + ("and COURSE_DEVICE=cpu forbids it. Unset COURSE_DEVICE, " if choice == "cpu" and cuda else "and none is visible here. Run on a GPU machine (e.g. Colab with a GPU runtime), ")
            + "or unset COURSE_SCALE to run the reduced scale on this CPU."
        )
    if choice == "cuda" and not cuda:
        raise RuntimeError("COURSE_DEVICE=cuda asks for a CUDA GPU and none is visible here; "
                           "unset COURSE_DEVICE (or set it to auto or cpu) to run on the CPU.")
    return torch.device("cuda" if cuda and choice != "cpu" else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class ChapterConfig:
    """The resolved settings of one chapter: ``cfg.segment_len`` gives the value at the active scale."""

    chapter: str
    scale: str
    device: torch.device
    seed: int
    values: dict[str, Any] = field(default_factory=dict)
    device_note: str = ""

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"chapter {self.__dict__.get('chapter')} has no setting {name!r}; known: {sorted(values)}")

    @property
    def status_line(self) -> str:
        device = self.device_note or str(self.device)
        return f"chapter {self.chapter} | scale={self.scale} | device={device} | torch {torch.__version__} | seed={self.seed}"


def chapter_config(chapter: str, seed: int = 0, verbose: bool = True) -> ChapterConfig:
    """Resolve a chapter's settings at the active scale, seed everything, print one status line."""
    if chapter not in CHAPTERS:
        raise KeyError(f"unknown chapter {chapter!r}; chapters with settings: {sorted(CHAPTERS)}")
    scale = get_scale()
    device = pick_device(scale)
    note = ""
    if scale == "reduced" and device.type != "cpu" and chapter in CPU_ONLY_REDUCED:
        device, note = torch.device("cpu"), f"cpu ({CPU_ONLY_REDUCED[chapter]}; a GPU is visible)"
    seed_everything(seed)
    cfg = ChapterConfig(chapter=chapter, scale=scale, device=device, seed=seed, values=chapter_values(chapter, scale), device_note=note)
    if verbose:
        print(cfg.status_line)
    return cfg


def chapter_values(chapter: str, scale: str) -> dict[str, Any]:
    """A chapter's settings (or, for ``chapter="priors"``, the shipped priors' :data:`PRIORS`) at ``scale``
    (``reduced`` or ``full``), whatever COURSE_SCALE says."""
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r}: choose one of {SCALES}")
    settings = PRIORS if chapter == "priors" else CHAPTERS[chapter]
    return {name: getattr(setting, scale) for name, setting in settings.items()}


def settings_table(chapter: str) -> list[tuple[str, Any, Any, str]]:
    """Rows (name, reduced, full, note) for a chapter's settings, for display in the notebook."""
    return [(name, s.reduced, s.full, s.note) for name, s in CHAPTERS[chapter].items()]
