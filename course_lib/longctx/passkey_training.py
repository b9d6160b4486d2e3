r"""Training and evaluating the tiny Infini-attention LM on passkey retrieval (chapter 01).

It lives beside the task it trains on (:mod:`course_lib.longctx.passkey`), as chapter 02's
RULER training does: ``longctx`` imports the models of ``attention``, never the other way round.

The recipe (reduced scale): prompts of ``train_len`` tokens, passkey at a uniform random
depth, cross-entropy on the answer token, gradients through the memory across all
segments (full BPTT), AdamW with the gate logits beta on a 10x learning rate and no weight
decay (re-implementations found beta barely moves at the base learning rate).

Filler repeats (``filler_repeats_max > 1``): the memory sees a token only through the sums
:math:`\sum_t \sigma(K_t)` (in z) and :math:`\sum_t \sigma(K_t)^\top V_t` (in M). A 32K-token
prompt differs from a 256-token one mostly in how much filler those sums hold, and a model
trained at 256 tokens learns keys that stand out against 256 tokens of filler, not 32K: its
read fades as z grows. So during training every filler token of a prompt is written as if
it came r times in a row, with r drawn log-uniformly in [1, R] per prompt, R growing
from 1 to ``filler_repeats_max`` over the first ``filler_repeats_ramp`` of the steps (a model
that starts from scratch cannot find a key drowned 256 times). For the linear rule this is
exactly what r copies of a token add to M and z. For the delta rule it is a heuristic: z
gets r times the token, M gets it once (r real copies would make the delta rule write the
shortfall left by the growing z again, about half a copy each time). The gradient still
flows through ``train_len`` tokens only.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course_lib.assets import loss_metrics, save_safetensors
from course_lib.attention.tiny_lm import SIZE_KEYS, InfiniLMConfig, TinyInfiniLM
from course_lib.config import chapter_values
from course_lib.longctx.optim import clipped_step
from course_lib.longctx.passkey import POSITIONS, PasskeyBatch, PasskeyTask


_REDUCED = chapter_values("01", "reduced")  # the numbers live in course_lib.config


@dataclass
class PasskeyRecipe:
    memory: str = "delta"
    train_len: int = _REDUCED["train_len"]
    steps: int = _REDUCED["train_steps"]
    batch_size: int = _REDUCED["batch_size"]
    lr: float = _REDUCED["lr"]
    gate_lr_multiplier: float = _REDUCED["gate_lr_multiplier"]
    weight_decay: float = 0.01
    filler_repeats_max: float = 1.0  # 1 = plain recipe; chapter 01's shipped models use the config's bound
    filler_repeats_ramp: float = 0.5  # fraction of the steps over which log(max repeats) ramps up from 0
    num_passkeys: int = 100
    seed: int = 0
    model: dict = field(default_factory=lambda: {key: _REDUCED[key] for key in SIZE_KEYS})

    @classmethod
    def full_scale(cls, memory: str = "delta") -> "PasskeyRecipe":
        """The paper's passkey fine-tune (§4.2): a 1B model, 5K-token prompts, 400 steps."""
        one_b = InfiniLMConfig.paper_1b(memory)
        full = chapter_values("01", "full")
        return cls(
            memory=memory, train_len=5 * 1024, steps=full["train_steps"], batch_size=full["batch_size"], lr=full["lr"],
            filler_repeats_max=full["filler_repeats_max"], model={key: getattr(one_b, key) for key in SIZE_KEYS},
        )


def make_optimizer(model: TinyInfiniLM, lr: float, gate_lr_multiplier: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; the gates get ``gate_lr_multiplier`` x lr and no weight decay, as do norms and biases."""
    gates = {id(p) for p in model.gate_parameters()}
    decay = [p for p in model.parameters() if p.ndim >= 2 and id(p) not in gates]
    no_decay = [p for p in model.parameters() if p.ndim < 2 and id(p) not in gates]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
            {"params": model.gate_parameters(), "weight_decay": 0.0, "lr": lr * gate_lr_multiplier},
        ],
        lr=lr,
    )


def build_model(recipe: PasskeyRecipe, task: PasskeyTask) -> TinyInfiniLM:
    return TinyInfiniLM(InfiniLMConfig(vocab_size=task.vocab_size, memory=recipe.memory, **recipe.model))


def filler_repeats(task: PasskeyTask, batch: PasskeyBatch, repeats_max: float, generator: torch.Generator) -> torch.Tensor:
    """(B, T) write weights: r (log-uniform in [1, repeats_max], one per prompt) on the filler, 1 on
    the intro, the key sentence and the question (they occur once in a prompt of any length)."""
    B, T = batch.tokens.shape
    r = torch.exp(torch.rand(B, generator=generator) * math.log(repeats_max))
    weights = r[:, None].expand(B, T).clone()
    pos = torch.arange(T)[None, :]
    in_key = (pos >= batch.key_start[:, None]) & (pos < batch.key_start[:, None] + task.key_len)
    weights[in_key] = 1.0
    weights[:, : task.intro_len] = 1.0
    weights[:, T - task.question_len :] = 1.0
    return weights


def train_passkey(
    model: TinyInfiniLM, task: PasskeyTask, recipe: PasskeyRecipe, progress: bool = True
) -> list[float]:
    """Train on passkey prompts; returns the loss of every step."""
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    opt = make_optimizer(model, recipe.lr, recipe.gate_lr_multiplier, recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=recipe.steps, pct_start=0.1
    )
    losses = []
    device = next(model.parameters()).device
    model.train()
    for step in tqdm(range(recipe.steps), disable=not progress, desc=f"train {recipe.memory}"):
        batch = task.batch(recipe.batch_size, recipe.train_len, generator=gen)
        repeats = None
        if recipe.filler_repeats_max > 1:
            ramp = min(1.0, (step + 1) / max(1, recipe.filler_repeats_ramp * recipe.steps))
            repeats = filler_repeats(task, batch, recipe.filler_repeats_max**ramp, gen).to(device)
        logits = model(batch.tokens.to(device), last_only=True, repeats=repeats)
        loss = F.cross_entropy(logits, batch.answers.to(device))
        losses.append(clipped_step(model, opt, sched, loss))
    model.eval()
    return losses


@torch.no_grad()
def passkey_accuracy(model: TinyInfiniLM, task: PasskeyTask, length: int, depth: float, samples: int, seed: int = 1) -> float:
    """Greedy answer (argmax over the whole vocabulary) == passkey, streamed segment by segment."""
    gen = torch.Generator().manual_seed(seed)
    batch = task.batch(samples, length, depth=depth, generator=gen)
    pred = model.stream(batch.tokens.to(next(model.parameters()).device)).argmax(-1).cpu()
    return (pred == batch.answers).float().mean().item()


def evaluate_passkey(
    model: TinyInfiniLM,
    task: PasskeyTask,
    lengths: list[int],
    samples: int,
    positions: dict[str, float] = POSITIONS,
    progress: bool = True,
) -> dict[tuple[int, str], float]:
    """Accuracy for every (length, position)."""
    results = {}
    grid = [(n, p) for n in lengths for p in positions]
    for n, p in tqdm(grid, disable=not progress, desc="passkey eval"):
        results[(n, p)] = passkey_accuracy(model, task, n, positions[p], samples)
    return results


def save_model(model: TinyInfiniLM, path: Path, metadata: dict) -> None:
    """The weights, with the model's config and ``metadata`` (JSON values) in the file's header."""
    save_safetensors(model.state_dict(), path, {"config": model.cfg.to_dict(), **metadata})


# The shipped models of chapter 01 (data/MANIFEST.json), each rebuilt by
# `python -m course_lib.assets build NAME`.
PASSKEY_ASSETS = {
    "ch01_passkey_delta": PasskeyRecipe(memory="delta", filler_repeats_max=_REDUCED["filler_repeats_max"]),
    "ch01_passkey_linear": PasskeyRecipe(memory="linear", filler_repeats_max=_REDUCED["filler_repeats_max"]),
    # Without memory the model learns only from the ~1 in 8 prompts whose key lands in the last
    # segment, so the baseline gets 2.5x the steps to be a fair one.
    "ch01_passkey_off": PasskeyRecipe(memory="off", steps=1500),
    "ch01_passkey_delta_plain": PasskeyRecipe(memory="delta"),
}


def build_asset(out_path: Path, *, seed: int, quick: bool = False, variant: str) -> dict:
    """Asset builder of ``ch01_passkey_<variant>`` (see course_lib.assets.Recipe): train its recipe
    in ``PASSKEY_ASSETS`` and save the model; returns its metrics."""
    name = f"ch01_passkey_{variant}"
    if name not in PASSKEY_ASSETS:
        raise ValueError(f"no passkey model {name!r}; PASSKEY_ASSETS has {', '.join(PASSKEY_ASSETS)}")
    recipe = replace(PASSKEY_ASSETS[name], seed=seed)
    if quick:
        recipe = replace(recipe, steps=60, batch_size=32, train_len=64, lr=1e-2)
    task = PasskeyTask(recipe.num_passkeys)
    torch.manual_seed(seed)
    model = build_model(recipe, task)
    start = time.perf_counter()
    losses = train_passkey(model, task, recipe, progress=not quick)
    metrics = {**loss_metrics(losses), "train_seconds": round(time.perf_counter() - start, 1)}
    if not quick:
        for pos, depth in POSITIONS.items():
            metrics[f"accuracy_{recipe.train_len}_{pos}"] = passkey_accuracy(model, task, recipe.train_len, depth, 64)
    save_model(model, out_path, {"recipe": asdict(recipe)})  # no timings in the file: rebuilds are byte-identical
    return metrics
