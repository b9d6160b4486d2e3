"""Chapter 04's evaluation splits: a validation split and the test split (BRAVE 2404.07204).

Every split is generated from its own seed, so its scenes are not the training scenes:

* **train** (seed 1, :data:`course_lib.vlm.bridges.TRAIN_SEED`): the captions and VQA questions the
  bridges learn from (the recipe of :mod:`course_lib.vlm.bridges`);
* **validation** (seeds 5, 6, 7): images, MMVP-style pairs and balanced binding questions
  (:func:`course_lib.vlm.world.binding_questions`, hard negatives) on which the chapter decides
  which claims it asserts;
* **test** (seeds 2, 3, 4): the same, scored once in the notebook's run. Its images and pairs are
  those the shipped bridges' build records were scored on (``TEST_SEED``, ``PAIR_SEED``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.vlm.bridges import PAIR_SEED, TEST_SEED, TRAIN_SEED
from course_lib.vlm.model import VisionLanguageModel, pair_accuracy, pair_results, vqa_accuracy
from course_lib.vlm.world import PairSet, VQASet, binding_questions, make_pairs, make_vqa

__all__ = ["BINDING", "SPLIT_SEEDS", "TRAIN_SEED", "EvalSplit", "evaluation_split", "evaluate"]
SPLIT_SEEDS = {"validation": (5, 6, 7), "test": (TEST_SEED, PAIR_SEED, 4)}  # (images, pairs, binding questions)
BINDING = "binding"  # the question type of the balanced compositional questions


@dataclass
class EvalSplit:
    """One evaluation split: ``vqa`` (every question type on each image), ``pairs`` (MMVP-style) and
    the balanced binding questions ``binding = (image_index, questions, answers)`` on ``vqa``'s images."""

    name: str
    vqa: VQASet
    pairs: PairSet
    binding: tuple[list[int], list[str], list[str]]


def evaluation_split(name: str, num_images: int, num_pairs: int) -> EvalSplit:
    """The ``'validation'`` or ``'test'`` split: ``num_images`` images, ``num_pairs`` pairs, their binding questions."""
    if name not in SPLIT_SEEDS:
        raise ValueError(f"no split {name!r}; the evaluation splits are {', '.join(SPLIT_SEEDS)}")
    image_seed, pair_seed, binding_seed = SPLIT_SEEDS[name]
    vqa = make_vqa(num_images, seed=image_seed)
    return EvalSplit(name, vqa, make_pairs(num_pairs, seed=pair_seed), binding_questions(vqa.scenes, seed=binding_seed))


def evaluate(model: VisionLanguageModel, split: EvalSplit, features: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
    """Accuracy per question type, ``all``, ``pairs`` (MMVP score) and ``binding`` of ``model`` on ``split``.

    ``features``: ``{"vqa": ..., "pairs": ...}``, each the :func:`encode_images` output of that part's images.
    """
    vqa = split.vqa
    scores = vqa_accuracy(model, features["vqa"], vqa.image_index, vqa.kinds, vqa.questions, vqa.answers)
    scores["pairs"] = pair_accuracy(pair_results(model, features["pairs"], split.pairs.questions, split.pairs.answers))
    index, questions, answers = split.binding
    scores[BINDING] = vqa_accuracy(model, features["vqa"], index, [BINDING] * len(index), questions, answers)[BINDING]
    return scores
