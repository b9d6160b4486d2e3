"""A decoder-only language model whose attention layers are Infini-attention (chapter 01).

The model reads a token stream segment by segment and carries one :class:`MemoryState` per
layer from segment to segment; nothing else survives a segment boundary. At reduced scale
it is a few hundred thousand parameters; ``InfiniLMConfig.paper_lm()`` is the paper's
12-layer language model (2404.07143, §4.1), built on the ``meta`` device for counting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from course_lib.attention.infini import InfiniAttention, MemoryState
from course_lib.config import chapter_values

AttentionFactory = Callable[[int, int, str], nn.Module]
SIZE_KEYS = ("d_model", "num_heads", "num_layers", "d_ff", "segment_len")  # the sizes a config takes from course_lib.config


@dataclass
class InfiniLMConfig:
    vocab_size: int
    d_model: int = 64
    num_heads: int = 2
    num_layers: int = 2
    d_ff: int = 256
    segment_len: int = 32
    memory: str = "delta"  # "linear" | "delta" | "off"

    @property
    def d_head(self) -> int:
        return self.d_model // self.num_heads

    @property
    def memory_values(self) -> int:
        """Numbers held by the memory state of the whole model: d_k (d_v + 1) H L (paper §3.2, Table 1)."""
        if self.memory == "off":
            return 0
        return self.d_head * (self.d_head + 1) * self.num_heads * self.num_layers

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def paper_lm(cls, memory: str = "linear") -> "InfiniLMConfig":
        """The paper's long-context LM (§4.1): 12 layers, 8 heads of 128, FFN 4096, segment 2048,
        with a 32K SentencePiece vocabulary; the sizes come from ``course_lib.config`` (full column)."""
        full = chapter_values("01", "full")
        return cls(vocab_size=32000, memory=memory, **{key: full[key] for key in SIZE_KEYS})

    @classmethod
    def paper_1b(cls, memory: str = "delta") -> "InfiniLMConfig":
        """A 1B-parameter decoder for the passkey recipe (§4.2): 2048 wide, 16 heads of 128, 18 layers."""
        return cls(vocab_size=32000, d_model=2048, num_heads=16, num_layers=18, d_ff=8192, segment_len=2048, memory=memory)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, cfg: InfiniLMConfig, attention: AttentionFactory) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = attention(cfg.d_model, cfg.num_heads, cfg.memory)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))

    def forward(
        self, x: torch.Tensor, state: MemoryState | None, repeats: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, MemoryState | None]:
        if repeats is None:
            a, state = self.attn(self.norm1(x), state)
        elif isinstance(self.attn, InfiniAttention):
            a, state = self.attn(self.norm1(x), state, repeats)
        else:
            raise TypeError(
                f"filler repeats (PasskeyRecipe.filler_repeats_max > 1) need course_lib's InfiniAttention, which takes "
                f"`repeats`; {type(self.attn).__name__} does not: train it with filler_repeats_max=1"
            )
        x = x + a
        return x + self.mlp(self.norm2(x)), state


class TinyInfiniLM(nn.Module):
    """Token embedding, ``num_layers`` Infini-attention blocks, final norm, tied output head.

    ``attention`` builds each layer's attention from ``(d_model, num_heads, memory)``; the
    default is course_lib's :class:`InfiniAttention`, and a notebook can pass its own.
    """

    def __init__(self, cfg: InfiniLMConfig, attention: AttentionFactory = InfiniAttention) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, attention) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.embed.weight, std=0.02)

    def gate_parameters(self) -> list[nn.Parameter]:
        return [b.attn.beta for b in self.blocks if hasattr(b.attn, "beta")]

    def gates(self) -> torch.Tensor:
        """sigmoid(beta) per layer and head, (L, H): 0 = local attention only, 1 = memory only."""
        return torch.stack([torch.sigmoid(b.attn.beta.detach()) for b in self.blocks])

    def forward_segment(
        self, tokens: torch.Tensor, states: list[MemoryState | None], repeats: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[MemoryState | None]]:
        """One segment (B, N) -> final hidden states (B, N, D) and the layers' new states."""
        x = self.embed(tokens)
        new_states = []
        for block, state in zip(self.blocks, states):
            x, state = block(x, state, repeats)
            new_states.append(state)
        return self.norm(x), new_states

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embed.weight.T  # tied head, (..., vocab)

    def forward(self, tokens: torch.Tensor, last_only: bool = False, repeats: torch.Tensor | None = None) -> torch.Tensor:
        """Stream (B, T) tokens segment by segment; logits (B, T, V), or (B, V) for the last token.

        Gradients flow through the memory across segments (full BPTT), as in training. ``repeats``
        (B, T) weights each token's memory write (training-time augmentation; see course_lib.longctx.passkey_training).
        """
        states: list[MemoryState | None] = [None] * len(self.blocks)
        outputs = []
        n = self.cfg.segment_len
        for i, seg in enumerate(tokens.split(n, dim=1)):
            seg_repeats = None if repeats is None else repeats[:, i * n : (i + 1) * n]
            hidden, states = self.forward_segment(seg, states, seg_repeats)
            outputs.append(hidden[:, -1] if last_only else hidden)
        if last_only:
            return self.logits(outputs[-1])
        return self.logits(torch.cat(outputs, dim=1))

    @torch.no_grad()
    def stream(self, tokens: torch.Tensor, on_segment: Callable[[int, list], None] | None = None) -> torch.Tensor:
        """Inference over an arbitrarily long stream holding only one segment and the states.

        Returns the logits of the last token (B, V); ``on_segment(index, states)`` is called after
        every segment (to record memory contents or state sizes).

        Three shortcuts skip work that cannot change the answer (the logits are those of reading every
        segment of every prompt, up to the float rounding that can differ between batch sizes; on the
        chapter's shipped models they are the same bit for bit): before the last segment, the last
        block only writes its memory (its feed-forward output feeds nothing); segments that are the
        same in every prompt of the batch (a shared prefix, e.g. the filler before a passkey) are read
        once and their states copied to every prompt; and when the layers carry no state at all
        (``memory="off"``), only the last segment is read, since nothing else reaches it. The last two
        apply when no ``on_segment`` watches.
        """
        segments = tokens.split(self.cfg.segment_len, dim=1)
        states: list[MemoryState | None] = [None] * len(self.blocks)
        start = 0
        if on_segment is None:
            if self._carries_nothing(segments[0]):
                start = len(segments) - 1
            else:
                start = self._shared_segments(tokens)
                for seg in segments[:start]:
                    states = self._write_memories(seg[:1], states)
                states = [None if s is None else MemoryState(s.M.expand(len(tokens), *s.M.shape[1:]).contiguous(),
                                                             s.z.expand(len(tokens), *s.z.shape[1:]).contiguous()) for s in states]
        for i in range(start, len(segments) - 1):
            states = self._write_memories(segments[i], states)
            if on_segment is not None:
                on_segment(i, states)
        hidden, states = self.forward_segment(segments[-1], states)
        if on_segment is not None:
            on_segment(len(segments) - 1, states)
        return self.logits(hidden[:, -1])

    def _shared_segments(self, tokens: torch.Tensor) -> int:
        """How many whole segments at the start are the same in every row of ``tokens`` (the last one never counts)."""
        differs = (tokens != tokens[:1]).any(dim=0).nonzero()
        first = int(differs[0]) if len(differs) else tokens.shape[1]
        return min(first // self.cfg.segment_len, (tokens.shape[1] - 1) // self.cfg.segment_len)

    def _write_memories(self, tokens: torch.Tensor, states: list[MemoryState | None]) -> list[MemoryState | None]:
        """One segment that is not the last: every layer's new state, without the last block's output."""
        x = self.embed(tokens)
        new_states = []
        for block, state in zip(self.blocks[:-1], states[:-1]):
            x, state = block(x, state)
            new_states.append(state)
        last = self.blocks[-1]
        _, state = last.attn(last.norm1(x), states[-1])
        return new_states + [state]

    def _carries_nothing(self, tokens: torch.Tensor) -> bool:
        """Whether no layer returns a state after a first segment (local attention only)."""
        return all(state is None for state in self._write_memories(tokens[:, :1], [None] * len(self.blocks)))
