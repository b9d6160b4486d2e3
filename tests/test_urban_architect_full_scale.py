"""Chapter 07's full-scale switch: the paper's models on the meta device, the GPU/hub check, the hash-grid backend and sizes."""

from __future__ import annotations

import pytest
import torch

from course_lib.text_to_3d.urban_architect import full_scale


def test_full_scale_models_build_on_meta_with_the_papers_sizes():
    counts = full_scale.build_on_meta()
    assert 865.5 < counts.unet < 866.5  # SD 2.1-base's UNet: 865.9M
    assert 360 < counts.controlnet < 365  # its ControlNet with a 4-channel control image
    # LoRA rank r = 4 adds r (in + out) per projection. Each of the 16 transformer blocks (width w) has self-attention
    # (q, k, v, out: w -> w) and cross-attention (q, out: w -> w; k, v: 1024 -> w), summed by hand
    widths = [320] * 2 + [640] * 2 + [1280] * 2 + [1280] + [1280] * 3 + [640] * 3 + [320] * 3  # down, mid, up
    lora = sum(4 * 4 * (w + w) + 2 * 4 * (w + w) + 2 * 4 * (1024 + w) for w in widths)
    assert counts.lora == pytest.approx(lora / 1e6) and 0 < counts.lora < 5
    assert counts.camera_embedding == pytest.approx((16 * 1280 + 1280 + 1280 * 1280 + 1280) / 1e6)  # TimestepEmbedding(16, 1280)
    assert counts.guided_eps_shape == (1, 4, 64, 64)


def test_control_image_is_semantic_rgb_and_depth_over_200():
    rgb = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    depth = torch.tensor([[100.0, -1.0], [0.0, 400.0]]).view(1, 1, 2, 2)
    control = full_scale.control_image(rgb, depth)
    assert control.shape == (1, full_scale.CONTROL_CHANNELS, 2, 2)
    assert control[0, :3, 0, 0].tolist() == [-1.0, 0.0, 1.0]
    assert control[0, 3].tolist() == [[0.5, 0.0], [0.0, 2.0]]
    with pytest.raises(ValueError, match="depth must be"):
        full_scale.control_image(rgb, depth[:, :, :1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where no GPU is visible")
def test_require_hub_stops_clearly_without_a_gpu():
    with pytest.raises(RuntimeError, match="Urban Architect at full scale needs a CUDA GPU"):
        full_scale.require_hub()


def test_require_hub_asks_for_the_layout_controlnet_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setattr(full_scale, "require_gpu_and_hub", lambda *args: None)  # as if a GPU and the hub were there
    with pytest.raises(RuntimeError, match="trained on KITTI-360 layouts"):
        full_scale.require_hub()
    with pytest.raises(RuntimeError, match="is not a file"):
        full_scale.require_hub(controlnet_checkpoint=tmp_path / "missing.pt")
    checkpoint = tmp_path / "controlnet.pt"
    checkpoint.write_bytes(b"")
    full_scale.require_hub(controlnet_checkpoint=checkpoint)


@pytest.mark.skipif(torch.cuda.is_available(), reason="without CUDA the backend is always the pure-PyTorch one")
def test_hash_grid_backend_is_pure_pytorch_without_cuda():
    assert full_scale.hash_grid_backend() == "pure-pytorch"


def test_paper_hash_grid_parameters_match_the_hand_count():
    grid = full_scale.paper_hash_grid()
    assert grid["resolutions"] == [16 * 2**level for level in range(10)]  # growth factor b = (8192 / 16)^(1/9) = 2
    # levels 16, 32, 64 fit 1:1 ((N+1)^3 <= 2^21); 128 .. 8192 (129^3 > 2^21) hold 2^21 entries each
    assert grid["cell_parameters"] == 4 * (17**3 + 33**3 + 65**3 + 7 * 2**21) == 59_982_156
    assert grid["object_parameters"] == 4 * (17**3 + 9 * 2**14) == 609_476  # only level 16 fits 2^14
    assert grid["cell_size"] == 400.0 and grid["tinycudann_encoding"]["per_level_scale"] == pytest.approx(2.0)
