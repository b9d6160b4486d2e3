"""A vision-language model: frozen encoders' features -> bridge -> soft prompt -> frozen LM (chapter 04).

BRAVE (2404.07204 §3) trains only the bridge (and the linear map into the LM); the encoders
and the LM stay frozen. The encoders are run once over a data set (:func:`encode_images`),
since frozen features never change; the bridge is then trained by captioning and VQA.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.lm.decoder import TinyDecoder, greedy_generate
from course_lib.vlm.data import IGNORE, caption_tokens, vqa_tokens
from course_lib.vlm.qformer import build_lm_inputs
from course_lib.vlm.world import EOS, decode


class VisionLanguageModel(nn.Module):
    """A bridge (:class:`MEQFormer` or :class:`QFormerEnsemble`) between frozen encoders and a frozen LM (chapter 04)."""

    def __init__(self, bridge: nn.Module, lm: TinyDecoder, encoder_names: list[str]) -> None:
        super().__init__()
        self.bridge = bridge
        self.to_lm = nn.Linear(bridge.cfg.dim, lm.cfg.dim)  # the soft prompt's projection into the LM input space
        self.lm = lm
        self.encoder_names = list(encoder_names)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in list(self.bridge.parameters()) + list(self.to_lm.parameters()) if p.requires_grad]

    def lm_inputs(self, features: list[torch.Tensor], q_ids: torch.Tensor, q_mask: torch.Tensor, text: torch.Tensor,
                  keep_encoders: list[bool] | None = None) -> torch.Tensor:
        """[soft prompt; embedded text], (B, N_q + N_t, d_lm)."""
        query_outputs = self.bridge(features, q_ids, q_mask, keep_encoders)  # (B, N_q, d)
        return build_lm_inputs(query_outputs, self.to_lm, self.lm.embed(text))

    def loss(self, features: list[torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the LM on the text's labelled positions (the caption, or the answer)."""
        embeds = self.lm_inputs(features, batch["q_ids"], batch["q_mask"], batch["text"])
        logits = self.lm(inputs_embeds=embeds)[:, -batch["text"].shape[1]:]  # the text part, (B, N_t, vocab)
        return F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)

    @torch.no_grad()
    def answer(self, features: list[torch.Tensor], questions: list[str], keep_encoders: list[bool] | None = None,
               max_new_tokens: int = 3) -> list[str]:
        """Greedy answers to ``questions`` about the images whose features are given."""
        batch = vqa_tokens(questions)
        embeds = self.lm_inputs(features, batch["q_ids"], batch["q_mask"], batch["text"], keep_encoders)
        prompt_len = embeds.shape[1] - batch["text"].shape[1]
        ids = greedy_generate(self.lm, embeds, prompt_len + batch["last"], max_new_tokens, EOS)
        return [decode(i) for i in ids]


@torch.no_grad()
def encode_images(encoders: dict[str, nn.Module], images: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Every frozen encoder's token sequence for every image: name -> (N, N_k, D_k)."""
    out = {}
    for name, enc in encoders.items():
        out[name] = torch.cat([enc.tokens(images[i: i + batch_size]) for i in range(0, len(images), batch_size)])
    return out


@dataclass
class TrainData:
    """Pre-computed features of the training images, their captions, and the VQA questions,
    tokenised once (``caption_batch``, ``vqa_batch``: the tensors of :func:`caption_tokens`
    and :func:`vqa_tokens` for every caption and question)."""

    features: dict[str, torch.Tensor]
    captions: list[str]
    image_index: torch.Tensor
    questions: list[str]
    answers: list[str]

    def __post_init__(self) -> None:
        self.caption_batch = caption_tokens(self.captions)
        self.vqa_batch = vqa_tokens(self.questions, self.answers)


def _select(features: dict[str, torch.Tensor], names: list[str], idx: torch.Tensor) -> list[torch.Tensor]:
    return [features[n][idx] for n in names]


def train_bridge(model: VisionLanguageModel, data: TrainData, caption_steps: int, vqa_steps: int, batch_size: int = 64,
                 lr: float = 2e-3, seed: int = 0, progress: bool = True, desc: str = "bridge",
                 dropout_in_vqa: bool = False) -> list[float]:
    """BRAVE's two stages with the encoders and the LM frozen: captioning, then VQA fine-tuning.

    Encoder dropout acts in the captioning stage, as in the paper's pre-training (§3), and, with
    ``dropout_in_vqa``, in VQA fine-tuning too (the paper does not say whether its fine-tuning drops
    encoders). The default, captioning only, is the chapter's recipe: chosen on the validation split by
    ``python -m course_lib.vlm.recipe_choice``. Returns the training losses. Only
    ``model.trainable_parameters()`` are optimised.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    params = model.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    total = caption_steps + vqa_steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.1)
    model.bridge.train()
    losses = []
    n_images, n_questions = len(data.captions), len(data.questions)
    bridges = [m for m in model.bridge.modules() if hasattr(m, "encoder_dropout")]
    for step in tqdm(range(total), desc=desc, disable=not progress, leave=False):
        for bridge in bridges:
            bridge.encoder_dropout = bridge.cfg.encoder_dropout if step < caption_steps or dropout_in_vqa else 0.0
        if step < caption_steps:
            idx = torch.randint(n_images, (batch_size,), generator=g)
            batch = {k: v[idx] for k, v in data.caption_batch.items()}
        else:
            qi = torch.randint(n_questions, (batch_size,), generator=g)
            idx = data.image_index[qi]
            batch = {k: v[qi] for k, v in data.vqa_batch.items()}
        loss = model.loss(_select(data.features, model.encoder_names, idx), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.bridge.eval()
    return losses


@torch.no_grad()
def vqa_accuracy(model: VisionLanguageModel, features: dict[str, torch.Tensor], image_index: list[int], kinds: list[str],
                 questions: list[str], answers: list[str], keep_encoders: list[bool] | None = None,
                 batch_size: int = 500) -> dict[str, float]:
    """Exact-match accuracy of greedy answers, per question type and over all."""
    model.eval()
    right: dict[str, list[bool]] = defaultdict(list)
    idx = torch.tensor(image_index)
    for start in range(0, len(questions), batch_size):
        sl = slice(start, start + batch_size)
        got = model.answer(_select(features, model.encoder_names, idx[sl]), questions[sl], keep_encoders)
        for kind, g, a in zip(kinds[sl], got, answers[sl]):
            right[kind].append(g == a)
            right["all"].append(g == a)
    return {k: sum(v) / len(v) for k, v in right.items()}


def pair_accuracy(correct: torch.Tensor) -> float:
    """MMVP's score (Tong et al. 2024, §3; BRAVE Table 2): a pair counts only if *both* of its
    questions are answered right. correct: (2P,) bool, pair p = rows 2p and 2p + 1."""
    if correct.ndim != 1 or correct.numel() % 2:
        raise ValueError(f"pair_accuracy expects a flat, even-length vector of per-image results, got shape {tuple(correct.shape)}")
    return correct.view(-1, 2).all(dim=1).float().mean().item()


@torch.no_grad()
def pair_results(model: VisionLanguageModel, features: dict[str, torch.Tensor], questions: list[str], answers: list[str],
                 keep_encoders: list[bool] | None = None) -> torch.Tensor:
    """Per-image correctness on MMVP-style pairs, (2P,) bool; each pair's question is asked of both images."""
    model.eval()
    asked = [q for q in questions for _ in range(2)]
    got = model.answer(_select(features, model.encoder_names, torch.arange(len(asked))), asked, keep_encoders)
    return torch.tensor([g == a for g, a in zip(got, answers)])
