"""Chapter 04's data splits: the training mix, a validation split and the test split (BRAVE 2404.07204).

Every split is generated from its own seed, so its scenes are not the training scenes:

* **train** (seed 1): the captions and VQA questions the bridges learn from, plus one balanced
  binding question (:func:`course_lib.vlm.world.binding_questions`, hard negatives) on every
  training image with two or more objects (:func:`training_mix`);
* **validation** (seeds 5, 6, 7): images, MMVP-style pairs and binding questions on which the
  chapter decides which claims it asserts;
* **test** (seeds 2, 3, 4): the same, scored once in the notebook's run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib.vlm.model import TrainData, VisionLanguageModel, pair_accuracy, pair_results, vqa_accuracy
from course_lib.vlm.world import PairSet, VQASet, binding_questions, make_pairs, make_vqa

TRAIN_SEED, TRAIN_BINDING_SEED = 1, 8
SPLIT_SEEDS = {"validation": (5, 6, 7), "test": (2, 3, 4)}  # (images, pairs, binding questions)
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


def training_mix(train: VQASet, seed: int = TRAIN_BINDING_SEED) -> tuple[list[int], list[str], list[str], list[str]]:
    """The VQA fine-tuning mix of every bridge: ``(image_index, kinds, questions, answers)``.

    All of ``train``'s questions, then the balanced binding questions (hard negatives, yes and no
    alternating) asked of ``train``'s own scenes, type ``'binding'``: the bridges learn to bind
    colour to shape from training images only.
    """
    index, questions, answers = binding_questions(train.scenes, seed)
    return (list(train.image_index) + index, list(train.kinds) + [BINDING] * len(index),
            list(train.questions) + questions, list(train.answers) + answers)


def training_data(train: VQASet, features: dict[str, torch.Tensor]) -> TrainData:
    """The :class:`TrainData` of the recipe: ``train``'s captions and its :func:`training_mix`."""
    index, _, questions, answers = training_mix(train)
    return TrainData(features, train.captions, torch.tensor(index), questions, answers)


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
