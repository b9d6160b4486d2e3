"""Chapter 02's training recipes, chosen on validation samples (RULER 2404.06654; the models are the course's own).

The chapter ships four tiny models (``course_lib.longctx.ruler.training.RULER_ASSETS``). Their recipes' tuned numbers
are chosen here by criteria fixed before any candidate runs, on *validation* samples (generator seed
``VALIDATION_SEED`` = 6, the chapter's validation seed; its test samples use seeds 1 and 4 and are not scored here):

* **retrieval** (``full256``, ``infini64``, ``local64``, one shared recipe): candidates, the peak learning rate 3e-3
  or 6e-3 and 1500 or 3000 steps (the short start at 128 tokens stays 500 steps). Each candidate trains ``full256``
  and ``infini64``, the two models whose retrieval the chapter measures (``local64``, the window-only control, cannot
  see past its 64 tokens by design). Score: the mean, over the two models, of their validation score on their two
  training tasks at 128, 192 and 256 tokens (``SAMPLES`` samples each). Choice: the highest; on a tie the first in
  ``RETRIEVAL_CANDIDATES`` (the fewer steps, then the lower rate: the cheaper recipe).
* **mix** (``mix``, from the chosen ``full256``'s weights, 3500 steps): candidates, the peak learning rate 1e-3,
  2e-3 or 4e-3. Score: its mean validation score over its five tasks at 128, 192 and 256 tokens. Choice: the
  highest; on a tie the first in ``MIX_CANDIDATES`` (the lowest rate).

Each candidate is scored after its weights are rounded to float16, as the shipped files store them. Training is
deterministic on one kind of CPU (the same bytes in one process or in a pool), but not across kinds: torch picks other
kernels on an AVX2 CPU than on an AVX512 one, and 3,000 steps of training then end at other weights. So the record
also holds the **shipped** part: the validation scores of the shipped files themselves, rebuilt by the chosen recipes,
with the CPU each part ran on; ``tests/test_ruler_recipe_choice.py`` checks that the shipped files score exactly that.

    python -m course_lib.longctx.ruler.recipe_choice retrieval   # over an hour of CPU time (--workers 2: half that)
    python -m course_lib.longctx.ruler.recipe_choice mix         # about an hour of CPU time; needs the shipped full256
    python -m course_lib.longctx.ruler.recipe_choice shipped     # a minute: scores the shipped files
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import torch

from course_lib.assets import cpu_kind
from course_lib.longctx.ruler.training import RULER_ASSETS, build_model, grid_scores, load_model, recipe_for, train_ruler
from course_lib.longctx.ruler.text import course_tokenizer

VALIDATION_SEED = 6
SAMPLES = 20  # per (task, length), as the chapter's validation cells
LENGTHS = (128, 192, 256)
RETRIEVAL_CANDIDATES = tuple((steps, lr) for steps in (1500, 3000) for lr in (3e-3, 6e-3))
RETRIEVAL_SCORED = ("ch02_ruler_full256", "ch02_ruler_infini64")
MIX_CANDIDATES = (1e-3, 2e-3, 4e-3)
RECORD = Path(__file__).resolve().parents[3] / "data" / "recipe_choices" / "ch02.json"


def validation_grid(tasks) -> dict:
    return dict(tasks=tuple(tasks), lengths=LENGTHS, num_samples=SAMPLES, seed=VALIDATION_SEED)


def as_shipped(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its weights rounded to float16 and back, as the shipped files store and load them."""
    model.load_state_dict({k: v.to(torch.float16).float() for k, v in model.state_dict().items()})
    return model.eval()


def validation_score(model, tasks) -> tuple[float, dict[str, float]]:
    """(the mean validation score over ``tasks`` x ``LENGTHS``, every cell ``task@length``) of ``model``."""
    cells = grid_scores(model, course_tokenizer(), validation_grid(tasks))
    return sum(cells.values()) / len(cells), cells


def train_candidate(name: str, **changes) -> torch.nn.Module:
    """The shipped model ``name`` trained from scratch (or from its ``init_from``) by its recipe with ``changes``."""
    torch.set_num_threads(1)
    recipe = replace(recipe_for(name), seed=0, **changes)
    tokenizer = course_tokenizer()
    torch.manual_seed(recipe.seed)
    model = build_model(recipe, tokenizer)
    if recipe.init_from:
        model.load_state_dict(load_model(recipe.init_from)[0].state_dict())
    train_ruler(model, tokenizer, recipe, progress=False)
    return as_shipped(model)


def _score_job(job: tuple[str, dict]) -> tuple[float, dict]:
    name, changes = job
    return validation_score(train_candidate(name, **changes), RULER_ASSETS[name].tasks)


def _run(jobs: list[tuple[str, dict]], workers: int) -> list[tuple[float, dict]]:
    if workers <= 1:
        return [_score_job(job) for job in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_score_job, jobs))


def retrieval_scores(candidates=RETRIEVAL_CANDIDATES, workers: int = 1) -> dict:
    """``{(steps, lr): {"score": mean over RETRIEVAL_SCORED, "models": {name: {"score", "cells"}}}}``."""
    jobs = [(name, {"steps": steps, "lr": lr}) for steps, lr in candidates for name in RETRIEVAL_SCORED]
    results = iter(_run(jobs, workers))
    out = {}
    for key in candidates:
        models = {name: dict(zip(("score", "cells"), next(results))) for name in RETRIEVAL_SCORED}
        out[key] = {"score": sum(m["score"] for m in models.values()) / len(models), "models": models}
    return out


def mix_scores(candidates=MIX_CANDIDATES, workers: int = 1) -> dict:
    """``{lr: {"score", "cells"}}`` of the task-mix model trained at each candidate learning rate."""
    return {lr: dict(zip(("score", "cells"), r)) for lr, r in zip(candidates, _run([("ch02_ruler_mix", {"lr": lr}) for lr in candidates], workers))}


SHIPPED_SCORED = (*RETRIEVAL_SCORED, "ch02_ruler_mix")


def shipped_scores() -> dict:
    """``{name: {"score", "cells"}}``: the validation scores of the shipped files of ``SHIPPED_SCORED``."""
    torch.set_num_threads(1)
    return {name: dict(zip(("score", "cells"), validation_score(load_model(name)[0], RULER_ASSETS[name].tasks)))
            for name in SHIPPED_SCORED}


def choose(scores: dict):
    """The candidate with the highest score; on a tie the first one (in the order of ``scores``)."""
    best = max(entry["score"] for entry in scores.values())
    return next(key for key, entry in scores.items() if entry["score"] == best)


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def save_part(part: str, scores: dict, path: Path = RECORD) -> None:
    """Write one part's candidates and choice into the JSON record (the other part is kept)."""
    record = json.loads(path.read_text()) if path.exists() else {}
    record[part] = {"command": f"python -m course_lib.longctx.ruler.recipe_choice {part}",
                    "validation": {"seed": VALIDATION_SEED, "samples": SAMPLES, "lengths": list(LENGTHS)},
                    "torch_version": torch.__version__, "cpu": cpu_kind()}
    if part == "retrieval":
        steps, lr = choose(scores)
        record[part].update(candidates=[{"steps": s, "lr": lr, **_rounded(e)} for (s, lr), e in scores.items()],
                            chosen={"steps": steps, "lr": lr})
    elif part == "mix":
        record[part].update(candidates=[{"lr": lr, **_rounded(e)} for lr, e in scores.items()], chosen={"lr": choose(scores)})
    else:  # shipped: no candidates, the files as they are
        record[part]["models"] = _rounded(scores)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def record_lines(path: Path = RECORD) -> list[str]:
    """The recorded candidates and choices of both parts, one line each, for the notebook."""
    record = json.loads(path.read_text())
    lines = [f"retrieval recipe (validation score on niah_single_1/2 at {', '.join(map(str, LENGTHS))} tokens, "
             f"{SAMPLES} samples each, seed {VALIDATION_SEED}):"]
    for row in record["retrieval"]["candidates"]:
        lines.append(f"  {row['steps']} steps, lr {row['lr']:g}: " + ", ".join(
            f"{name.removeprefix('ch02_ruler_')} {m['score']:.2f}" for name, m in row["models"].items()) + f"; score {row['score']:.2f}")
    chosen = record["retrieval"]["chosen"]
    lines.append(f"  chosen: {chosen['steps']} steps, lr {chosen['lr']:g}")
    if "mix" in record:
        lines.append("task-mix recipe (validation score on its five tasks at the same lengths):")
        lines += [f"  lr {row['lr']:g}: score {row['score']:.2f}" for row in record["mix"]["candidates"]]
        lines.append(f"  chosen: lr {record['mix']['chosen']['lr']:g}")
    if "shipped" in record:
        shipped = record["shipped"]
        lines.append(f"the shipped files, built by the chosen recipes (validation scored on {shipped['cpu']}): " + ", ".join(
            f"{name.removeprefix('ch02_ruler_')} {m['score']:.2f}" for name, m in shipped["models"].items()))
        where = {part: record[part].get("cpu", "a CPU not recorded") for part in ("retrieval", "mix") if part in record}
        if any(c != shipped["cpu"] for c in where.values()):
            lines.append("  (candidates trained on " + "; ".join(f"{part}: {c}" for part, c in where.items())
                         + ". Training is deterministic on one kind of CPU, not across kinds: torch's kernels differ, and "
                         "a shipped model can score other than its candidate.)")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("retrieval", "mix", "shipped"))
    parser.add_argument("--workers", type=int, default=1, help="processes, one thread each (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    run = {"retrieval": retrieval_scores, "mix": mix_scores, "shipped": lambda workers: shipped_scores()}[args.part]
    scores = run(workers=args.workers)
    save_part(args.part, scores)
    print("\n".join(record_lines()))
    print(f"the shipped recipes: retrieval {recipe_for('ch02_ruler_full256').steps} steps, lr {RULER_ASSETS['ch02_ruler_full256'].lr:g}; "
          f"mix lr {RULER_ASSETS['ch02_ruler_mix'].lr:g}; written to {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
