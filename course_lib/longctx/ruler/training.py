"""Training chapter 01's tiny language models on RULER tasks (chapter 02).

The course models (:class:`course_lib.attention.TinyInfiniLM`) learn RULER tasks from scratch at
reduced scale: prompts of the training lengths (one length per batch), the recipe's tasks equally
often, cross-entropy on the answer tokens only (teacher forcing), the answer written the way the
one-shot examples write it and closed by ``<eos>``. The trained models are shipped assets
(``ch02_ruler_*``), rebuilt by ``python -m course_lib.assets build NAME``; the notebook shows a few
steps of this loop and then loads them.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from safetensors.torch import load_file
from tqdm.auto import tqdm

from course_lib import assets
from course_lib.attention.tiny_lm import InfiniLMConfig, TinyInfiniLM
from course_lib.config import chapter_values
from course_lib.longctx.optim import clipped_step
from course_lib.longctx.ruler import tasks as ruler_tasks
from course_lib.longctx.ruler.evaluate import evaluate, make_samples
from course_lib.longctx.ruler.models import GreedyLM
from course_lib.longctx.ruler.tasks import Sample, generate_sample
from course_lib.longctx.ruler.templates import TASK_NAMES, TASKS
from course_lib.longctx.ruler.text import WordTokenizer, course_tokenizer


def answer_text(sample: Sample) -> str:
    """The target continuation of a sample, formatted as the task's one-shot examples answer."""
    family = TASKS[sample.task].family
    if family == "niah":
        return " " + ", ".join(sample.outputs) + "."
    if family == "common_words_extraction":
        return " " + ruler_tasks.numbered(sample.outputs)
    return " " + " ".join(sample.outputs)


@dataclass
class RulerRecipe:
    """How a tiny RULER model is trained (reduced scale)."""

    memory: str = "delta"
    segment_len: int = 128
    train_lengths: tuple[int, ...] = (512, 1024)
    steps: int = 400
    batch_size: int = 16
    lr: float = 5e-3
    weight_decay: float = 0.01
    seed: int = 0
    model: dict = field(default_factory=lambda: dict(d_model=64, num_heads=2, num_layers=2, d_ff=256))
    tokens_to_generate: dict = field(default_factory=dict)
    vt_example_length: int = 160
    tasks: tuple[str, ...] = TASK_NAMES  # the tasks trained on, equally often
    short_steps: int = 0  # a curriculum: the first steps train at the shortest training length only
    init_from: str | None = None  # a shipped RULER model whose weights start the training (same config)

    @property
    def claimed_length(self) -> int:
        """The longest training length: what the model 'claims' to handle."""
        return max(self.train_lengths)


class RulerLM(TinyInfiniLM):
    """Chapter 01's TinyInfiniLM plus a learned embedding of each token's position inside its
    segment (chapter 02). The chapter 01 model has no position signal at all, which suffices to
    fetch one passkey token but not to copy a 7-digit number or a UUID token after token: copying
    needs to know which token came right after the one just written."""

    def __init__(self, cfg: InfiniLMConfig) -> None:
        super().__init__(cfg)
        self.position = nn.Embedding(cfg.segment_len, cfg.d_model)
        nn.init.normal_(self.position.weight, std=0.02)

    def forward_segment(self, tokens: torch.Tensor, states: list, repeats: torch.Tensor | None = None) -> tuple[torch.Tensor, list]:
        """One segment (B, N) -> final hidden states (B, N, D); positions count from the segment's start."""
        x = self.embed(tokens) + self.position(torch.arange(tokens.shape[1], device=tokens.device))  # (B, N, D)
        new_states = []
        for block, state in zip(self.blocks, states):
            x, state = block(x, state, repeats)
            new_states.append(state)
        return self.norm(x), new_states


def build_model(recipe: RulerRecipe, tokenizer: WordTokenizer) -> RulerLM:
    cfg = InfiniLMConfig(vocab_size=tokenizer.vocab_size, memory=recipe.memory, segment_len=recipe.segment_len, **recipe.model)
    return RulerLM(cfg)


class TrainingSamples:
    """Fresh training samples of every task, fast: the haystack size of each (task, length) is
    found once by the length-controlled generator, then each sample renders its own plan at that size."""

    def __init__(self, tokenizer: WordTokenizer, recipe: RulerRecipe) -> None:
        self.tokenizer, self.recipe = tokenizer, recipe
        self.sizes = {}
        for task in recipe.tasks:
            for n in recipe.train_lengths:
                s = generate_sample(task, n, tokenizer, 0, recipe.seed + 10_000,
                                    tokens_to_generate=recipe.tokens_to_generate, vt_example_length=recipe.vt_example_length)
                self.sizes[(task, n)] = s.haystack_size

    def draw(self, rng: random.Random, length: int) -> tuple[list[int], list[int]]:
        """(prompt ids, answer ids + eos) of a random task at ``length`` tokens (one of the training lengths)."""
        task, n = rng.choice(self.recipe.tasks), length
        budget = self.recipe.tokens_to_generate[TASKS[task].family]
        plan_fn, render = ruler_tasks._planner(task, n, budget)
        plan = plan_fn(rng)
        example = ""
        if TASKS[task].family == "variable_tracking":
            example = ruler_tasks.vt_example(rng, self.tokenizer, self.recipe.vt_example_length, TASKS[task].args) + "\n"
        user, prefix, outputs = render(plan, self.sizes[(task, n)])
        sample = Sample(task, n, 0, example + user, prefix, outputs, budget, 0, 0)
        answer = self.tokenizer.encode(answer_text(sample))[:budget - 1] + [self.tokenizer.eos_id]
        return self.tokenizer.encode(sample.prompt), answer


def answer_loss(model: TinyInfiniLM, batch: list[tuple[list[int], list[int]]], pad_id: int) -> torch.Tensor:
    """Cross-entropy of the answer tokens given the prompt and the answer so far (teacher forcing)."""
    seqs = [p + a for p, a in batch]
    width = max(len(s) for s in seqs)
    tokens = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for row, s in enumerate(seqs):
        tokens[row, : len(s)] = torch.tensor(s)
    states = [None] * len(model.blocks)
    hidden = []
    for segment in tokens.split(model.cfg.segment_len, dim=1):
        h, states = model.forward_segment(segment, states)
        hidden.append(h)
    hidden = torch.cat(hidden, dim=1)  # (B, T, D)
    rows = torch.cat([torch.full((len(a),), r) for r, (p, a) in enumerate(batch)])
    positions = torch.cat([torch.arange(len(p) - 1, len(p) + len(a) - 1) for p, a in batch])  # predict answer token t from t-1
    targets = torch.cat([torch.tensor(a) for _, a in batch])
    return F.cross_entropy(model.logits(hidden[rows, positions]), targets)


def train_ruler(model: TinyInfiniLM, tokenizer: WordTokenizer, recipe: RulerRecipe, steps: int | None = None,
                progress: bool = True, data: TrainingSamples | None = None) -> list[float]:
    """AdamW with one-cycle schedule on the recipe's tasks; returns each step's loss.

    Each step draws one training length for its whole batch (no padding to the longest prompt); the
    first ``recipe.short_steps`` steps all use the shortest one."""
    steps = steps or recipe.steps
    rng = random.Random(recipe.seed)
    torch.manual_seed(recipe.seed)
    data = data or TrainingSamples(tokenizer, recipe)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=steps, pct_start=0.1)
    losses = []
    model.train()
    for step in tqdm(range(steps), desc=f"train {recipe.memory}/{recipe.segment_len}", disable=not progress):
        length = min(recipe.train_lengths) if step < recipe.short_steps else rng.choice(recipe.train_lengths)
        loss = answer_loss(model, [data.draw(rng, length) for _ in range(recipe.batch_size)], tokenizer.pad_id)
        losses.append(clipped_step(model, opt, sched, loss))
    model.eval()
    return losses


def reduced_settings() -> dict:
    """Chapter 02's reduced-scale settings (``course_lib.config``)."""
    return chapter_values("02", "reduced")


def recipe_for(name: str) -> RulerRecipe:
    """The recipe of a shipped RULER model (``RULER_ASSETS``), with the reduced-scale budgets."""
    values = reduced_settings()
    steps = values["mix_train_steps"] if name == "ch02_ruler_mix" else values["train_steps"]
    return replace(RULER_ASSETS[name], tokens_to_generate=values["tokens_to_generate"],
                   vt_example_length=values["vt_example_length"], steps=steps)


# The shipped models of chapter 02 (data/MANIFEST.json). All three have the same size and the same training: vanilla
# needle-in-a-haystack (niah_single_1 and _2), first 500 steps at 128 tokens, then at every 16th length from 128 to
# 256 tokens (one length per batch), so their claimed length is 256. Without the short start, 1,000 steps over all
# lengths did not learn retrieval (full attention ended at loss 0.62 and found 20% of the needles at 128 tokens). They differ only in what the attention sees: the whole prompt (full256), the current
# 64-token segment (local64, a sliding window with memory off), or the current segment plus chapter 01's compressive
# memory of the earlier ones (infini64, Linear + Delta).
_RETRIEVAL = dict(train_lengths=tuple(range(128, 257, 16)), short_steps=500, lr=3e-3, tasks=("niah_single_1", "niah_single_2"),
                  model=dict(d_model=128, num_heads=4, num_layers=2, d_ff=256))
# The task-mix model (route 4(b) of the chapter): the same full-attention model as full256, trained on the five RULER
# tasks whose prompt and answer budget fit in its shortest training length (128 tokens), equally often, and evenly over
# 128, 144, ..., 256 tokens from its first step (no short start), so that no length of the mix gets more training than
# another. It starts from full256's weights, as a long-context model starts from a pretrained one: from random weights
# (lr 3e-3), 4,000 steps evenly on this mix ended at training loss 2.13 with every needle's digits at chance (a mean
# score of 2.0 at 128 tokens), and 700 steps evenly on the three NIAH tasks alone learned nothing either: without a
# short start, the copying circuit did not form within this budget.
MIX_TASKS = ("niah_single_1", "niah_single_2", "niah_multikey_2", "fwe", "qa_1")
RULER_ASSETS = {
    "ch02_ruler_full256": RulerRecipe(memory="off", segment_len=256, **_RETRIEVAL),
    "ch02_ruler_mix": RulerRecipe(memory="off", segment_len=256, train_lengths=tuple(range(128, 257, 16)), lr=4e-3,
                                  tasks=MIX_TASKS, model=_RETRIEVAL["model"], init_from="ch02_ruler_full256"),
    "ch02_ruler_infini64": RulerRecipe(memory="delta", segment_len=64, **_RETRIEVAL),
    "ch02_ruler_local64": RulerRecipe(memory="off", segment_len=64, **_RETRIEVAL),
}
# The grid each build scores its model on (recorded in the MANIFEST): the two trained tasks and one with distractors;
# the task-mix model on its five tasks at every 32nd length of its training range. Their seeds (8 and 2) draw samples that
# no other part of chapter 02 uses: the notebook's test (seeds 1 and 4) and validation (seed 6) samples are scored in the run.
NIAH_EVAL = dict(tasks=("niah_single_1", "niah_single_2", "niah_multikey_2"), lengths=(128, 192, 256), num_samples=10, seed=8)
MIX_EVAL = dict(tasks=MIX_TASKS, lengths=(128, 160, 192, 224, 256), num_samples=10, seed=2, means=True)


def save_model(model: TinyInfiniLM, path: Path, recipe: RulerRecipe) -> None:
    """The weights in float16 (half the shipped size; they are read back into float32), with the
    model's config and its recipe in the file's header."""
    state = {k: v.to(torch.float16) for k, v in model.state_dict().items()}
    assets.save_safetensors(state, path, {"config": model.cfg.to_dict(), "recipe": asdict(recipe)})


def load_model(name: str) -> tuple[TinyInfiniLM, RulerRecipe]:
    """A shipped RULER model (verified against the manifest) and its recipe."""
    file = assets.path(name)
    meta = assets.read_metadata(file)
    recipe_dict = meta["recipe"]
    recipe_dict["train_lengths"] = tuple(recipe_dict["train_lengths"])
    recipe_dict["tasks"] = tuple(recipe_dict.get("tasks", TASK_NAMES))
    model = RulerLM(InfiniLMConfig(**meta["config"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(file)).items()})
    return model.eval(), RulerRecipe(**recipe_dict)


def build_asset(out_path: Path, *, seed: int, quick: bool = False, variant: str) -> dict:
    """Asset builder of ``ch02_ruler_<variant>`` (see course_lib.assets.Recipe): train its recipe in
    ``RULER_ASSETS`` and save it (``course_lib.assets.build`` runs it on one thread)."""
    name = f"ch02_ruler_{variant}"
    if name not in RULER_ASSETS:
        raise ValueError(f"no RULER model {name!r}; RULER_ASSETS has {', '.join(RULER_ASSETS)}")
    recipe = replace(recipe_for(name), seed=seed)
    if quick:
        recipe = replace(recipe, steps=15, batch_size=4, train_lengths=(512,), lr=1e-2)
    tokenizer = course_tokenizer()
    torch.manual_seed(seed)
    model = build_model(recipe, tokenizer)
    if recipe.init_from:
        model.load_state_dict(load_model(recipe.init_from)[0].state_dict())
    start = time.perf_counter()
    losses = train_ruler(model, tokenizer, recipe, progress=not quick)
    metrics = {**assets.loss_metrics(losses), "train_seconds": round(time.perf_counter() - start, 1),
               "claimed_length": recipe.claimed_length}
    if not quick:
        metrics.update(grid_scores(model, tokenizer, MIX_EVAL if name == "ch02_ruler_mix" else NIAH_EVAL))
    save_model(model, out_path, recipe)
    return metrics


def grid_scores(model: TinyInfiniLM, tokenizer: WordTokenizer, grid: dict = NIAH_EVAL) -> dict:
    """Scores (0-100) of a trained model on an evaluation grid (``NIAH_EVAL``, ``MIX_EVAL``) with the chapter's
    evaluate(): ``task@length`` for every cell and, when the grid asks for ``means``, ``mean@length``, the length's
    RULER score (the mean over the tasks)."""
    values = reduced_settings()
    samples = make_samples(tokenizer, grid["lengths"], grid["num_samples"], tasks=grid["tasks"], seed=grid["seed"],
                           tokens_to_generate=values["tokens_to_generate"], vt_example_length=values["vt_example_length"])
    result = evaluate(GreedyLM(model, tokenizer), samples, "grid", progress=False)  # on assets.build's one thread
    scores = {f"{task}@{n}": score for task, row in result.table.items() for n, score in row.items()}
    if grid.get("means"):
        scores.update({f"mean@{n}": round(score, 2) for n, score in result.by_length().items()})
    return scores
