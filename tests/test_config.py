"""The scale switch, seeding, and the static fallback of widgets."""

from __future__ import annotations

import pytest
import torch

from course_lib import config, widgets


def test_default_scale_is_reduced(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_SCALE", raising=False)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    cfg = config.chapter_config("01")
    assert cfg.scale == "reduced" and cfg.device.type == "cpu"
    assert cfg.segment_len == config.CHAPTER_01["segment_len"].reduced
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "scale=reduced" in out[0] and torch.__version__ in out[0]


def test_unknown_scale_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "medium")
    with pytest.raises(ValueError, match="reduced.*full"):
        config.chapter_config("01")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message is for machines without a GPU")
def test_full_scale_without_gpu_says_what_it_needs(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "full")
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        config.chapter_config("01")


def test_device_switch(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_SCALE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    if all(chapter in config.CPU_ONLY_REDUCED for chapter in config.CHAPTERS):  # every chapter's reduced run is CPU-only today:
        monkeypatch.setattr(config, "CPU_ONLY_REDUCED", {k: v for k, v in config.CPU_ONLY_REDUCED.items() if k != "07"})  # lift one
    on_gpu = next(chapter for chapter in config.CHAPTERS if chapter not in config.CPU_ONLY_REDUCED)
    assert config.chapter_config(on_gpu).device.type == "cuda"  # auto takes the GPU
    cfg = config.chapter_config("01")  # the chapters of CPU_ONLY_REDUCED keep their CPU run, and say so
    assert cfg.device.type == "cpu" and "a GPU is visible" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.chapter_config("05", verbose=False).device.type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="auto.*cpu.*cuda"):
        config.chapter_config("05")


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="none is visible"):
        config.chapter_config("05")
    monkeypatch.setenv("COURSE_DEVICE", "auto")
    assert config.chapter_config("05", verbose=False).device.type == "cpu"


def test_seeding_is_deterministic():
    config.chapter_config("01", seed=3, verbose=False)
    a = torch.rand(3)
    config.chapter_config("01", seed=3, verbose=False)
    assert torch.equal(a, torch.rand(3))


def test_unknown_chapter_and_setting():
    with pytest.raises(KeyError, match="unknown chapter"):
        config.chapter_config("99")
    cfg = config.chapter_config("01", verbose=False)
    with pytest.raises(AttributeError, match="no setting"):
        cfg.segment_length


def test_widget_falls_back_to_a_static_call(monkeypatch):
    monkeypatch.setenv("COURSE_WIDGETS", "static")
    calls = []
    assert widgets.explore(lambda segment, layer: calls.append((segment, layer)), defaults={"layer": 1}, segment=(0, 9), layer=(0, 1)) is None
    assert calls == [(0, 1)]


def test_widget_builds_controls_when_enabled(monkeypatch):
    monkeypatch.delenv("COURSE_WIDGETS", raising=False)
    calls = []
    widget = widgets.explore(lambda segment: calls.append(segment), defaults={"segment": 4}, segment=(0, 9))
    slider = widget.children[0]
    assert (slider.min, slider.max, slider.value) == (0, 9, 4)
    slider.value = 7
    assert calls[-1] == 7


def test_widget_control_errors_are_clear(monkeypatch):
    monkeypatch.setenv("COURSE_WIDGETS", "static")
    with pytest.raises(TypeError, match="lo, hi"):
        widgets.explore(lambda segment: None, segment=5)
