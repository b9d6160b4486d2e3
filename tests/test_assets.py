"""Shipped assets: manifest checks, clear errors, build round trip, and the real data/ folder."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from course_lib import assets
from course_lib.assets import AssetError, Recipe

FAKE_BUILDER = '''
from pathlib import Path

import torch

from course_lib.assets import save_safetensors


def build(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """Fit y = 3x by gradient descent: a tiny stand-in for a chapter's training recipe."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 1, generator=generator)
    y = 3 * x
    w = torch.zeros(1, requires_grad=True)
    losses = []
    for _ in range(5 if quick else 50):
        loss = ((x * w - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.1 * w.grad
            w.grad = None
        losses.append(loss.item())
    save_safetensors({"w": w.detach()}, out_path, {"fit": "y = 3x", "steps": len(losses)})
    return {"loss_start": losses[0], "loss_end": losses[-1], "steps": len(losses)}


def build_pickle(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    torch.save({"w": torch.zeros(1)}, out_path)
    return {}


def build_variant(out_path: Path, *, seed: int, quick: bool = False, variant: str) -> dict:
    save_safetensors({"w": torch.full((1,), float(len(variant)))}, out_path, {"variant": variant})
    return {"variant": variant}
'''


@pytest.fixture
def fake_recipe(tmp_path, monkeypatch) -> Recipe:
    """The only registered recipe, whose builder lives in a temporary module; data dir = tmp_path/data."""
    (tmp_path / "fake_recipes.py").write_text(textwrap.dedent(FAKE_BUILDER))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    recipe = Recipe("fake_linear", "fake_linear.safetensors", "fake_recipes:build", seed=7, description="y = 3x")
    monkeypatch.setattr(assets, "RECIPES", {recipe.name: recipe})  # only the fake recipe is known
    return recipe


def test_build_then_load_round_trip(fake_recipe, tmp_path):
    record = assets.build(fake_recipe.name)
    manifest = json.loads((tmp_path / "data" / "MANIFEST.json").read_text())
    assert manifest["assets"]["fake_linear"] == record
    assert set(assets.RECORD_KEYS) <= set(record)
    assert record["command"] == "python -m course_lib.assets build fake_linear"
    assert record["seed"] == 7 and record["metrics"]["loss_end"] < record["metrics"]["loss_start"]
    tensors = assets.load("fake_linear")
    assert torch.allclose(tensors["w"], torch.tensor([3.0]), atol=1e-2)
    assert assets.path("fake_linear") == tmp_path / "data" / "fake_linear.safetensors"
    assert assets.metadata("fake_linear")["sha256"] == record["sha256"]


def test_build_is_deterministic(fake_recipe):
    first = assets.build(fake_recipe.name)["sha256"]
    assert assets.build(fake_recipe.name)["sha256"] == first


def test_a_recipe_with_a_variant_passes_it_to_its_builder(fake_recipe, monkeypatch, tmp_path):
    recipe = Recipe("fake_wide", "fake_wide.safetensors", "fake_recipes:build_variant", seed=0, description="w", variant="wide")
    monkeypatch.setitem(assets.RECIPES, recipe.name, recipe)
    assert assets.build("fake_wide")["metrics"] == {"variant": "wide"}
    assert assets.read_metadata(tmp_path / "data" / "fake_wide.safetensors") == {"variant": "wide"}
    assert assets.load("fake_wide")["w"].item() == 4.0


def test_save_safetensors_gives_the_same_bytes_for_the_same_content(tmp_path):
    tensors = {"b": torch.arange(6, dtype=torch.float16).reshape(2, 3), "a": torch.ones(4, dtype=torch.int64)}
    metadata = {"recipe": {"lr": 0.003, "tasks": ["x", "y"], "model": {"d_model": 64, "num_heads": 2}}, "config": {"memory": "delta"}}
    reordered_tensors = dict(reversed(list(tensors.items())))
    reordered_metadata = {"config": {"memory": "delta"}, "recipe": {"model": {"num_heads": 2, "d_model": 64}, "tasks": ["x", "y"], "lr": 0.003}}
    files = [tmp_path / f"{i}.safetensors" for i in range(4)]
    assets.save_safetensors(tensors, files[0], metadata)
    assets.save_safetensors(tensors, files[1], metadata)
    assets.save_safetensors(reordered_tensors, files[2], reordered_metadata)
    assets.save_safetensors(tensors, files[3], dict(metadata, config={"memory": "linear"}))
    assert files[0].read_bytes() == files[1].read_bytes() == files[2].read_bytes()
    assert files[3].read_bytes() != files[0].read_bytes()
    assert assets.read_metadata(files[2]) == metadata
    loaded = load_file(files[0])
    assert all(loaded[k].dtype == t.dtype and torch.equal(loaded[k], t) for k, t in tensors.items())


def test_read_metadata_of_a_file_without_metadata_or_with_foreign_keys(tmp_path):
    assets.save_safetensors({"w": torch.zeros(2)}, tmp_path / "bare.safetensors")
    assert assets.read_metadata(tmp_path / "bare.safetensors") == {}
    save_file({"w": torch.zeros(2)}, str(tmp_path / "old.safetensors"), metadata={"config": "{}", "recipe": "{}"})
    with pytest.raises(AssetError, match=r"metadata keys \['config', 'recipe'\].*save_safetensors.*rebuild"):
        assets.read_metadata(tmp_path / "old.safetensors")


def test_a_rebuild_is_compared_with_the_shipped_asset(fake_recipe, tmp_path, capsys):
    assets.build(fake_recipe.name)  # the "shipped" asset, in COURSE_DATA_DIR
    assert assets.main(["build", fake_recipe.name, "--compare"]) == 0
    assert "the same bytes as the shipped file" in capsys.readouterr().out
    other = tmp_path / "other_cpu"
    record = assets.build(fake_recipe.name, other)
    save_file({"w": assets.load(fake_recipe.name, other)["w"] + 3e-7}, str(other / record["file"]))  # rounding elsewhere
    manifest = assets.read_manifest(other)
    manifest["assets"][fake_recipe.name].update(sha256=assets.sha256_of(other / record["file"]), size=(other / record["file"]).stat().st_size)
    manifest["assets"][fake_recipe.name]["metrics"]["loss_end"] += 1.0
    assets.write_manifest(manifest, other)
    lines = assets.compare_with_shipped(fake_recipe.name, other)
    assert lines[0].startswith("fake_linear: different bytes")
    largest = float(re.search(r"largest difference ([0-9.e+-]+) \(in w,", lines[1]).group(1))
    assert 1e-7 < largest < 1e-6, lines
    assert any(line.strip().startswith("metric loss_end:") for line in lines), lines
    assert assets.main(["build", fake_recipe.name, "--compare", "--quick"]) == 2


def test_unknown_name_lists_known_assets(fake_recipe):
    assets.build(fake_recipe.name)
    with pytest.raises(AssetError, match=r"no asset named 'nope'.*known assets: fake_linear"):
        assets.load("nope")


def test_registered_but_unbuilt_asset_says_how_to_build(fake_recipe):
    with pytest.raises(AssetError, match=r"python -m course_lib\.assets build fake_linear"):
        assets.load("fake_linear")


def test_missing_file_names_file_and_rebuild_command(fake_recipe, tmp_path):
    assets.build(fake_recipe.name)
    (tmp_path / "data" / "fake_linear.safetensors").unlink()
    with pytest.raises(AssetError, match=r"fake_linear\.safetensors is missing.*python -m course_lib\.assets build fake_linear"):
        assets.load("fake_linear")


def test_corrupt_file_fails_the_hash_check(fake_recipe, tmp_path):
    assets.build(fake_recipe.name)
    file = tmp_path / "data" / "fake_linear.safetensors"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    file.write_bytes(bytes(data))
    with pytest.raises(AssetError, match=r"fake_linear\.safetensors is corrupt.*python -m course_lib\.assets build fake_linear"):
        assets.load("fake_linear")
    assert assets.verify() and "corrupt" in assets.verify()[0]


def test_size_mismatch_is_reported(fake_recipe, tmp_path):
    assets.build(fake_recipe.name)
    with open(tmp_path / "data" / "fake_linear.safetensors", "ab") as f:
        f.write(b"\0")
    with pytest.raises(AssetError, match=r"has \d+ bytes, the manifest says \d+.*python -m course_lib\.assets build"):
        assets.path("fake_linear")


def test_builder_writing_a_pickle_is_refused(fake_recipe, monkeypatch, tmp_path):
    recipe = Recipe("fake_pickle", "fake_pickle.safetensors", "fake_recipes:build_pickle", seed=0, description="bad")
    monkeypatch.setitem(assets.RECIPES, recipe.name, recipe)
    with pytest.raises(AssetError, match="not safetensors"):
        assets.build("fake_pickle")
    assert not (tmp_path / "data" / "fake_pickle.safetensors").exists()
    assert "fake_pickle" not in assets.read_manifest()["assets"]


def test_cli_quick_build_and_verify(fake_recipe, tmp_path, capsys):
    out = tmp_path / "quick"
    assert assets.main(["build", "fake_linear", "--quick", "--data-dir", str(out)]) == 0
    record = assets.read_manifest(out)["assets"]["fake_linear"]
    assert record["metrics"]["steps"] == 5 and record["command"].endswith("--quick")
    assert assets.main(["build", "nope"]) == 2
    assert "no recipe named 'nope'" in capsys.readouterr().err
    assert assets.main(["verify"]) == 0  # COURSE_DATA_DIR has no manifest yet: nothing to verify


# The real data/ folder -------------------------------------------------------------------

REAL_DATA = assets.REPO_ROOT / "data"
REAL_RECORDS = json.loads((REAL_DATA / "MANIFEST.json").read_text(encoding="utf-8"))["assets"]


def test_manifest_schema():
    manifest = json.loads((REAL_DATA / "MANIFEST.json").read_text(encoding="utf-8"))
    assert set(manifest) == {"assets"} and isinstance(manifest["assets"], dict)
    for name, record in manifest["assets"].items():
        missing = set(assets.RECORD_KEYS) - set(record)
        assert not missing, f"data/MANIFEST.json: asset {name!r} lacks {sorted(missing)}"
        assert record["command"] == assets.rebuild_command(name), f"{name}: the shipped asset must be a full build"
        assert (REAL_DATA / record["file"]).resolve().parent == REAL_DATA.resolve()


def test_recipes_and_manifest_agree():
    assert set(assets.RECIPES) == set(REAL_RECORDS), (
        "every recipe must be built and shipped, and every shipped asset must have a recipe: "
        f"recipes {sorted(assets.RECIPES)}, manifest {sorted(REAL_RECORDS)}"
    )
    for name, recipe in assets.RECIPES.items():
        assert recipe.name == name and REAL_RECORDS[name]["file"] == recipe.file


@pytest.mark.parametrize("name", sorted(REAL_RECORDS))
def test_shipped_asset_loads_and_matches_its_hash(name, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    tensors = assets.load(name)
    assert tensors and all(isinstance(t, torch.Tensor) for t in tensors.values())


@pytest.mark.parametrize("name", sorted(REAL_RECORDS))
def test_shipped_asset_header_holds_at_most_the_one_canonical_metadata_key(name):
    with safe_open(str(REAL_DATA / REAL_RECORDS[name]["file"]), "pt") as f:  # reads the header only
        header = f.metadata() or {}
    assert set(header) <= {assets.METADATA_KEY}, (
        f"{name}: metadata keys {sorted(header)}; write the file with course_lib.assets.save_safetensors")
    if header:
        text = header[assets.METADATA_KEY]
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")), f"{name}: metadata is not canonical JSON"


DATA_RECIPES = {"ch02_essay"}  # extracted text, nothing trained (tested in tests/test_ruler_text.py)


@pytest.mark.parametrize("name", sorted(set(assets.RECIPES) - DATA_RECIPES))
def test_recipe_quick_rebuild_trains_loads_and_is_deterministic(name, tmp_path):
    record = assets.build(name, tmp_path / "first", quick=True)
    assert assets.load(name, tmp_path / "first")
    metrics = record["metrics"]
    assert "loss_start" in metrics and "loss_end" in metrics, f"recipe {name!r} must report loss_start and loss_end"
    assert metrics["loss_end"] < metrics["loss_start"], f"{name}: the loss did not go down in a quick build"
    again = assets.build(name, tmp_path / "second", quick=True)
    assert (again["size"], again["sha256"]) == (record["size"], record["sha256"]), (
        f"{name}: two quick builds wrote different files; a rebuild must give the same bytes")


def test_manifest_records_that_are_incomplete_or_point_outside_are_refused(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"x")
    assets.write_manifest({"assets": {
        "no_hash": {"file": "w.safetensors", "size": 1},
        "escapes": {"file": "../outside.safetensors", "size": 1, "sha256": "0" * 64},
    }}, tmp_path)
    with pytest.raises(assets.AssetError, match="lacks sha256"):
        assets.path("no_hash", tmp_path)
    with pytest.raises(assets.AssetError, match="outside"):
        assets.path("escapes", tmp_path)
