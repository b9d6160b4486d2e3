"""A tiny prompt encoder over the procedural vocabulary, with a learned null prompt (chapters 05-07).

Stands in for the CLIP / OpenCLIP text encoder of Stable Diffusion: word embeddings plus
positions, one transformer layer, giving ``(B, L, D)`` tokens for the UNet's cross-attention.
The learned null embedding is the empty condition :math:`\\varnothing` of classifier-free
guidance (Ho & Salimans, 2022); :func:`drop_condition` swaps it in during training.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.scenes.vocabulary import VOCABULARY, check_prompt

WORDS: tuple[str, ...] = tuple(sorted(VOCABULARY))
WORD_ID: dict[str, int] = {w: i + 1 for i, w in enumerate(WORDS)}  # 0 = padding
MAX_WORDS = 12


def tokenize_prompts(prompts: list[str]) -> torch.Tensor:
    """Prompts -> word ids (B, MAX_WORDS), 0-padded (chapter 05). Unknown words raise
    :class:`~course_lib.scenes.vocabulary.UnknownPromptWordError`; too long prompts a ValueError."""
    if isinstance(prompts, str):
        raise ValueError("tokenize_prompts takes a list of prompts; wrap a single prompt in a list: [prompt]")
    ids = torch.zeros(len(prompts), MAX_WORDS, dtype=torch.long)
    for b, prompt in enumerate(prompts):
        words = check_prompt(prompt)
        if len(words) > MAX_WORDS:
            raise ValueError(f"prompt {prompt!r} has {len(words)} words; the tiny prompt encoder reads at most {MAX_WORDS}")
        ids[b, : len(words)] = torch.tensor([WORD_ID[w] for w in words])
    return ids


class PromptEncoder(nn.Module):
    """Word ids (B, L) -> prompt tokens (B, L, dim); ``null(B)`` gives the learned empty prompt (chapter 05).

    Stand-in for the frozen text encoder of latent diffusion (Rombach et al., 2022, Eq. 3's
    :math:`\\tau_\\theta(y)`), trained jointly with the tiny prior.
    """

    def __init__(self, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.words = nn.Embedding(len(WORDS) + 1, dim, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(MAX_WORDS, dim))
        self.layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.null_tokens = nn.Parameter(torch.zeros(MAX_WORDS, dim))
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.null_tokens, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = ids == 0  # (B, L)
        tokens = self.words(ids) + self.position[: ids.shape[1]]  # (B, L, dim)
        return self.layer(tokens, src_key_padding_mask=pad).masked_fill(pad[..., None], 0.0)

    def encode(self, prompts: list[str | None]) -> torch.Tensor:
        """Prompts (``None`` = the empty condition) -> tokens (B, L, dim)."""
        known = [p for p in prompts if p is not None]
        tokens = self.null(len(prompts)).clone()
        if known:
            encoded = self(tokenize_prompts(known))
            index = torch.tensor([i for i, p in enumerate(prompts) if p is not None])
            tokens = tokens.index_copy(0, index, encoded)
        return tokens

    def null(self, batch: int) -> torch.Tensor:
        """The learned empty prompt :math:`\\varnothing`, (batch, L, dim)."""
        return self.null_tokens.expand(batch, -1, -1)
