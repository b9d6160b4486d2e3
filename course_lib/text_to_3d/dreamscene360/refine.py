r"""Self-refinement of the panorama (DreamScene360, arXiv 2404.06903, §3.2), with a judge classifier standing in for GPT-4V (chapter 05).

In the paper GPT-4V drafts several prompts from the user's, the panorama model renders each, GPT-4V
scores every panorama from 0 to 10 (quality and prompt adherence), reflects on the best and revises
the prompt, for a few rounds (reference: 3 prompts, 3 rounds); the best panorama is kept. Here:

* **draft**: rewordings of the user's prompt in the course's vocabulary (:func:`draft_prompts`);
* **score**: 10 x the judge classifier's mean probability of the prompt's class over crops that go
  all around the panorama (:func:`judge_score`), so a panorama scores well only if every direction
  looks like the prompt (GPT-4V would also judge image quality, which a 6-class judge cannot);
* **revise**: round 1 tries every draft at the lowest guidance scale; each later round keeps the best
  prompt so far and tries new seeds with its guidance scale and the neighbouring ones.

Nothing here is a language model: the loop's shape (draft, select, revise) is the paper's, the judge is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

NUMBER_WORDS = ("a", "an", "one", "two", "three", "four")
GUIDANCE_SCALES = (1.0, 1.5, 2.0, 3.0, 5.0)


def draft_prompts(prompt: str) -> list[str]:
    """Rewordings of ``prompt`` that keep its objects: the prompt itself, without its count, without its setting
    ("in a field"), and with another setting (chapter 05). Duplicates are dropped, order kept."""
    words = prompt.strip().split()
    if not words:
        raise ValueError("the prompt is empty; write e.g. 'four red houses in a field'")
    drafts = [" ".join(words)]
    if words[0] in NUMBER_WORDS and len(words) > 1:
        drafts.append(" ".join(words[1:]))
    if "in" in words[1:]:
        cut = words.index("in", 1)
        drafts.append(" ".join(words[:cut]))
        drafts.append(" ".join(words[:cut] + ["in", "a", "park"]))
    return list(dict.fromkeys(drafts))


@torch.no_grad()
def judge_score(classify: Callable[[torch.Tensor], torch.Tensor], panoramas: torch.Tensor, label: int, window: int, crops: int = 8) -> torch.Tensor:
    """10 x the judge's probability of class ``label``, averaged over ``crops`` full-height windows all around (chapter 05).

    ``classify`` maps (B, 3, H, window) in [-1, 1] to logits (B, K); ``panoramas`` (B, 3, H, W). Returns (B,) scores in [0, 10].
    """
    width = panoramas.shape[-1]
    probs = [classify(panoramas.roll(-(k * width) // crops, dims=-1)[..., :window]).softmax(-1)[:, label] for k in range(crops)]
    return 10.0 * torch.stack(probs).mean(dim=0)


@dataclass
class Candidate:
    """One panorama of the refinement loop: how it was made, its score and the round it belongs to (chapter 05)."""

    prompt: str
    seed: int
    scale: float
    round: int
    score: float = float("nan")
    image: torch.Tensor | None = field(default=None, repr=False)


@dataclass
class RefineResult:
    """The best candidate and every round's candidates (chapter 05)."""

    best: Candidate
    rounds: list[list[Candidate]]

    def best_per_round(self) -> list[float]:
        """The best score found up to and including each round (the curve the paper's loop climbs)."""
        out, best = [], float("-inf")
        for candidates in self.rounds:
            best = max(best, max(c.score for c in candidates))
            out.append(best)
        return out

    def mean_per_round(self) -> list[float]:
        """Each round's mean candidate score."""
        return [sum(c.score for c in cs) / len(cs) for cs in self.rounds]


Generate = Callable[[list[str], list[int], list[float]], torch.Tensor]  # prompts, seeds, scales -> (B, 3, H, W)
Score = Callable[[torch.Tensor], torch.Tensor]  # panoramas -> (B,) in [0, 10]


def self_refine(generate: Generate, score: Score, prompt: str, rounds: int, candidates: int, seed: int = 0,
                scales: tuple[float, ...] = GUIDANCE_SCALES) -> RefineResult:
    """Draft, score, keep the best, revise, for ``rounds`` rounds of ``candidates`` panoramas each (chapter 05).

    Round 1 tries the draft prompts in turn at the lowest guidance scale (the drafts, before any revision);
    every later round keeps the best prompt so far with its scale and the neighbouring scales, on new seeds.
    """
    if rounds < 1 or candidates < 1:
        raise ValueError(f"need at least one round and one candidate, got rounds={rounds}, candidates={candidates}")
    drafts = draft_prompts(prompt)
    history: list[list[Candidate]] = []
    best: Candidate | None = None
    for r in range(rounds):
        if best is None:
            settings = [(drafts[k % len(drafts)], scales[0]) for k in range(candidates)]
        else:
            i = scales.index(best.scale)
            nearby = scales[max(0, i - 1): i + 2]
            settings = [(best.prompt, nearby[k % len(nearby)]) for k in range(candidates)]
        batch = [Candidate(p, seed * 1000 + r * candidates + k, s, r + 1) for k, (p, s) in enumerate(settings)]
        images = generate([c.prompt for c in batch], [c.seed for c in batch], [c.scale for c in batch])
        for c, image, value in zip(batch, images, score(images).tolist()):
            c.image, c.score = image, value
        history.append(batch)
        round_best = max(batch, key=lambda c: c.score)
        if best is None or round_best.score > best.score:
            best = round_best
    return RefineResult(best, history)
