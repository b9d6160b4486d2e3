"""The passkey retrieval task (Mohtashami & Jaggi, 2023; Infini-attention 2404.07143, App. B), chapter 01.

A prompt hides a passkey inside a long repetitive filler and asks for it at the end::

    There is an important info hidden inside a lot of irrelevant text. Find it and memorize it.
    I will quiz you about the important information there.
    The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. (x times)
    The pass key is 42. Remember it. 42 is the pass key.
    The grass is green. ... (y times)
    What is the pass key? The pass key is

The answer is the next token. The reduced scale uses a word-level vocabulary and a passkey
that is one token out of ``num_passkeys`` numbers (chance = 1 / num_passkeys). The key
sentence sits between two filler sentences; the filler is cut to give the prompt its exact
length, so the sentence before the question may be cut short.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

INTRO = (
    "there is an important info hidden inside a lot of irrelevant text . find it and memorize it . "
    "i will quiz you about the important information there ."
)
FILLER = "the grass is green . the sky is blue . the sun is yellow . here we go . there and back again ."
KEY_SENTENCE = "the pass key is {key} . remember it . {key} is the pass key ."
QUESTION = "what is the pass key ? the pass key is"

POSITIONS = {"start": 0.0, "middle": 0.5, "end": 1.0}


@dataclass
class PasskeyBatch:
    tokens: torch.Tensor  # (B, T) int64
    answers: torch.Tensor  # (B,) token ids of the passkeys
    key_start: torch.Tensor  # (B,) index of the first token of the key sentence


class PasskeyTask:
    """Builds passkey prompts of an exact token length with the key at a chosen depth."""

    def __init__(self, num_passkeys: int = 100) -> None:
        words = sorted(set((INTRO + " " + FILLER + " " + KEY_SENTENCE + " " + QUESTION).split()) - {"{key}"})
        self.passkeys = [str(i) for i in range(num_passkeys)]
        self.words = ["<pad>"] + words + self.passkeys
        self.index = {w: i for i, w in enumerate(self.words)}
        self.passkey_ids = torch.tensor([self.index[p] for p in self.passkeys])
        self._intro = self.encode(INTRO)
        self._filler = self.encode(FILLER)
        self._question = self.encode(QUESTION)
        self._period = self.index["."]
        self.key_len = len(self.encode(KEY_SENTENCE.format(key=0)))
        self.intro_len = len(self._intro)
        self.question_len = len(self._question)
        self.min_length = len(self._intro) + self.question_len + self.key_len

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[w] for w in text.split()]
        except KeyError as err:
            raise ValueError(f"word {err.args[0]!r} is not in the passkey vocabulary ({len(self.words)} words)") from None

    def decode(self, ids) -> str:
        return " ".join(self.words[int(i)] for i in ids)

    def _filler_tokens(self, n: int) -> list[int]:
        reps = n // len(self._filler) + 1
        return (self._filler * reps)[:n]

    def prompt(self, length: int, depth: float, passkey: int) -> tuple[list[int], int]:
        """Token ids of one prompt of exactly ``length`` tokens, the key sentence at ``depth`` in [0, 1]
        of the filler, and the index where the key sentence starts."""
        if not 0.0 <= depth <= 1.0:
            raise ValueError(f"depth={depth} must lie in [0, 1] (0 = right after the intro, 1 = just before the question)")
        if not 0 <= passkey < len(self.passkeys):
            raise ValueError(f"passkey={passkey} must lie in [0, {len(self.passkeys)})")
        key = self.encode(KEY_SENTENCE.format(key=passkey))
        n_filler = length - len(self._intro) - len(key) - len(self._question)
        if n_filler < 0:
            raise ValueError(f"length={length} is too short for a passkey prompt (at least {self.min_length} tokens)")
        filler = self._filler_tokens(n_filler)
        # the key goes between two filler sentences, at the sentence boundary nearest to the depth
        boundaries = [i for i in range(n_filler + 1) if i == 0 or filler[i - 1] == self._period]
        before = min(boundaries, key=lambda i: abs(i - depth * n_filler))
        ids = self._intro + filler[:before] + key + filler[before:] + self._question
        return ids, len(self._intro) + before

    def batch(
        self,
        batch_size: int,
        length: int,
        depth: float | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PasskeyBatch:
        """``batch_size`` prompts of ``length`` tokens with random passkeys; depth fixed, per sample, or uniform."""
        keys = torch.randint(len(self.passkeys), (batch_size,), generator=generator)
        if depth is None:
            depths = torch.rand(batch_size, generator=generator)
        else:
            depths = torch.as_tensor(depth, dtype=torch.float32).expand(batch_size)
        rows, starts = zip(*(self.prompt(length, float(d), int(k)) for d, k in zip(depths, keys)))
        return PasskeyBatch(torch.tensor(rows), self.passkey_ids[keys], torch.tensor(starts))
