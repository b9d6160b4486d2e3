"""RULER-style variants of chapter 01's passkey prompt, within its vocabulary (chapter 02).

RULER's point (arXiv 2404.06654, §1 and Table 3) is that the vanilla needle test says little:
models that find a lone needle fail when the haystack holds things that look like the answer.
Chapter 01's model knows 141 words, so the variants are built from them:

* ``vanilla`` — the passkey prompt of chapter 01 (paper App. B), whole filler sentences;
* ``numbers in the haystack`` — after a filler sentence, with probability ``rate``, a number
  sentence ``"{n} ."``: values of the answer's type that no key names (as in RULER's noise
  haystacks that carry values);
* ``distractor needles`` — with the same probability, a needle-like sentence ``"the pass key is
  {n} ."`` without the key sentence's "remember it" (RULER's ``niah_multikey``: needles whose key
  is not the one asked; this vocabulary has one key name, so the true needle is the one with
  the full key sentence).

Every haystack is made of whole sentences: a prompt holds the largest number of whole units
that keeps it within ``length`` tokens, so it may be a few tokens shorter. Distractor numbers
never equal the passkey.
"""

from __future__ import annotations

import torch

from course_lib.longctx.passkey import FILLER, KEY_SENTENCE, PasskeyTask

VARIANTS = ("vanilla", "numbers in the haystack", "distractor needles")
_DISTRACTOR = {"numbers in the haystack": "{n} .", "distractor needles": "the pass key is {n} ."}
_SENTENCES = [s.strip() + " ." for s in FILLER.split(" . ") if s.strip(" .")]


def variant_prompt(task: PasskeyTask, kind: str, length: int, depth: float, passkey: int,
                   generator: torch.Generator, rate: float = 0.15) -> tuple[list[int], int]:
    """Token ids of one prompt of at most ``length`` tokens (whole sentences), and where the key sentence starts."""
    if kind not in VARIANTS:
        raise ValueError(f"kind={kind!r}: choose one of {VARIANTS}")
    key = task.encode(KEY_SENTENCE.format(key=passkey))
    budget = length - task.intro_len - len(key) - task.question_len
    if budget < 0:
        raise ValueError(f"length={length} is too short for a passkey prompt (at least {task.min_length} tokens)")
    units: list[list[int]] = []
    used, i = 0, 0
    while True:
        unit = task.encode(_SENTENCES[i % len(_SENTENCES)])
        i += 1
        if kind != "vanilla" and float(torch.rand(1, generator=generator)) < rate:
            other = int(torch.randint(len(task.passkeys) - 1, (1,), generator=generator))
            other += other >= passkey  # any passkey but the answer
            unit = unit + task.encode(_DISTRACTOR[kind].format(n=other))
        if used + len(unit) > budget:
            break
        units.append(unit)
        used += len(unit)
    before = round(depth * len(units))  # the key goes between two units
    body_before = [t for unit in units[:before] for t in unit]
    body_after = [t for unit in units[before:] for t in unit]
    ids = task._intro + body_before + key + body_after + task._question
    return ids, task.intro_len + len(body_before)


@torch.no_grad()
def variant_accuracy(model, task: PasskeyTask, kind: str, length: int, samples: int, seed: int = 0) -> tuple[int, int]:
    """``(right, distractor)``: how many of ``samples`` prompts the model answers with the passkey, and
    how many with a number that occurs in the prompt as a distractor. Prompts are streamed one by one."""
    generator = torch.Generator().manual_seed(seed)
    right = distractor = 0
    for _ in range(samples):
        passkey = int(torch.randint(len(task.passkeys), (1,), generator=generator))
        depth = float(torch.rand(1, generator=generator))
        ids, _ = variant_prompt(task, kind, length, depth, passkey, generator)
        predicted = int(model.stream(torch.tensor([ids])).argmax(-1))
        right += predicted == int(task.passkey_ids[passkey])
        distractor += predicted != int(task.passkey_ids[passkey]) and predicted in ids and predicted in task.passkey_ids.tolist()
    return right, distractor
