"""Chapter 01's claims (Infini-attention, arXiv 2404.07143) judged on the run's passkey accuracies and memory sizes.

Each accuracy is measured on ``samples`` prompts per (length, position) and carries its 95% Wilson interval
(``course_lib.claims``). The claims: retrieval far beyond the training length (§4.2), once with the course's recipe
and once with the paper's plain one; the memory-off baseline that loses a key outside its segment; and the memory's
fixed size whatever the length (§3.1, Table 1).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from course_lib.claims import Claim, verdict_at_least, verdict_greater, wilson_interval

BEYOND_BAR = 0.8  # "finds the passkey": the worst position's whole interval above 80%
LOST_BAR = 0.1  # "the key is lost": the whole interval of the accuracy below 10% (chance is 1%)

Accuracy = Mapping[tuple[int, str], float]  # (length, position) -> accuracy in [0, 1]


def beyond_training_claim(label: str, accuracy: Accuracy, length: int, train_len: int, samples: int,
                          positions: Sequence[str] = ("start", "middle", "end"), recipe: str = "filler repeats (course recipe)",
                          asserted: bool = True) -> Claim:
    """"``label`` finds the passkey at ``length`` tokens" (§4.2, Table 3: 100% at 32K-256K), judged on its worst position."""
    worst = min(positions, key=lambda p: accuracy[(length, p)])
    acc = accuracy[(length, worst)]
    low, high = wilson_interval(round(acc * samples), samples)
    return Claim(f"{label}, {recipe}: finds the passkey far beyond the training length (§4.2, Table 3: 100% at 32K-256K)",
                 f"worst position ({worst}) {100 * acc:.0f}% at {length} tokens = {length // train_len}x, "
                 f"95% CI [{100 * low:.0f}, {100 * high:.0f}]", verdict_greater(low, high, BEYOND_BAR), asserted=asserted)


def memory_off_claim(accuracy: Accuracy, lengths: Sequence[int], samples: int) -> Claim:
    """"Without the memory, the key is lost outside the current segment": the key at the start or the middle of
    prompts longer than a segment, all lengths pooled."""
    hits = sum(round(accuracy[(n, p)] * samples) for n in lengths for p in ("start", "middle"))
    prompts = len(lengths) * 2 * samples
    low, high = wilson_interval(hits, prompts)
    return Claim("without the memory, the key is lost outside the current segment (the baseline)",
                 f"memory off, key at start/middle, all lengths: {hits}/{prompts} right, 95% CI up to {100 * high:.1f}% (chance 1%)",
                 verdict_greater(-high, -low, -LOST_BAR))


def fixed_memory_claim(rows: Sequence[tuple[int, int, int, int]]) -> Claim:
    """"The memory has a fixed size whatever the length" (§3.1, Table 1), on ``rows`` of (length, state bytes, peak
    bytes while streaming, KV-cache bytes full attention would need): exact byte counts, no noise."""
    states, peaks = [r[1] for r in rows], [r[2] for r in rows]
    return Claim("(design check: exact byte counts) the memory has a fixed size whatever the length (§3.1, Table 1)",
                 f"state {rows[0][1]:,} B at {rows[0][0]} and {rows[-1][1]:,} B at {rows[-1][0]} tokens; "
                 f"streaming peak {min(peaks):,}-{max(peaks):,} B; KV cache {rows[-1][3]:,} B at {rows[-1][0]}",
                 verdict_at_least(-(max(states) - min(states)) - (max(peaks) - min(peaks)), 0))
