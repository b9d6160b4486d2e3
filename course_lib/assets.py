"""Shipped assets: small checkpoints and datasets in ``data/``, verified against ``data/MANIFEST.json``.

Every asset has a recipe: the function that rebuilds it from the repository's own code, on
CPU, deterministically. ``load(name)`` checks the file's size and sha256 against the manifest
before reading it (safetensors only: no pickle is ever loaded from ``data/``).

    python -m course_lib.assets list
    python -m course_lib.assets verify
    python -m course_lib.assets build NAME [--quick] [--data-dir DIR]

The data folder is ``data/`` at the repository root, or ``$COURSE_DATA_DIR`` when set.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST_NAME = "MANIFEST.json"
METADATA_KEY = "course_lib"  # the one metadata key of every shipped safetensors file (see save_safetensors)
RECORD_KEYS = ("file", "size", "sha256", "command", "seed", "metrics", "build_seconds", "torch_version", "date")


class AssetError(RuntimeError):
    """An asset is unknown, missing, or does not match its manifest record."""


@dataclass(frozen=True)
class Recipe:
    """How to rebuild one asset.

    ``builder`` is ``"module.path:function"``, imported only when the asset is built, with
    the signature ``fn(out_path: Path, *, seed: int, quick: bool = False) -> dict``: it
    writes a safetensors file at ``out_path`` (through :func:`save_safetensors`) and returns
    its metrics (JSON numbers or strings). ``quick=True`` trains for a handful of steps only
    (tests). A recipe that trains reports ``loss_start`` and ``loss_end`` among its metrics;
    the tests check that the loss went down. When ``variant`` is set, one builder serves
    several assets and is called with ``variant=...`` as well (which model of its module to
    train).
    """

    name: str
    file: str
    builder: str
    seed: int
    description: str
    variant: str | None = None


# Every shipped asset, by name. Chapters add their recipes here.
RECIPES: dict[str, Recipe] = {}


def _add_variants(prefix: str, builder: str, descriptions: dict[str, str]) -> None:
    """Register asset ``prefix + variant`` for each variant, all built by ``builder`` (seed 0)."""
    for variant, description in descriptions.items():
        name = prefix + variant
        RECIPES[name] = Recipe(name, f"{name}.safetensors", builder, 0, description, variant)


# Chapter 01: the tiny Infini-attention LMs trained on passkey retrieval, one per memory
# (course_lib.longctx.passkey_training.PASSKEY_ASSETS).
_add_variants("ch01_passkey_", "course_lib.longctx.passkey_training:build_asset", {
    "delta": "Linear + Delta memory, filler repeats up to 256 (the bound chosen on validation prompts)",
    "linear": "Linear memory, filler repeats up to 256 (the bound chosen on validation prompts)",
    "off": "memory off (local attention only)",
    "delta_plain": "Linear + Delta memory, plain recipe (no filler repeats)",
})

# Chapter 02: the RULER essay haystack (course_lib.longctx.ruler.text).
RECIPES["ch02_essay"] = Recipe(
    "ch02_essay", "ch02_essay.safetensors", "course_lib.longctx.ruler.text:build_essay_asset", 0,
    "essay haystack: prose of the Python reference manual (pydoc_data, PSF licence) as UTF-8 bytes",
)

# Chapter 02: the tiny LMs trained on vanilla NIAH at 128-256 tokens (course_lib.longctx.ruler.training.RULER_ASSETS).
_add_variants("ch02_ruler_", "course_lib.longctx.ruler.training:build_asset", {
    "full256": "full attention over 256 tokens, trained on niah_single_1/2 at 128-256 tokens",
    "infini64": "Infini-attention (Linear + Delta memory) in 64-token segments, trained on niah_single_1/2 at 128-256",
    "local64": "local attention in 64-token segments (memory off), trained on niah_single_1/2 at 128-256",
    "mix": "full256's weights, then trained on a mix of 5 RULER tasks evenly over 128-256 tokens",
})

# Chapter 03: the Table 17 ladder at reduced scale, every row for every seed (course_lib.vision.table17_runs).
RECIPES["ch03_table17_runs"] = Recipe(
    "ch03_table17_runs", "ch03_table17_runs.safetensors", "course_lib.vision.table17_runs:build_runs", 0,
    "the 10 rows of iLLaMA's Table 17 (ViT to iLLaMA) on the digits, 3 seeds each, trained by the chapter's reduced recipe",
)

# Chapter 04: BRAVE's frozen parts, each pre-trained on its own objective (course_lib.vlm.pretraining).
_add_variants("ch04_", "course_lib.vlm.pretraining:build_asset", {
    "shape_cnn": "timm ResNet on the ink image, trained to name the shape in each cell (colour-blind)",
    "colour_net": "per-pixel network max-pooled per cell, trained to name each cell's colour (shape-blind)",
    "layout_vit": "ViT on a 4x4 ink thumbnail, trained on occupancy and count (shape- and colour-blind)",
    "tiny_lm": "tiny LLaMA-style decoder trained on the world's captions and caption-answered questions",
})
# Chapter 04: the five bridges from the frozen encoders to the frozen LM (course_lib.vlm.bridges).
_add_variants("ch04_bridge_", "course_lib.vlm.bridges:build_asset", {
    kind: f"{description}, trained by captioning then VQA (frozen encoders and LM)" for kind, description in {
        "shape_cnn": "Q-Former on the shape CNN alone",
        "colour_net": "Q-Former on the colour net alone",
        "layout_vit": "Q-Former on the layout ViT alone",
        "ensemble": "ensemble of three single-encoder Q-Formers",
        "brave": "BRAVE's MEQ-Former over all three encoders, with encoder dropout",
    }.items()
})

# Chapter 06: RealmDreamer's distillation runs, every variant on every test scene and seed (course_lib.benchmarks.realmdreamer).
RECIPES["ch06_runs"] = Recipe(
    "ch06_runs", "ch06_runs.safetensors", "course_lib.benchmarks.realmdreamer:build_runs", 0,
    "RealmDreamer distillation at 32 px: inpainting distillation, SDS and three ablations on 4 test scenes x 2 seeds (Gaussians)",
)

# Chapter 07: Urban Architect's fields: the drive regime, the layout-guided distillations, the editing fit (course_lib.benchmarks.urban_architect).
RECIPES["ch07_runs"] = Recipe(
    "ch07_runs", "ch07_runs.safetensors", "course_lib.benchmarks.urban_architect:build_runs", 0,
    "Urban Architect at 32 px: drive-regime fields (cells, equal-parameter and same-resolution grids) and LG-VSD/VSD/SDS "
    "distillations from one initialised street, 2 seeds each, and the editing fit (float16 hash grids)",
)

# Chapters 05-07: the tiny diffusion priors, depth prior and judge classifier (course_lib.priors.recipes).
for _name, _function, _description in [
    ("prior_classifier", "build_classifier", "judge classifier / image features over the prompt classes (stands in for CLIP, DINO)"),
    ("prior_text2image", "build_text2image", "text-to-image + inpainting prior, 32x32 (stands in for Stable Diffusion and SD-inpainting)"),
    ("prior_panorama", "build_panorama", "equirectangular panorama prior on wrapped 32x32 crops of 32x64 panoramas (stands in for SD + 360 LoRA)"),
    ("prior_depth", "build_depth", "monocular depth prior, RGB -> relative depth (stands in for Marigold / Depth Anything)"),
    ("prior_layout", "build_layout", "layout-conditioned street prior + layout segmenter (stands in for SD + ControlNet)"),
]:
    RECIPES[_name] = Recipe(_name, f"{_name}.safetensors", f"course_lib.priors.recipes:{_function}", 0, _description)


def cpu_kind() -> str:
    """The machine and torch's CPU kernel level (``x86_64 AVX512``): training is bit-reproducible on one kind only."""
    return f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}"


def data_dir() -> Path:
    """The data folder: ``$COURSE_DATA_DIR`` if set, else ``data/`` at the repository root."""
    return Path(os.environ.get("COURSE_DATA_DIR") or REPO_ROOT / "data")


def rebuild_command(name: str) -> str:
    """The command that rebuilds asset ``name``."""
    return f"python -m course_lib.assets build {name}"


def read_manifest(folder: Path | None = None) -> dict:
    """The manifest of ``folder`` (default: :func:`data_dir`), ``{"assets": {}}`` if there is none."""
    manifest = (folder or data_dir()) / MANIFEST_NAME
    if not manifest.exists():
        return {"assets": {}}
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AssetError(f"{manifest} is not valid JSON ({error}); restore it with `git checkout {manifest}`") from error
    if not isinstance(content.get("assets"), dict):
        raise AssetError(f"{manifest} has no 'assets' object; restore it with `git checkout {manifest}`")
    return content


def write_manifest(manifest: dict, folder: Path | None = None) -> None:
    """Write the manifest deterministically (sorted keys, indent 2, trailing newline)."""
    path = (folder or data_dir()) / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


@contextlib.contextmanager
def _manifest_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder``'s manifest (POSIX; elsewhere no lock is taken)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / f".{MANIFEST_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def sha256_of(path: Path) -> str:
    """Hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def metadata(name: str, folder: Path | None = None) -> dict:
    """The manifest record of asset ``name`` (file, size, sha256, command, seed, metrics, ...)."""
    records = read_manifest(folder)["assets"]
    if name not in records:
        known = sorted(set(records) | set(RECIPES))
        hint = f"build it with `{rebuild_command(name)}`" if name in RECIPES else f"known assets: {', '.join(known) or 'none'}"
        raise AssetError(f"no asset named {name!r} in {(folder or data_dir()) / MANIFEST_NAME}; {hint}")
    return records[name]


def path(name: str, folder: Path | None = None) -> Path:
    """Path of asset ``name``'s file, after checking its size and sha256 against the manifest."""
    record = metadata(name, folder)
    missing = [key for key in ("file", "size", "sha256") if key not in record]
    if missing:
        raise AssetError(f"asset {name!r}: its manifest record lacks {', '.join(missing)}; rebuild it with `{rebuild_command(name)}`")
    base = (folder or data_dir()).resolve()
    file = (base / record["file"]).resolve()
    if base not in file.parents:
        raise AssetError(f"asset {name!r}: the manifest points outside {base} ({record['file']!r}); fix data/MANIFEST.json")
    rebuild = f"rebuild it with `{rebuild_command(name)}` (or restore it with `git checkout {file}`)"
    if not file.exists():
        raise AssetError(f"asset {name!r}: {file} is missing; {rebuild}")
    size = file.stat().st_size
    if size != record["size"]:
        raise AssetError(f"asset {name!r}: {file} has {size} bytes, the manifest says {record['size']}; {rebuild}")
    digest = sha256_of(file)
    if digest != record["sha256"]:
        raise AssetError(f"asset {name!r}: {file} is corrupt (sha256 {digest[:12]}..., manifest {record['sha256'][:12]}...); {rebuild}")
    return file


def load(name: str, folder: Path | None = None) -> dict[str, torch.Tensor]:
    """The tensors of asset ``name`` (a safetensors file), verified against the manifest."""
    return load_file(path(name, folder))


def save_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict | None = None) -> None:
    """Write ``tensors`` to ``path`` as safetensors, the same bytes for the same content (every recipe writes through it).

    ``metadata`` (JSON values) is stored as ONE header key, :data:`METADATA_KEY`, holding its
    canonical JSON (sorted keys, fixed separators): safetensors keeps the header's metadata in a
    hash map whose key order changes from run to run, so two keys could give two files (two
    sha256) for one build.
    """
    header = None if metadata is None else {METADATA_KEY: json.dumps(metadata, sort_keys=True, separators=(",", ":"))}
    save_file({key: tensor.contiguous() for key, tensor in tensors.items()}, str(path), metadata=header)


def read_metadata(path: Path) -> dict:
    """The metadata :func:`save_safetensors` wrote into the file at ``path`` (``{}`` if it wrote none)."""
    with safe_open(str(path), "pt") as f:
        header = f.metadata() or {}
    if not header:
        return {}
    if set(header) != {METADATA_KEY}:
        raise AssetError(f"{path}: its metadata keys {sorted(header)} are not the single {METADATA_KEY!r} key that "
                         "course_lib.assets.save_safetensors writes (an older or foreign file); rebuild the asset with "
                         "`python -m course_lib.assets build NAME`")
    return json.loads(header[METADATA_KEY])


def loss_metrics(losses: list[float]) -> dict[str, float]:
    """``loss_start`` / ``loss_end``: the mean of the first and of the last ten training losses,
    the numbers every recipe records in the manifest."""
    return {"loss_start": sum(losses[:10]) / len(losses[:10]), "loss_end": sum(losses[-10:]) / len(losses[-10:])}


def _builder(recipe: Recipe) -> Callable[..., dict]:
    module_name, _, function_name = recipe.builder.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise AssetError(f"recipe {recipe.name!r}: cannot import builder {recipe.builder!r} ({error})") from error


def build(name: str, folder: Path | None = None, quick: bool = False) -> dict:
    """Rebuild asset ``name`` into ``folder`` (default: :func:`data_dir`) and record it in its manifest.

    Returns the new manifest record. The file is written under a temporary name and moved
    into place only once it loads as safetensors.
    """
    if name not in RECIPES:
        raise AssetError(f"no recipe named {name!r}; known recipes: {', '.join(sorted(RECIPES)) or 'none'}")
    recipe = RECIPES[name]
    folder = folder or data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / recipe.file
    partial = target.with_name(f".{target.name}.partial")
    torch.manual_seed(recipe.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread, so that a rebuild on the same machine gives the same bytes
    start = time.perf_counter()
    variant = {} if recipe.variant is None else {"variant": recipe.variant}
    try:
        metrics = _builder(recipe)(partial, seed=recipe.seed, quick=quick, **variant)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    if not partial.exists():
        raise AssetError(f"recipe {name!r}: builder {recipe.builder!r} did not write {partial}")
    try:
        load_file(partial)
    except Exception as error:  # safetensors raises its own error types for malformed files
        partial.unlink()
        raise AssetError(f"recipe {name!r}: {recipe.builder!r} wrote a file that is not safetensors ({error})") from error
    try:
        metrics = json.loads(json.dumps(metrics))
    except TypeError as error:
        partial.unlink()
        raise AssetError(f"recipe {name!r}: the builder's metrics must be JSON numbers or strings ({error})") from error
    partial.replace(target)
    target.chmod(0o644)
    record = {
        "file": recipe.file,
        "size": target.stat().st_size,
        "sha256": sha256_of(target),
        "command": rebuild_command(name) + (" --quick" if quick else ""),
        "seed": recipe.seed,
        "metrics": metrics,
        "build_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
        "cpu": cpu_kind(),  # rebuilds give the same bytes on this kind
        "date": datetime.date.today().isoformat(),
        "description": recipe.description,
    }
    with _manifest_lock(folder):  # builds of different assets may run at the same time
        manifest = read_manifest(folder)
        manifest["assets"][name] = record
        write_manifest(manifest, folder)
    return record


def verify(folder: Path | None = None) -> list[str]:
    """Problems with the assets of ``folder``'s manifest (missing, corrupt...); empty when all is well."""
    problems = []
    for name in sorted(read_manifest(folder)["assets"]):
        try:
            path(name, folder)
        except AssetError as error:
            problems.append(str(error))
    return problems


def compare_with_shipped(name: str, rebuilt_folder: Path) -> list[str]:
    """How a rebuild of ``name`` in ``rebuilt_folder`` compares with the shipped asset, line by line.

    The same bytes (sha256) when rebuilt on a CPU of the kind that built the shipped file. On another
    CPU kind (another instruction set under the float kernels) the weights differ by rounding, so the
    lines then give each tensor's largest difference and every metric that changed: a rebuild
    reproduces the asset when the tensors agree to rounding and the metrics agree.
    """
    shipped, rebuilt = metadata(name), metadata(name, rebuilt_folder)
    if shipped["sha256"] == rebuilt["sha256"]:
        return [f"{name}: the same bytes as the shipped file (sha256 {shipped['sha256'][:12]}...)"]
    lines = [f"{name}: different bytes (sha256 {rebuilt['sha256'][:12]}... vs shipped {shipped['sha256'][:12]}...)"]
    old, new = load(name), load(name, rebuilt_folder)
    if set(old) != set(new) or any(old[k].shape != new[k].shape for k in old):
        return lines + ["  the tensors differ in names or shapes: the recipe changed since the shipped build"]
    worst = max(old, key=lambda k: float((old[k].double() - new[k].double()).abs().max()) if old[k].numel() else 0.0)
    diff = float((old[worst].double() - new[worst].double()).abs().max()) if old[worst].numel() else 0.0
    scale = float(old[worst].double().abs().max()) if old[worst].numel() else 0.0
    lines.append(f"  same {len(old)} tensors and shapes; largest difference {diff:.3g} (in {worst}, whose largest value is {scale:.3g})")
    changed = {k: (shipped["metrics"].get(k), v) for k, v in rebuilt["metrics"].items()
               if shipped["metrics"].get(k) != v and not k.endswith("seconds")}
    lines += [f"  metric {k}: {a} shipped, {b} rebuilt" for k, (a, b) in sorted(changed.items())] or ["  every metric equal"]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line: ``list``, ``verify``, ``build NAME [--quick] [--data-dir DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.assets", description="Shipped assets of the course.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list recipes and shipped assets")
    commands.add_parser("verify", help="check every shipped asset's size and sha256")
    build_parser = commands.add_parser("build", help="rebuild an asset and record it in the manifest")
    build_parser.add_argument("name")
    build_parser.add_argument("--quick", action="store_true", help="a handful of steps (writes to a temporary folder unless --data-dir)")
    build_parser.add_argument("--data-dir", type=Path, default=None, help="folder to write to (default: the data folder)")
    build_parser.add_argument("--compare", action="store_true",
                              help="rebuild into a temporary folder and compare with the shipped asset (bytes, tensors, metrics)")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            records = read_manifest()["assets"]
            if not RECIPES and not records:
                print("no recipes and no shipped assets yet")
            for name in sorted(set(RECIPES) | set(records)):
                shipped = f"{records[name]['file']} ({records[name]['size']} bytes)" if name in records else "not built"
                description = RECIPES[name].description if name in RECIPES else "(no recipe)"
                print(f"{name}: {shipped} - {description}")
        elif args.command == "verify":
            problems = verify()
            for problem in problems:
                print(problem, file=sys.stderr)
            print(f"{len(read_manifest()['assets']) - len(problems)} asset(s) ok, {len(problems)} problem(s)")
            return 1 if problems else 0
        else:
            if args.compare and args.quick:
                raise AssetError("--compare checks a full rebuild against the shipped asset; drop --quick")
            temporary = args.quick or args.compare
            folder = args.data_dir or (Path(tempfile.mkdtemp(prefix="course-asset-")) if temporary else None)
            record = build(args.name, folder, quick=args.quick)
            print(f"built {args.name}: {(folder or data_dir()) / record['file']} {record['size']} bytes in {record['build_seconds']} s")
            print(json.dumps(record["metrics"], indent=2))
            if args.compare:
                print("\n".join(compare_with_shipped(args.name, folder or data_dir())))
    except AssetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
