"""Token tensors for the chapter-04 world: LM pre-training text, captioning and VQA batches (chapter 04)."""

from __future__ import annotations

import torch

from course_lib.vlm.world import ANS, BOS, EOS, PAD, QUESTION_TYPES, SEP, ask, caption, encode, random_scene

IGNORE = -100


def _pad(rows: list[list[int]], value: int, length: int | None = None) -> torch.Tensor:
    length = length or max(len(r) for r in rows)
    return torch.tensor([r + [value] * (length - len(r)) for r in rows], dtype=torch.long)


def lm_pretraining_text(num_scenes: int, seed: int) -> torch.Tensor:
    """Token rows for pre-training the frozen LM: '<bos> caption <sep> question <ans> answer <eos>'
    for every question type, and the bare '<bos> caption <eos>', right-padded: (R, L)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(num_scenes):
        scene = random_scene(g)
        cap = [BOS] + encode(caption(scene))
        rows.append(cap + [EOS])
        for kind in QUESTION_TYPES:
            q, a = ask(scene, kind, g)
            rows.append(cap + [SEP] + encode(q) + [ANS] + encode(a) + [EOS])
    return _pad(rows, PAD)


def lm_labels(tokens: torch.Tensor) -> torch.Tensor:
    """Next-token targets of right-padded rows: labels[:, i] = tokens[:, i + 1], IGNORE on padding."""
    labels = torch.full_like(tokens, IGNORE)
    labels[:, :-1] = tokens[:, 1:]
    labels[labels == PAD] = IGNORE
    return labels


def vqa_tokens(questions: list[str], answers: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The text after the soft prompt, '<sep> question <ans> answer <eos>', and the bridge's question input.

    Returns ``text`` (B, L) right-padded, ``labels`` (B, L) with a target only for the answer and
    its ``<eos>``, ``last`` (B,) the index of ``<ans>`` (where generation starts), ``q_ids`` and
    ``q_mask`` (B, L_q) the question alone for the (MEQ-)Former.
    """
    qs = [encode(q) for q in questions]
    prefixes = [[SEP] + q + [ANS] for q in qs]
    rows = [p + (encode(a) + [EOS] if answers is not None else []) for p, a in zip(prefixes, answers or [None] * len(qs))]
    text = _pad(rows, PAD)
    labels = torch.full_like(text, IGNORE)
    if answers is not None:
        for b, p in enumerate(prefixes):
            n = len(rows[b]) - len(p)
            labels[b, len(p) - 1: len(p) - 1 + n] = text[b, len(p): len(p) + n]
    q_ids = _pad(qs, PAD)
    return {"text": text, "labels": labels, "last": torch.tensor([len(p) - 1 for p in prefixes]), "q_ids": q_ids, "q_mask": q_ids != PAD}


def caption_tokens(captions: list[str]) -> dict[str, torch.Tensor]:
    """'<bos> caption <eos>' after the soft prompt, for the captioning stage; the bridge's text input is empty."""
    text = _pad([[BOS] + encode(c) + [EOS] for c in captions], PAD)
    B = len(captions)
    return {"text": text, "labels": lm_labels(text), "q_ids": torch.full((B, 1), PAD), "q_mask": torch.zeros(B, 1, dtype=torch.bool)}
