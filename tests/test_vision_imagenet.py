"""The full-scale ImageNet entry point runs one real step under torchrun on a fake ImageFolder (chapter 03)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from course_lib.vision.illama import illama
from course_lib.vision.imagenet import RECIPES, parse_args

REPO_ROOT = Path(__file__).resolve().parents[1]


def _fake_imagefolder(root: Path, classes: int = 2, per_class: int = 4, size: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.JPEG")
    return root


def test_one_training_step_under_torchrun(tmp_path):
    data = _fake_imagefolder(tmp_path / "imagenet")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "course_lib.vision.imagenet",
           "--data-path", str(data), "--model", "tiny", "--output-dir", str(out), "--image-size", "32", "--batch-size", "4",
           "--update-freq", "1", "--epochs", "1", "--warmup-epochs", "0", "--max-steps", "1", "--num-workers", "0", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["updates"] == 1 and len(result["losses"]) == 1 and np.isfinite(result["losses"][0])
    model = illama("tiny", num_classes=2, image_size=32)
    model.load_state_dict(load_file(str(out / "illama_tiny.safetensors")))


def test_entry_point_refuses_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--data-path", str(tmp_path), "--output-dir", str(tmp_path), "--device", "cpu"])
    assert "no train/ folder" in capsys.readouterr().err
    _fake_imagefolder(tmp_path / "d", per_class=1)
    with pytest.raises(SystemExit):
        parse_args(["--data-path", str(tmp_path / "d"), "--output-dir", str(tmp_path), "--model", "large", "--device", "cpu"])
    assert "ImageNet-21K" in capsys.readouterr().err
    assert set(RECIPES) == {"tiny", "small", "base"}
