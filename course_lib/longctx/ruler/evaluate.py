"""The RULER harness: generate the samples, ask a model, score, summarise (chapter 02)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from tqdm.auto import tqdm

from course_lib.longctx.ruler.scoring import METRIC_FUNCTIONS, effective_length, length_scores, weighted_average
from course_lib.longctx.ruler.tasks import Sample, generate_samples
from course_lib.longctx.ruler.templates import METRICS, TASK_NAMES, TASKS


@dataclass
class RulerResult:
    """Scores of one model: ``table[task][length]`` (0-100) and every prediction."""

    name: str
    table: dict[str, dict[int, float]]
    predictions: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    @property
    def lengths(self) -> list[int]:
        return sorted({n for row in self.table.values() for n in row})

    def by_length(self) -> dict[int, float]:
        """Each length's score: the mean over the tasks (paper §4)."""
        return length_scores(self.table)

    def effective_length(self, threshold: float) -> int | None:
        return effective_length(self.by_length(), threshold)

    def wavg(self, order: str) -> float:
        return weighted_average(self.by_length(), order)

    def on_tasks(self, tasks: Sequence[str], name: str | None = None) -> "RulerResult":
        """The same scores and predictions restricted to ``tasks`` (a length's score is then their mean)."""
        missing = [t for t in tasks if t not in self.table]
        if not tasks or missing:
            raise ValueError(f"{self.name} has no scores for {missing or 'an empty task list'}; it has {', '.join(self.table)}")
        return RulerResult(name or self.name, {t: dict(self.table[t]) for t in tasks},
                           {k: list(v) for k, v in self.predictions.items() if k[0] in tasks})


def score(task: str, samples: Sequence[Sample], predictions: Sequence[str]) -> float:
    """The task's metric over its samples (string_match_all, or string_match_part for QA), rounded
    to 2 decimals as the reference rounds it (``scripts/eval/evaluate.py``: ``round(score, 2)``)."""
    return round(METRIC_FUNCTIONS[METRICS[TASKS[task].family]](list(predictions), [s.outputs for s in samples]), 2)


def make_samples(
    tokenizer, lengths: Sequence[int], num_samples: int, tasks: Sequence[str] = TASK_NAMES, seed: int = 0, **kwargs
) -> dict[tuple[str, int], list[Sample]]:
    """``{(task, length): samples}`` for the whole grid (kwargs go to ``generate_sample``)."""
    return {(t, n): generate_samples(t, n, tokenizer, num_samples, seed, **kwargs) for t in tasks for n in lengths}


def evaluate(model, samples: dict[tuple[str, int], list[Sample]], name: str = "model", progress: bool = True) -> RulerResult:
    """Ask ``model`` every prompt of the grid, greedy, with the task's token budget, and score it.

    ``model(prompt, max_new_tokens) -> str``; a model with ``batch(prompts, max_new_tokens)``
    gets each (task, length) cell as one batch.
    """
    table: dict[str, dict[int, float]] = {}
    predictions = {}
    for (task, length), cell in tqdm(samples.items(), desc=f"RULER {name}", disable=not progress):
        budget = cell[0].tokens_to_generate
        if hasattr(model, "batch"):
            preds = model.batch([s.prompt for s in cell], budget)
        else:
            preds = [model(s.prompt, budget) for s in cell]
        if len(preds) != len(cell) or not all(isinstance(p, str) for p in preds):
            raise TypeError(f"{name} must return one string per prompt (got {type(preds).__name__} of {len(preds)})")
        predictions[(task, length)] = preds
        table.setdefault(task, {})[length] = score(task, cell, preds)
    return RulerResult(name, table, predictions)


def format_table(results: Sequence[RulerResult], threshold: float | None = None, claimed: dict[str, int] | None = None) -> str:
    """The paper's Table 3 layout: one row per model, its score per length, effective length, wAvg
    (a model evaluated at fewer lengths shows ``-`` at the others)."""
    lengths = sorted({n for r in results for n in r.lengths})
    head = f"{'model':<22}" + "".join(f"{n:>8}" for n in lengths) + f"{'claimed':>9}{'effective':>11}{'wAvg inc':>10}{'wAvg dec':>10}"
    lines = [head, "-" * len(head)]
    for r in results:
        scores = r.by_length()
        eff = "-" if threshold is None else (r.effective_length(threshold) or f"<{lengths[0]}")
        lines.append(
            f"{r.name:<22}" + "".join(f"{scores[n]:8.2f}" if n in scores else f"{'-':>8}" for n in lengths)
            + f"{(claimed or {}).get(r.name, '-'):>9}{eff:>11}{r.wavg('inc'):10.2f}{r.wavg('dec'):10.2f}"
        )
    return "\n".join(lines)
