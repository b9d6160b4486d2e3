"""Chapter 03's Table 17 ladder at reduced scale, trained once and shipped as ``ch03_table17_runs`` (2404.06773).

Every row of :func:`~course_lib.vision.illama.llamafication_steps`, trained with the chapter's reduced recipe
(``course_lib.config.CHAPTER_03``) for each of its seeds: 10 rows x 3 seeds, about 4 minutes on one AVX2 thread.
The chapter loads these weights into models that run the learner's own functions and scores them on the
validation and test splits, so the notebook fits the 5-minute budget; with ``RETRAIN = True`` it trains the
same 30 runs itself instead. The file holds each run's parameters under ``"<row index>/<seed>/<parameter>"``
and, in its header, each run's row, seed, per-epoch training losses and its validation and test scores (the
record the notebook compares its own evaluation with).

    python -m course_lib.assets build ch03_table17_runs
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from course_lib.config import chapter_values
from course_lib.vision.digits import load_digits_dataset
from course_lib.vision.illama import Step, llamafication_steps, step_config
from course_lib.vision.training import TrainRecipe, train_classifier
from course_lib.vision.vit import ViTConfig, VisionTransformer

ASSET = "ch03_table17_runs"


def base_config(values: dict | None = None) -> ViTConfig:
    """The reduced ViT every row starts from (its size, image and classes)."""
    values = values or chapter_values("03", "reduced")
    return ViTConfig(image_size=values["image_size"], patch_size=values["patch_size"], in_chans=1,
                     num_classes=values["num_classes"], dim=values["dim"], depth=values["depth"],
                     num_heads=values["num_heads"], swiglu_multiple_of=values["swiglu_multiple_of"])


def recipe_for(step: Step, values: dict | None = None, epochs: int | None = None) -> TrainRecipe:
    """The reduced training recipe of one row: mixup/cutmix only from '+ data augmentation', the soft mask only in its row."""
    values = values or chapter_values("03", "reduced")
    return TrainRecipe(epochs=epochs or values["epochs"], batch_size=values["batch_size"], lr=values["lr"],
                       weight_decay=values["weight_decay"],
                       mixup_alpha=values["mixup_alpha"] if step.augment else 0.0,
                       cutmix_alpha=values["cutmix_alpha"] if step.augment else 0.0,
                       soft_mask_schedule=values["soft_mask_schedule"] if step.soft_mask else None,
                       soft_mask_cutoff_epochs=values["soft_mask_cutoff_epochs"])


def run_key(row: int, seed: int) -> str:
    return f"{row}/{seed}"


def build_runs(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """Asset builder of ``ch03_table17_runs`` (see course_lib.assets.Recipe): train every row for every seed.

    ``seed`` is unused: each run is seeded by its own seed, as in the notebook. ``quick`` trains every row for the
    first seed only, 2 epochs each (tests).
    """
    from course_lib.assets import save_safetensors

    values = chapter_values("03", "reduced")
    data = load_digits_dataset(validation_fraction=values["validation_fraction"])
    base = base_config(values)
    tensors, runs = {}, {}
    start = time.perf_counter()
    for row, step in enumerate(llamafication_steps()):
        for run_seed in values["seeds"][:1] if quick else values["seeds"]:
            torch.manual_seed(run_seed)
            model = VisionTransformer(step_config(base, step))
            result = train_classifier(model, data, recipe_for(step, values, epochs=2 if quick else None), seed=run_seed)
            key = run_key(row, run_seed)
            tensors.update({f"{key}/{name}": value.detach().clone() for name, value in model.state_dict().items()})
            runs[key] = {"row": step.name, "seed": run_seed, "losses": result.losses,
                         "validation_accuracy": result.validation_accuracy, "validation_loss": result.validation_loss,
                         "test_accuracy": result.test_accuracy, "test_loss": result.test_loss}
    seconds = time.perf_counter() - start
    save_safetensors(tensors, out_path, {"runs": runs, "epochs": 2 if quick else values["epochs"]})
    final = runs[run_key(len(llamafication_steps()) - 1, values["seeds"][0])]["losses"]
    return {"loss_start": final[0], "loss_end": final[-1], "runs": len(runs), "train_seconds": round(seconds, 1)}


def run_weights(tensors: dict[str, torch.Tensor], row: int, seed: int) -> dict[str, torch.Tensor]:
    """One run's state dict out of the asset's tensors."""
    prefix = run_key(row, seed) + "/"
    weights = {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
    if not weights:
        raise KeyError(f"{ASSET} has no run for row {row}, seed {seed}; rebuild it with `python -m course_lib.assets build {ASSET}`")
    return weights
