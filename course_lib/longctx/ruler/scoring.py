r"""RULER's metrics, per-length scores, effective length and weighted averages (chapter 02).

* ``string_match_all`` (NIAH, VT, CWE, FWE): per sample the fraction of references that occur
  in the prediction (case-insensitive substring), averaged and times 100.
* ``string_match_part`` (QA): per sample 1 if any reference occurs, averaged and times 100.
* A length's score is the unweighted mean over the tasks.
* Effective length (paper §4): the longest length up to which every score reaches the threshold
  (the paper's threshold is Llama-2-7B's score at 4K, 85.6).
* wAvg (paper Table 3): weights :math:`w_i = i` (inc, favours long lengths) or :math:`w_i = n + 1 - i`
  (dec, favours short ones) over the lengths in increasing order, :math:`\sum_i w_i s_i / \sum_i w_i`.
"""

from __future__ import annotations

from typing import Mapping, Sequence


def _check(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(predictions, str) or len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"give a list of predictions and a list of reference lists of the same non-zero length "
            f"(got {len(predictions)} predictions and {len(references)} reference lists)"
        )
    for refs in references:
        if isinstance(refs, str) or not refs:
            raise ValueError(f"each sample's references must be a non-empty list of strings, got {refs!r}")


def string_match_all(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean over samples of the fraction of references found in the prediction, x 100 (RULER §3)."""
    _check(predictions, references)
    per_sample = [sum(r.lower() in p.lower() for r in refs) / len(refs) for p, refs in zip(predictions, references)]
    return 100.0 * sum(per_sample) / len(per_sample)


def string_match_part(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean over samples of 1 if any reference is found in the prediction, x 100 (RULER §3, QA)."""
    _check(predictions, references)
    per_sample = [float(any(r.lower() in p.lower() for r in refs)) for p, refs in zip(predictions, references)]
    return 100.0 * sum(per_sample) / len(per_sample)


METRIC_FUNCTIONS = {"string_match_all": string_match_all, "string_match_part": string_match_part}


def length_scores(table: Mapping[str, Mapping[int, float]]) -> dict[int, float]:
    """``{length: mean over tasks}`` of a ``{task: {length: score}}`` table (every task at every length)."""
    lengths = sorted({n for row in table.values() for n in row})
    missing = [(t, n) for t, row in table.items() for n in lengths if n not in row]
    if missing:
        raise ValueError(f"the table lacks scores for {missing[:3]}...: every task needs a score at every length")
    return {n: sum(row[n] for row in table.values()) / len(table) for n in lengths}


def effective_length(scores: Mapping[int, float], threshold: float) -> int | None:
    """The longest length up to which every length's score is at least ``threshold``; None when
    the shortest length already falls below it (the paper writes "<4K")."""
    effective = None
    for n in sorted(scores):
        if scores[n] < threshold:
            break
        effective = n
    return effective


def weighted_average(scores: Mapping[int, float], order: str = "inc") -> float:
    """wAvg over lengths in increasing order with linear weights 1..n (``inc``) or n..1 (``dec``)."""
    if order not in ("inc", "dec"):
        raise ValueError(f"order={order!r}: 'inc' weighs long lengths more, 'dec' short ones")
    values = [scores[n] for n in sorted(scores)]
    weights = list(range(1, len(values) + 1))
    if order == "dec":
        weights.reverse()
    return sum(w * s for w, s in zip(weights, values)) / sum(weights)
