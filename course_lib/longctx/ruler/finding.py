r"""RULER's finding judged on one trained model, with the noise of its scores (chapter 02).

The paper's claim (arXiv 2404.06654, §4 and Table 3): a model's **effective length** — the longest
length whose score (the mean over the tasks) still reaches a threshold fixed before the evaluation —
falls short of the length it claims, the length it was trained to. At reduced scale a length's score
rests on a hundred samples or so, so each gets a 95% interval, and the finding is judged in two parts:

* the model **passes at its shortest length**: the interval there lies above the threshold (else a
  model that learned nothing at all would "show" the finding);
* it **falls below the threshold** at some length up to its claimed length: that length's interval
  lies below the threshold.

The finding reproduces when both parts do, does not reproduce when either part does not, and is a
tie otherwise (:mod:`course_lib.claims`).

A sample's score is its task's metric on that sample alone, :math:`s \in [0, 1]` (the fraction of
references found, or 1 if any is found for QA). A length's score is the mean of its tasks' scores;
with as many samples per task it is the mean :math:`\bar s` of all its samples. Its interval is the
Wilson interval of :math:`\bar s` over those samples: a score in :math:`[0, 1]` with mean :math:`p`
has variance at most :math:`p(1 - p)`, so the all-or-nothing (Bernoulli) interval is at least as
wide as partial credit needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from course_lib.claims import FAILS, REPRODUCES, TIE, wilson_interval
from course_lib.longctx.ruler.evaluate import RulerResult
from course_lib.longctx.ruler.scoring import METRIC_FUNCTIONS
from course_lib.longctx.ruler.tasks import Sample
from course_lib.longctx.ruler.templates import METRICS, TASKS


@dataclass(frozen=True)
class LengthScore:
    """One length's RULER score (0-100, the mean of its tasks' rounded scores) and its 95% interval."""

    length: int
    score: float
    low: float
    high: float
    samples: int


def sample_scores(result: RulerResult, samples: Mapping[tuple[str, int], Sequence[Sample]]) -> dict[int, list[float]]:
    """``{length: [score of each sample in [0, 1]]}``, all tasks of a length together, each sample
    scored with its task's metric (string_match_all, or string_match_part for QA)."""
    pooled: dict[int, list[float]] = {}
    counts: dict[int, set[int]] = {}
    for (task, length), cell in samples.items():
        if (task, length) not in result.predictions:
            raise KeyError(f"{result.name} has no predictions for {task} at {length}: evaluate it on the same samples")
        metric = METRIC_FUNCTIONS[METRICS[TASKS[task].family]]
        predictions = result.predictions[(task, length)]
        pooled.setdefault(length, []).extend(metric([p], [s.outputs]) / 100 for p, s in zip(predictions, cell))
        counts.setdefault(length, set()).add(len(cell))
    uneven = {n: sorted(c) for n, c in counts.items() if len(c) > 1}
    if uneven:
        raise ValueError(f"every task needs as many samples at a length (the mean over samples is then the mean over tasks); got {uneven}")
    return pooled


def length_intervals(result: RulerResult, samples: Mapping[tuple[str, int], Sequence[Sample]]) -> dict[int, LengthScore]:
    """Each length's score (``result.by_length()``) and the 95% Wilson interval of its samples' mean score."""
    scores = result.by_length()
    out = {}
    for length, per_sample in sorted(sample_scores(result, samples).items()):
        low, high = wilson_interval(sum(per_sample), len(per_sample))
        out[length] = LengthScore(length, scores[length], 100 * low, 100 * high, len(per_sample))
    return out


@dataclass(frozen=True)
class Finding:
    """RULER's finding on one model: its effective length against its claimed length, with the noise."""

    name: str
    threshold: float
    claimed: int
    trained_lengths: tuple[int, ...]
    scores: dict[int, LengthScore]
    effective: int | None
    passes_short: str  # the model's score at the shortest length lies above the threshold
    falls_below: str  # at some length up to the claimed one it lies below
    verdict: str

    def sentences(self) -> list[str]:
        """The finding in words, every number from the run."""
        lengths = sorted(self.scores)
        first = self.scores[lengths[0]]
        below = [n for n in lengths if n <= self.claimed and self.scores[n].high < self.threshold]
        above = [n for n in lengths if n <= self.claimed and self.scores[n].low >= self.threshold]
        place = {REPRODUCES: "above", FAILS: "below", TIE: "not clearly above or below"}[self.passes_short]
        effective = self.effective if self.effective is not None else f"<{lengths[0]}"
        return [
            f"{self.name} was trained evenly at {', '.join(map(str, self.trained_lengths))} tokens: it claims {self.claimed}.",
            f"At {lengths[0]} tokens it scores {first.score:.2f} (95% interval {first.low:.1f}-{first.high:.1f}, "
            f"{first.samples} samples): {place} the threshold {self.threshold}, which was fixed before the evaluation.",
            f"Its effective length is {effective} tokens, its claimed length {self.claimed}.",
            "Beyond noise, up to its claim, it is above the threshold at "
            + (f"{', '.join(map(str, above))} tokens" if above else "no length")
            + " and below it at " + (f"{', '.join(map(str, below))} tokens." if below else "no length."),
            f"RULER's finding (a model that passes at short lengths has an effective length below its claimed length): "
            f"{self.verdict}{self._reason()}.",
        ]

    def _reason(self) -> str:
        """Which part of the finding decided a verdict other than a reproduction."""
        reasons = []
        if self.passes_short != REPRODUCES:
            reasons.append("it does not pass at its shortest length" if self.passes_short == FAILS
                           else "its shortest length is not clearly above the threshold")
        if self.falls_below != REPRODUCES:
            reasons.append("it stays above the threshold up to its claimed length" if self.falls_below == FAILS
                           else "no length up to its claim is clearly below the threshold")
        return f" ({'; '.join(reasons)})" if reasons else ""


def judge_effective_length(result: RulerResult, samples: Mapping[tuple[str, int], Sequence[Sample]], threshold: float,
                           trained_lengths: Sequence[int]) -> Finding:
    """RULER's finding (2404.06654, §4) on ``result``, a model trained at ``trained_lengths`` and scored on
    ``samples`` against ``threshold`` (0-100), a number fixed before the evaluation — never the evaluated
    model's own score."""
    _check_threshold(threshold, trained_lengths)
    return _judge(result.name, length_intervals(result, samples), threshold, trained_lengths,
                  result.effective_length(threshold))


def judge_length_scores(name: str, scores: Mapping[int, float], samples_per_length: int, threshold: float,
                        trained_lengths: Sequence[int], effective: int | None) -> Finding:
    """The same finding from each length's score (0-100) alone, for all-or-nothing samples (one reference per
    sample, as in the NIAH tasks with one needle): a length's interval is the Wilson interval of its
    ``round(score / 100 * samples_per_length)`` right answers. ``effective`` is the effective length computed
    from the same scores (for instance by the learner's ``effective_length``)."""
    _check_threshold(threshold, trained_lengths)
    intervals = {}
    for length, score in sorted(scores.items()):
        low, high = wilson_interval(round(score / 100 * samples_per_length), samples_per_length)
        intervals[length] = LengthScore(length, score, 100 * low, 100 * high, samples_per_length)
    return _judge(name, intervals, threshold, trained_lengths, effective)


def _check_threshold(threshold: float, trained_lengths: Sequence[int]) -> None:
    if not 1 < threshold <= 100:
        raise ValueError(f"threshold={threshold}: give a score in percent (such as the paper's 85.6, not a fraction), "
                         "fixed before the evaluation")
    if not trained_lengths:
        raise ValueError("trained_lengths is empty: give the lengths the model was trained at")


def _judge(name: str, scores: dict[int, LengthScore], threshold: float, trained_lengths: Sequence[int],
           effective: int | None) -> Finding:
    claimed = max(trained_lengths)
    shortest = min(scores)
    if shortest > claimed:
        raise ValueError(f"the grid starts at {shortest} tokens, beyond the claimed {claimed}: score lengths the model claims")
    first = scores[shortest]
    passes_short = REPRODUCES if first.low >= threshold else FAILS if first.high < threshold else TIE
    up_to_claim = [s for n, s in scores.items() if n <= claimed]
    if any(s.high < threshold for s in up_to_claim):
        falls_below = REPRODUCES
    elif all(s.low >= threshold for s in up_to_claim):
        falls_below = FAILS
    else:
        falls_below = TIE
    parts = (passes_short, falls_below)
    verdict = REPRODUCES if parts == (REPRODUCES, REPRODUCES) else FAILS if FAILS in parts else TIE
    return Finding(name, threshold, claimed, tuple(sorted(trained_lengths)), scores, effective, passes_short,
                   falls_below, verdict)


def learned_tasks(result: RulerResult, length: int, threshold: float) -> tuple[str, ...]:
    """The tasks whose score at ``length`` reaches ``threshold``: on a validation grid, the tasks a model has
    learned at its shortest length, chosen before its test samples are scored."""
    return tuple(task for task, row in result.table.items() if row[length] >= threshold)
