"""The Q-Former and BRAVE's MEQ-Former (chapter 04; BLIP-2 2301.12597 §3.1, BRAVE 2404.07204 §3, Fig. 2).

A Q-Former turns an encoder's token sequence into a few *query* outputs: learnable queries
and the text prompt share self-attention, then the queries (only they) cross-attend to the
visual features. BRAVE's MEQ-Former does the same over the *concatenation* of K encoders'
sequences, each first mapped to a common width by its own linear projection, with a set of
learnable queries per encoder and whole encoders dropped at random during training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.attention.block import MLP
from course_lib.attention.mha import MultiHeadAttention
from course_lib.attention.sdpa import scaled_dot_product_attention


def cross_attention(
    queries: torch.Tensor,
    features: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    num_heads: int,
    key_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Multi-head cross-attention from queries to features (BLIP-2 §3.1; BRAVE eq. 1's MEQ-Former).

    .. math:: \mathrm{CA}(Q, F) = \mathrm{softmax}\left(\frac{(Q W_q^\top)(F W_k^\top)^\top}{\sqrt{d_h}}\right) (F W_v^\top)\, W_o^\top

    queries: (B, N_q, d); features: (B, N_f, d); weights in ``nn.Linear`` layout (d, d);
    key_mask: (B, N_f) boolean, False = this feature token is hidden (a dropped encoder).
    Returns (B, N_q, d): the queries ask, the features answer.
    """
    B, Nq, d = queries.shape
    Nf = features.shape[1]
    dh = d // num_heads
    q = (queries @ w_q.T).view(B, Nq, num_heads, dh).transpose(1, 2)  # (B, H, N_q, d_h)
    k = (features @ w_k.T).view(B, Nf, num_heads, dh).transpose(1, 2)  # (B, H, N_f, d_h)
    v = (features @ w_v.T).view(B, Nf, num_heads, dh).transpose(1, 2)  # (B, H, N_f, d_h)
    mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, N_f)
    out = scaled_dot_product_attention(q, k, v, mask=mask)  # (B, H, N_q, d_h)
    return out.transpose(1, 2).reshape(B, Nq, d) @ w_o.T


class CrossAttention(nn.Module):
    """Parameters of :func:`cross_attention` (chapter 04)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim, bias=False) for _ in range(4))

    def forward(self, queries: torch.Tensor, features: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        return cross_attention(queries, features, self.q.weight, self.k.weight, self.v.weight, self.o.weight, self.num_heads, key_mask)


class QFormerLayer(nn.Module):
    """One Q-Former block (chapter 04; BLIP-2 Fig. 2): self-attention over [queries; text],
    cross-attention of the queries to the visual features (when ``cross``), a feed-forward
    network; pre-norm residuals throughout."""

    def __init__(self, dim: int, num_heads: int, cross: bool = True, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, num_heads, causal=False)
        self.norm_cross = nn.LayerNorm(dim) if cross else None
        self.cross_attn = CrossAttention(dim, num_heads) if cross else None
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = MLP(dim, int(dim * mlp_ratio))


def qformer_layer(layer: QFormerLayer, queries: torch.Tensor, text: torch.Tensor, features: torch.Tensor,
                  text_mask: torch.Tensor | None = None, key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one :class:`QFormerLayer` (chapter 04; BLIP-2 §3.1, BRAVE Fig. 2).

    queries: (B, N_q, d), text: (B, N_t, d), features: (B, N_f, d); text_mask (B, N_t) and
    key_mask (B, N_f) are boolean, True = real token. Returns the new (queries, text).
    """
    nq = queries.shape[1]
    x = torch.cat((queries, text), dim=1)  # (B, N_q + N_t, d)
    self_mask = None
    if text_mask is not None:
        keep = torch.cat((text_mask.new_ones(text_mask.shape[0], nq), text_mask), dim=1)  # (B, N_q + N_t)
        self_mask = keep[:, None, None, :]
    x = x + layer.self_attn(layer.norm_self(x), self_mask)
    q, t = x[:, :nq], x[:, nq:]
    if layer.cross_attn is not None:
        q = q + layer.cross_attn(layer.norm_cross(q), features, key_mask)  # only the queries see the image
    x = torch.cat((q, t), dim=1)
    x = x + layer.ffn(layer.norm_ffn(x))
    return x[:, :nq], x[:, nq:]


def concat_encoder_features(features: list[torch.Tensor], projections: list[nn.Module]) -> torch.Tensor:
    """BRAVE's multi-encoder input (2404.07204 §3): project each encoder's tokens with its own
    linear map to the common width, then concatenate along the *sequence*.

    features[k]: (B, N_k, D_k) -> (B, N_1 + ... + N_K, d).
    """
    if len(features) != len(projections):
        raise ValueError(f"{len(features)} feature sequences but {len(projections)} projections: one projection per encoder")
    return torch.cat([proj(f) for proj, f in zip(projections, features)], dim=1)


def encoder_keep_mask(batch_size: int, token_counts: list[int], p: float, training: bool,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """BRAVE's encoder dropout (2404.07204 §3: 'we randomly drop the features of an encoder with
    probability 0.2'), as a key mask for the cross-attention.

    Each sample drops each *whole* encoder with probability ``p`` (all of its tokens at once),
    independently of the other samples; a sample never loses every encoder (it then keeps all).
    At inference (``training=False``) nothing is dropped. Returns (B, sum(token_counts)) bool,
    True = the token is seen.
    """
    K = len(token_counts)
    if not training or p == 0:
        return torch.ones(batch_size, sum(token_counts), dtype=torch.bool)
    keep = torch.rand(batch_size, K, generator=generator) >= p  # (B, K)
    keep[~keep.any(dim=1)] = True  # a sample with every encoder dropped keeps them all
    return keep.repeat_interleave(torch.tensor(token_counts), dim=1)  # (B, N_total)


@dataclass(frozen=True)
class BridgeConfig:
    """Sizes of a (MEQ-)Former bridge: width, depth, heads, queries per encoder, text length."""

    dim: int = 64
    depth: int = 2
    num_heads: int = 4
    queries_per_encoder: int = 8
    cross_attention_every: int = 1
    max_text_len: int = 16
    encoder_dropout: float = 0.2


class MEQFormer(nn.Module):
    """BRAVE's multi-encoder querying transformer (2404.07204 §3, Fig. 2); with one encoder it is
    a BLIP-2 Q-Former (chapter 04).

    ``encoder_dims[k]`` is the token width of encoder k. Each encoder gets its own projection
    (LayerNorm + Linear to ``dim``) and ``queries_per_encoder`` learnable queries; all queries
    attend to the concatenation of every encoder's tokens.
    """

    def __init__(self, encoder_dims: list[int], vocab_size: int, cfg: BridgeConfig = BridgeConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.projections = nn.ModuleList(nn.Sequential(nn.LayerNorm(d), nn.Linear(d, cfg.dim)) for d in encoder_dims)
        self.queries = nn.Parameter(0.02 * torch.randn(1, cfg.queries_per_encoder * len(encoder_dims), cfg.dim))
        self.text_embed = nn.Embedding(vocab_size, cfg.dim)
        self.text_pos = nn.Parameter(0.02 * torch.randn(1, cfg.max_text_len, cfg.dim))
        self.layers = nn.ModuleList(
            QFormerLayer(cfg.dim, cfg.num_heads, cross=(i % cfg.cross_attention_every == 0)) for i in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.encoder_dropout = cfg.encoder_dropout  # BRAVE drops encoders while pre-training (captioning)

    @property
    def num_queries(self) -> int:
        return self.queries.shape[1]

    def forward(self, features: list[torch.Tensor], text_ids: torch.Tensor, text_mask: torch.Tensor,
                keep_encoders: list[bool] | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Query outputs (B, N_q, dim) for encoder features (B, N_k, D_k) and a question (B, N_t).

        ``keep_encoders`` removes encoders at inference (False = its tokens are hidden); during
        training whole encoders are dropped at random with probability ``self.encoder_dropout``
        (``cfg.encoder_dropout`` while captioning, 0 in VQA fine-tuning: see ``train_bridge``).
        """
        if len(features) != len(self.projections):
            raise ValueError(f"MEQFormer built for {len(self.projections)} encoders got {len(features)} feature sequences")
        B = text_ids.shape[0]
        counts = [f.shape[1] for f in features]
        visual = concat_encoder_features(features, list(self.projections))  # (B, N_total, dim)
        key_mask = encoder_keep_mask(B, counts, self.encoder_dropout, self.training, generator)
        if keep_encoders is not None:
            removed = torch.cat([torch.full((n,), bool(k)) for n, k in zip(counts, keep_encoders)])
            if not removed.any():
                raise ValueError("keep_encoders removes every encoder: keep at least one")
            key_mask = key_mask & removed
        q = self.queries.expand(B, -1, -1)
        t = self.text_embed(text_ids) + self.text_pos[:, : text_ids.shape[1]]
        for layer in self.layers:
            q, t = qformer_layer(layer, q, t, visual, text_mask, key_mask)
        return self.norm(q)


class QFormerEnsemble(nn.Module):
    """The paper's baseline (BRAVE Table 3, 605M): one Q-Former per encoder, outputs concatenated (chapter 04)."""

    def __init__(self, encoder_dims: list[int], vocab_size: int, cfg: BridgeConfig = BridgeConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.members = nn.ModuleList(MEQFormer([d], vocab_size, cfg) for d in encoder_dims)

    @property
    def num_queries(self) -> int:
        return sum(m.num_queries for m in self.members)

    def forward(self, features: list[torch.Tensor], text_ids: torch.Tensor, text_mask: torch.Tensor,
                keep_encoders: list[bool] | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = keep_encoders or [True] * len(features)
        outs = [m([f], text_ids, text_mask) for m, f, k in zip(self.members, features, keep) if k]
        return torch.cat(outs, dim=1)  # (B, sum of the kept members' queries, dim)


def build_lm_inputs(query_outputs: torch.Tensor, to_lm: nn.Module, text_embeds: torch.Tensor) -> torch.Tensor:
    """The soft prompt (BRAVE §3, BLIP-2 §3.3): query outputs mapped by a linear layer into the
    LM's input-embedding space, *followed* by the embedded text.

    query_outputs: (B, N_q, d), text_embeds: (B, N_t, d_lm) -> (B, N_q + N_t, d_lm).
    """
    return torch.cat((to_lm(query_outputs), text_embeds), dim=1)


def count_trainable(module: nn.Module) -> int:
    """Number of parameters with ``requires_grad`` (chapter 04)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
