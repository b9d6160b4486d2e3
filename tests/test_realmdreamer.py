"""course_lib.text_to_3d.realmdreamer and its test bench (chapter 06): the pipeline's pieces, their bad-input errors,
the one-step sampler, and that each claim the notebook asserts can fail: a broken variant of the method gets a
verdict other than "reproduces"."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import assets
from course_lib.benchmarks.realmdreamer import (
    eval_cameras,
    load_runs,
    occluder_scene,
    offset_camera,
    paired_verdicts,
    reference_camera,
    score,
    true_views,
)
from course_lib.diffusion import add_noise, alphas_cumprod, ddim_timesteps, denoise_from, predict_x0
from course_lib.geometry import Camera, look_at_camera
from course_lib.scenes import render_view
from course_lib.splatting import GaussianParams, ssim_map
from course_lib.text_to_3d.dreamscene360.verdicts import REPRODUCES
from course_lib.text_to_3d.realmdreamer.lift import align_depth, gaussians_from_pixels, lift_pixels
from course_lib.text_to_3d.realmdreamer.losses import depth_distillation_loss, distillation_target, inpainting_distillation_loss
from course_lib.text_to_3d.realmdreamer.occlusion import OcclusionSettings, occluded_grid, occluded_voxels, occupancy_grid
from course_lib.text_to_3d.realmdreamer.optimise import DistillSettings, distill, fill_mask
from course_lib.text_to_3d.realmdreamer.pipeline import InitialScene, merge_gaussians, volume_gaussians
from course_lib.text_to_3d.realmdreamer.render import render_layers


def _camera(size: int = 16) -> Camera:
    return look_at_camera((0.0, 0.0, 1.6), (0.0, 6.0, 0.9), 50.0, size, size)


# --- lift ---------------------------------------------------------------------------------------------------------


def test_align_depth_recovers_scale_and_shift_over_the_mask_only():
    pred = torch.rand(12, 10) + 0.5
    target = 3.0 * pred - 0.7
    mask = torch.rand(12, 10) > 0.3
    target[~mask] = 100.0  # outside the mask: must not matter
    scale, shift = align_depth(pred, target, mask)
    assert math.isclose(float(scale), 3.0, rel_tol=1e-4) and math.isclose(float(shift), -0.7, abs_tol=1e-4)
    with pytest.raises(ValueError, match="at least two valid pixels"):
        align_depth(pred, target, torch.zeros_like(mask))


def test_lift_puts_points_on_the_true_surface_and_sizes_them_by_the_footprint():
    scene = occluder_scene(3, 5)
    cam = _camera(16)
    view = render_view(scene, cam)
    mask = torch.isfinite(view["depth"])
    points, colors, footprint = lift_pixels(cam, view["depth"], view["rgb"], mask)
    origins, dirs = cam.rays()
    expected = (origins + dirs * view["distance"][..., None])[mask]
    torch.testing.assert_close(points, expected, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(footprint, view["depth"][mask] / cam.K[0, 0])
    g = gaussians_from_pixels(points, colors, footprint)
    torch.testing.assert_close(g.scales()[:, 0], footprint.clamp(min=1e-4), rtol=1e-5, atol=1e-7)


# --- occlusion volume -------------------------------------------------------------------------------------------


def _wall_grid():
    """A wall of occupied voxels 3 m in front of a camera at the origin looking along +y."""
    voxel = 0.5
    origin = torch.tensor([-3.0, 0.0, 0.0])
    grid = torch.zeros(12, 20, 8, dtype=torch.bool)
    grid[3:9, 6, 0:6] = True  # y in [3, 3.5)
    cam = look_at_camera((0.0, 0.0, 1.5), (0.0, 10.0, 1.5), 60.0, 32, 32)
    return grid, origin, voxel, cam


def test_occluded_grid_marks_the_space_just_behind_a_wall():
    grid, origin, voxel, cam = _wall_grid()
    occluded = occluded_grid(grid, origin, voxel, cam, ground=0.0, behind=2.0)
    assert not (occluded & grid).any()  # occupied voxels are never "occluded"
    assert occluded[6, 8, 3]  # centre (0.25, 4.25, 1.75): right behind the wall
    assert not occluded[6, 3, 3]  # in front of the wall
    assert not occluded[6, 14, 3]  # 4 m behind the wall, more than `behind`
    assert not occluded[6, 8, 0]  # below ground + voxel / 2
    assert not occluded[0, 8, 3]  # outside the wall's shadow (x = -2.75)
    wider = occluded_grid(grid, origin, voxel, cam, ground=0.0, behind=10.0)
    assert wider[6, 14, 3] and (wider | ~occluded).all()


def test_occluded_voxels_bounds_the_grid_and_rejects_far_points():
    grid, origin, voxel, cam = _wall_grid()
    i = grid.nonzero().float()
    points = origin + voxel * (i + 0.5)
    centres = occluded_voxels(points, cam, 0.0, OcclusionSettings(voxel, 15.0, 2.0))
    assert centres.shape[0] > 0 and (centres[:, 1] > 3.0).all() and (centres[:, 1] < 3.5 + 2.0 + voxel).all()
    with pytest.raises(ValueError, match="max_depth"):
        occluded_voxels(points + torch.tensor([0.0, 100.0, 0.0]), cam, 0.0, OcclusionSettings(voxel, 15.0, 2.0))
    assert occupancy_grid(points, origin, voxel, tuple(grid.shape)).equal(grid)


# --- rendering, losses, one-step sampling ------------------------------------------------------------------------


def test_render_layers_reports_the_occlusion_volumes_share():
    cam = _camera(16)
    near = volume_gaussians(torch.tensor([[0.0, 4.0, 1.2]]), 1.0)
    far = gaussians_from_pixels(torch.tensor([[0.0, 8.0, 1.2]]), torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([0.8]))
    both = merge_gaussians([far, near])
    layers = render_layers(both, torch.tensor([0.0, 1.0]), cam, torch.zeros(3))
    centre = layers.unknown[8, 8]
    assert centre > 0.8 and layers.alpha[8, 8] > 0.5  # the grey Gaussian is in front
    with pytest.raises(ValueError, match="one flag per Gaussian"):
        render_layers(both, torch.zeros(3), cam, torch.zeros(3))


def test_predict_x0_inverts_the_forward_process_and_denoise_from_handles_per_sample_levels():
    x0 = torch.rand(3, 3, 8, 8) * 2 - 1
    noise = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([100, 500, 900])
    oracle = lambda x_t, t_: noise  # noqa: E731 - knows the true noise
    torch.testing.assert_close(predict_x0(oracle, add_noise(x0, noise, t), t), x0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(denoise_from(oracle, add_noise(x0, noise, t), t, steps=4), x0, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="denoise_from"):
        ddim_timesteps(1, strength=0.3)


def test_distillation_target_has_no_gradient_and_the_loss_reaches_only_the_render():
    x = (torch.rand(1, 3, 16, 16) * 2 - 1).requires_grad_(True)
    eps_fn = lambda x_t, t: 0.1 * x_t  # noqa: E731
    t, noise = torch.tensor([400]), torch.randn(1, 3, 16, 16)
    x_hat = distillation_target(eps_fn, x, t, noise)
    assert not x_hat.requires_grad and x_hat.abs().max() <= 1
    a = alphas_cumprod()[400]
    torch.testing.assert_close(x_hat, (((add_noise(x.detach(), noise, t)) * (1 - 0.1 * (1 - a).sqrt())) / a.sqrt()).clamp(-1, 1))
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    loss = inpainting_distillation_loss(x, x_hat, mask, x.detach(), 1.0, 0.0, 1.0)
    loss.backward()
    assert (x.grad[..., :4, :] == 0).all() and x.grad[..., 4:12, 4:12].abs().sum() > 0  # anchor = render: only the fill term pulls


def test_depth_loss_is_minus_pearson_and_invariant_to_scale_and_shift():
    d = torch.rand(2, 8, 8) + 1
    mask = torch.ones(2, 8, 8, dtype=torch.bool)
    assert math.isclose(float(depth_distillation_loss(d, 3 * d + 2, mask)), -1.0, abs_tol=1e-4)
    assert math.isclose(float(depth_distillation_loss(d, -d, mask)), 1.0, abs_tol=1e-4)


# --- the test bench -----------------------------------------------------------------------------------------------


def test_true_disocclusions_appear_when_stepping_sideways_and_not_at_the_reference():
    scene = occluder_scene(3, 22)
    ref = reference_camera()
    same = true_views(scene, [ref], ref)
    assert int(same.disoccluded.sum()) == 0
    truth = true_views(scene, eval_cameras(), ref)
    assert truth.behind.float().mean() > 0.03 and truth.out_of_view.float().mean() > 0.02
    assert not (truth.behind & truth.out_of_view).any()


def test_ssim_map_is_one_for_identical_images():
    image = torch.rand(16, 16, 3)
    assert torch.allclose(ssim_map(image, image), torch.ones(1, 3, 16, 16), atol=1e-4)


def test_an_unknown_distillation_method_is_refused():
    with pytest.raises(ValueError, match="one of"):
        DistillSettings(method="vsd")


# --- the shipped runs and the claims ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_scores():
    from course_lib.benchmarks.realmdreamer import score_runs
    from course_lib.config import CHAPTER_06

    tensors = assets.load("ch06_runs")
    runs = load_runs(tensors)
    scenes = list(CHAPTER_06["test_scenes"].reduced)
    backgrounds = [tensors[f"background/{i}"] for i in range(len(scenes))]
    return score_runs(runs, scenes, backgrounds), tuple(CHAPTER_06["seeds"].reduced), len(scenes)


def test_the_shipped_runs_cover_every_variant_scene_and_seed(shipped_scores):
    scores, seeds, scenes = shipped_scores
    variants = {key[0] for key in scores}
    assert variants == {"start", "start_novolume", "inpaint", "sds", "novolume", "nodepth", "paperguidance"}
    assert all(math.isfinite(v) for s in scores.values() for v in s.values())
    assert len(scores) == 2 * scenes + 5 * scenes * len(seeds)


def test_each_asserted_claim_holds_in_the_shipped_runs(shipped_scores):
    from course_lib.benchmarks.realmdreamer import ASSERTED_CLAIMS

    scores, seeds, scenes = shipped_scores
    verdicts = {v.name: v for v in paired_verdicts(scores, seeds, scenes)}
    assert set(ASSERTED_CLAIMS) <= set(verdicts)
    for name in ASSERTED_CLAIMS:
        assert verdicts[name].verdict == REPRODUCES, verdicts[name].line()


def test_the_asserted_claim_fails_when_the_distillation_term_is_missing(shipped_scores):
    """A plausible bug: the loss keeps its anchors but the distillation terms never reach it (their weights zero, or
    the terms computed and not added). Real runs of that broken recipe, scored as the notebook scores; the asserted
    claim "distillation fills the unknown" must not hold. (A mask read the wrong way round is not enough to break
    it: the target also covers true disocclusions outside the fill mask, and the claim still holds.)"""
    from course_lib.benchmarks.realmdreamer import ASSERTED_CLAIMS, chapter_settings, initial_scene, training_poses
    from course_lib.config import CHAPTER_06
    from course_lib.text_to_3d.realmdreamer.optimise import variant
    from course_lib.text_to_3d.realmdreamer.stand_ins import StandIns

    scores, seeds, _ = shipped_scores
    scenes = list(CHAPTER_06["test_scenes"].reduced)[:2]
    stand_ins = StandIns.load(CHAPTER_06["ddim_steps"].reduced, CHAPTER_06["scale_text"].reduced)
    settings = variant(chapter_settings(), steps=60, image_weight=0.0, ssim_weight=0.0, depth_weight=0.0)
    broken = dict(scores)
    cams, ref = eval_cameras(), reference_camera()
    for i, (label, seed) in enumerate(scenes):
        scene = occluder_scene(label, seed)
        init = initial_scene(scene, stand_ins)
        truth = true_views(scene, cams, ref)
        for s in seeds:
            g = distill(init, training_poses(), scene.prompt, stand_ins.guided, stand_ins.depth_batch, settings, s)
            broken[("inpaint", i, s)] = score(g, cams, truth, init.background)
    verdicts = {v.name: v for v in paired_verdicts(broken, seeds, len(scenes))}
    for name in ASSERTED_CLAIMS:
        assert verdicts[name].verdict != REPRODUCES, verdicts[name].line()


def test_full_scale_models_build_on_meta_and_stop_clearly_without_a_gpu():
    from course_lib.text_to_3d.realmdreamer import full_scale

    counts = full_scale.build_on_meta()
    assert 860 < counts.inpainting_unet < 870 and 860 < counts.depth_unet < 870
    assert counts.guided_eps_shape == (1, 4, 64, 64)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            full_scale.require_hub()
