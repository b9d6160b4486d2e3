"""Chapter 03's reduced recipe (depth and epochs), chosen on the validation split (iLLaMA 2404.06773, Table 17).

The criterion is fixed before any candidate runs: the mean validation accuracy, over the chapter's seeds, of the
final model of Table 17 (``+ soft mask``, the model the recipe produces). The candidates are the depths and
lengths of training the chapter was written with (2 or 4 layers; 16 or 20 epochs, the soft-mask cutoff at half).
The test split is not scored: the dataset handed to training has the validation split in its place.

    python -m course_lib.vision.recipe_choice      # about 2 CPU minutes; prints each candidate and the choice
"""

from __future__ import annotations

import dataclasses
import sys

import torch

from course_lib.config import chapter_values
from course_lib.vision.digits import ImageDataset, load_digits_dataset
from course_lib.vision.illama import llamafication_steps, step_config
from course_lib.vision.table17_runs import base_config, recipe_for
from course_lib.vision.training import train_classifier
from course_lib.vision.vit import VisionTransformer

CANDIDATES = tuple((depth, epochs) for depth in (2, 4) for epochs in (16, 20))


def without_test(data: ImageDataset) -> ImageDataset:
    """``data`` with its validation split in the place of the test split, so that training never scores the test split."""
    if data.validation is None:
        raise ValueError("the recipe is chosen on a validation split: load the digits with validation_fraction > 0")
    return dataclasses.replace(data, test=data.validation)


def validation_scores(data: ImageDataset, candidates=CANDIDATES, seeds=None, values: dict | None = None) -> dict:
    """``{(depth, epochs): [validation accuracy of the final Table-17 row, per seed]}``."""
    values = values or chapter_values("03", "reduced")
    seeds = values["seeds"] if seeds is None else seeds
    data = without_test(data)
    final = next(step for step in llamafication_steps() if step.soft_mask)
    out = {}
    for depth, epochs in candidates:
        base = dataclasses.replace(base_config(values), depth=depth)
        recipe = dataclasses.replace(recipe_for(final, values, epochs=epochs), soft_mask_cutoff_epochs=epochs // 2)
        scores = []
        for seed in seeds:
            torch.manual_seed(seed)
            scores.append(train_classifier(VisionTransformer(step_config(base, final)), data, recipe, seed=seed).validation_accuracy)
        out[depth, epochs] = scores
    return out


def choose(scores: dict) -> tuple[int, int]:
    """The candidate with the highest mean validation accuracy (the first one on a tie)."""
    return max(scores, key=lambda key: sum(scores[key]) / len(scores[key]))


def main() -> int:
    torch.set_num_threads(1)
    values = chapter_values("03", "reduced")
    scores = validation_scores(load_digits_dataset(validation_fraction=values["validation_fraction"]), values=values)
    for (depth, epochs), accs in scores.items():
        print(f"depth {depth}, {epochs} epochs: validation accuracy of '+ soft mask' per seed "
              + ", ".join(f"{100 * a:.1f}" for a in accs) + f"; mean {100 * sum(accs) / len(accs):.1f}")
    depth, epochs = choose(scores)
    print(f"chosen on validation: depth {depth}, {epochs} epochs (the chapter uses depth {values['depth']}, {values['epochs']} epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
