"""Chapter 07 (Urban Architect): the layout, layout-constrained sampling, the street field's fitting, LG-VSD and its
estimator, the drive regime's bookkeeping, the verdicts, and that each claim the notebook asserts can fail."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.benchmarks import urban_architect as bench
from course_lib.claims import FAILS, REPRODUCES, TIE
from course_lib.diffusion.distillation import vsd_loss
from course_lib.geometry import look_at_camera
from course_lib.text_to_3d.urban_architect import guidance
from course_lib.text_to_3d.urban_architect.layout import LayoutBoxes, first_hit, layout_near_far, render_layout
from course_lib.text_to_3d.urban_architect.street import (
    FieldSettings, RenderSettings, camera_rays, cells_field, drive_window, field_parameters, fit_views, fixed_field, render_rays,
)


def boxes_of(rows):
    centre, yaw, half, label = zip(*rows)
    n = len(rows)
    return LayoutBoxes(torch.tensor(centre, dtype=torch.float32), torch.tensor(yaw, dtype=torch.float32),
                       torch.tensor(half, dtype=torch.float32), torch.tensor(label), torch.arange(1, n + 1))


def test_near_far_band_sits_on_the_first_surface_a_march_finds():
    boxes = boxes_of([((5.0, 0.0, 1.0), 0.4, (1.0, 2.0, 1.0), 4), ((9.0, 1.0, 1.0), -0.3, (1.5, 1.0, 2.0), 6), ((3.0, -3.0, 0.5), 0.0, (0.5, 0.5, 0.5), 5)])
    gen = torch.Generator().manual_seed(0)
    origins = torch.tensor([0.0, 0.0, 1.0]) + 0.5 * torch.randn(300, 3, generator=gen)
    directions = torch.nn.functional.normalize(torch.tensor([1.0, 0.0, 0.0]) + 0.6 * torch.randn(300, 3, generator=gen), dim=-1)
    near, far, hit = layout_near_far(origins, directions, boxes, 1.0, 0.5)
    steps = torch.linspace(0, 30, 30001)
    from course_lib.fields import Box

    solids = [Box(tuple(c.tolist()), float(y), tuple(h.tolist())) for c, y, h in zip(boxes.centre, boxes.yaw, boxes.half_size)]
    assert 30 < hit.sum() < 290
    for r in range(300):
        points = origins[r] + steps[:, None] * directions[r]
        inside = torch.stack([b.contains(points) for b in solids]).any(0)
        if hit[r]:
            t_hit = float(steps[inside.nonzero()[0, 0]])
            assert far[r] - 0.5 == pytest.approx(t_hit, abs=2e-3)
            assert near[r] == pytest.approx(max(t_hit - 1.0, 0.0), abs=2e-3)
        else:
            assert not inside.any() and near[r] == 0 and far[r] == 0


def test_layout_render_sees_the_box_in_front_and_the_sky_above():
    boxes = boxes_of([((6.0, 0.0, 1.0), 0.0, (1.0, 3.0, 1.0), 4), ((0.0, 0.0, -0.25), 0.0, (50.0, 50.0, 0.25), 1)])
    camera = look_at_camera((0.0, 0.0, 1.0), (6.0, 0.0, 1.0), 60.0, 16, 16)
    out = render_layout(boxes, [camera])
    assert out.semantic[0, 8, 8] == 4 and out.depth[0, 8, 8] == pytest.approx(5.0, abs=1e-4)
    assert out.semantic[0, 0, 8] == 0 and out.depth[0, 0, 8] == 30.0  # above the box: sky, depth saturated
    assert out.semantic[0, 15, 0] in (1, 4)
    assert out.palette.shape == (1, 3, 16, 16) and out.palette.min() >= -1 and out.palette.max() <= 1


def test_a_ray_starting_inside_a_box_hits_it_at_zero():
    boxes = boxes_of([((0.0, 0.0, 0.0), 0.0, (1.0, 1.0, 1.0), 4)])
    t, index, hit = first_hit(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]]), boxes)
    assert hit.item() and t.item() == 0 and index.item() == 0


def test_layout_edits_move_and_remove_boxes():
    boxes = boxes_of([((0.0, 0.0, 0.0), 0.0, (1.0, 1.0, 1.0), 4), ((5.0, 0.0, 0.0), 0.0, (1.0, 1.0, 1.0), 6)])
    assert len(boxes.without([1])) == 1 and boxes.without([1]).instance.tolist() == [2]
    assert boxes.moved(2, (3.0, 0.0, 0.0)).centre[1, 0] == 8.0 and boxes.centre[1, 0] == 5.0
    with pytest.raises(ValueError, match="LayoutBoxes needs"):
        LayoutBoxes(torch.zeros(2, 3), torch.zeros(3), torch.ones(2, 3), torch.zeros(2), torch.zeros(2))


def test_drive_window_advances_over_every_view_and_keeps_its_width():
    windows = [drive_window(s, 600, 89, 8) for s in range(600)]
    assert windows[0] == (0, 8) and windows[-1] == (81, 89)
    assert all(b - a == 8 for a, b in windows)
    assert all(a2 >= a1 for (a1, _), (a2, _) in zip(windows, windows[1:]))


def small_street():
    boxes = boxes_of([((0.0, 0.0, -0.25), 0.0, (60.0, 30.0, 0.25), 1), ((6.0, 6.0, 2.0), 0.0, (8.0, 1.0, 2.0), 4),
                      ((22.0, -6.0, 2.0), 0.0, (8.0, 1.0, 2.0), 4)])
    cameras = [look_at_camera((x, 0.0, 1.5), (x + 10.0, 0.0, 0.5), 60.0, 8, 8) for x in range(0, 20, 2)]
    origins, directions = camera_rays(cameras)
    targets = torch.rand(len(cameras), 64, 3, generator=torch.Generator().manual_seed(0))
    return boxes, origins, directions, targets


def test_the_drive_creates_cells_as_the_camera_advances_and_trains_them():
    boxes, origins, directions, targets = small_street()
    settings = FieldSettings(levels=2, features=2, log2_table=6, min_res=2, max_res=4, hidden=8)
    field = cells_field(settings)
    torch.manual_seed(0)
    counts = []
    for steps in (1, 30):
        fit_views(field, origins, directions, targets, boxes, RenderSettings(samples=4, sky_distance=12.0), steps, 64, 1e-2, 0,
                  window=lambda s: (0, 2) if steps == 1 else drive_window(s, steps, 10, 2))
        counts.append(field.background.num_cells())
    assert counts[0] < counts[1], "cells further down the road appear only once the camera gets there"
    first = field.background.cells[min(field.background.cells, key=int)]
    snapshot = first.grid.tables[0].detach().clone()
    fit_views(field, origins, directions, targets, boxes, RenderSettings(samples=4, sky_distance=12.0), 5, 64, 1e-2, 1)
    assert not torch.equal(snapshot, first.grid.tables[0]), "cells created on the way must be in the optimiser"


def test_the_sky_term_makes_surfaces_opaque_and_leaves_rays_that_miss_the_layout_alone():
    """With the sky term, rays that enter the layout end opaque; it adds nothing for rays that see the sky alone."""
    boxes, origins, directions, targets = small_street()
    settings = FieldSettings(levels=2, features=2, log2_table=6, min_res=2, max_res=4, hidden=8)
    render = RenderSettings(samples=4, sky_distance=12.0)
    opacity = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        field = cells_field(settings)
        fit_views(field, origins, directions, targets, boxes, render, 60, 128, 1e-2, 0, sky_weight=weight)
        with torch.no_grad():
            out = render_rays(field, origins.reshape(-1, 3), directions.reshape(-1, 3), boxes, render)
        opacity[weight] = float(out.opacity[out.hit].mean())
        assert torch.all(out.opacity[~out.hit] == 0)
    assert opacity[1.0] > opacity[0.0] + 0.05 and opacity[1.0] > 0.9, opacity
    with pytest.raises(ValueError, match="sky_weight"):
        fit_views(cells_field(settings), origins, directions, targets, boxes, render, 1, 8, 1e-2, 0, sky_weight=-0.1)


def test_the_stretch_driven_past_first_is_the_near_views_surfaces_before_passed_x():
    drive = bench.drive_setup()
    truth = bench.truth_views(drive.street, drive.eval_cameras[:2])
    x = truth.x[truth.surface]
    assert torch.isfinite(x).all() and torch.isinf(truth.x[~truth.surface]).all()
    assert (x < bench.PASSED_X).any() and (x >= bench.PASSED_X).any(), "the first views see both the stretch and beyond it"
    camera = drive.eval_cameras[0]
    assert float(x.min()) >= float(camera.position[0]) - 1e-4, "a camera looking ahead sees nothing behind it"


def test_fixed_grid_is_empty_outside_its_box_and_its_parameters_do_not_grow():
    settings = FieldSettings(levels=2, features=2, log2_table=6, min_res=2, max_res=4, hidden=8)
    field = fixed_field(settings, (0.0, 16.0), 100, 2, 8)
    before = field_parameters(field)
    density, _ = field.background(torch.tensor([[-1.0, 0.0, 0.0], [8.0, 0.0, 1.0]]))
    assert density[0] == 0 and density[1] > 0 and field_parameters(field) == before
    assert field.background.field.grid.table_size == 100


def test_vsd_gradient_is_the_stop_gradient_loss_gradient_and_sds_when_the_estimator_is_the_noise():
    gen = torch.Generator().manual_seed(1)
    x, noise = torch.rand(2, 3, 8, 8, generator=gen) * 2 - 1, torch.randn(2, 3, 8, 8, generator=gen)
    t = torch.tensor([30, 600])
    eps_a, eps_b = (lambda x_t, t_: 0.5 * x_t), (lambda x_t, t_: -0.2 * x_t + 0.1)
    grad = guidance.vsd_gradient(eps_a, eps_b, x, t, noise)
    x_req = x.clone().requires_grad_(True)
    vsd_loss(eps_a, eps_b, x_req, t, noise).backward()
    torch.testing.assert_close(grad, x_req.grad)
    torch.testing.assert_close(guidance.sds_gradient(eps_a, x, t, noise), guidance.vsd_gradient(eps_a, lambda x_t, t_: noise, x, t, noise))
    x_req.grad = None
    guidance.distillation_loss(x_req, grad).backward()
    torch.testing.assert_close(x_req.grad, grad)


def test_estimator_loss_drops_the_camera_at_the_asked_rate_and_leaves_the_render_alone():
    seen = []

    def eps(x_t, t, pose):
        seen.append((pose == 0).all(dim=1))
        return x_t * 0 + pose.sum(dim=1).view(-1, 1, 1, 1)

    x = torch.rand(4000, 1, 1, 1, requires_grad=True)
    loss = guidance.estimator_loss(eps, x, torch.full((4000,), 10), torch.zeros(4000, 1, 1, 1), torch.ones(4000, 12), 0.1,
                                   torch.Generator().manual_seed(0))
    assert 0.08 < float(seen[-1].float().mean()) < 0.12
    assert not loss.requires_grad, "the render is detached: only the estimator learns from this loss"


def test_particle_estimator_starts_as_the_prior_and_learns_the_camera():
    from course_lib.priors import load_prior

    prior = load_prior("prior_layout")
    estimator = guidance.ParticleEstimator(prior, 2)
    tokens, extra = prior.text.null(1), torch.zeros(1, 8, 32, 32)
    x_t, t, pose = torch.randn(1, 3, 32, 32), torch.tensor([400]), torch.randn(1, 12)
    with torch.no_grad():
        assert torch.equal(estimator(x_t, t, tokens, extra, pose), prior(x_t, t, tokens, extra))
    assert all(not p.requires_grad for p in prior.parameters()), "the prior must stay frozen"
    assert estimator.num_trainable() == sum(p.numel() for n, p in estimator.named_parameters() if "lora_" in n or n.startswith("camera."))
    optimiser = torch.optim.SGD(estimator.trainable_parameters(), lr=0.1)
    loss = ((estimator(x_t, t, tokens, extra, pose) - torch.randn(1, 3, 32, 32)) ** 2).mean()
    loss.backward()
    optimiser.step()
    with torch.no_grad():
        assert not torch.equal(estimator(x_t, t, tokens, extra, pose), estimator(x_t, t, tokens, extra, None)), "the camera must now matter"


def test_paired_verdicts_reproduce_tie_and_fail():
    up = bench.paired_verdict("up", {0: [1.0, 1.2, 0.9], 1: [1.1, 1.0, 1.3]}, {0: [0.5, 0.6, 0.4], 1: [0.6, 0.5, 0.7]})
    tie = bench.paired_verdict("tie", {0: [1.0, 0.2, 0.9], 1: [0.1, 1.0, 0.3]}, {0: [0.5, 0.6, 0.4], 1: [0.6, 0.5, 0.7]})
    down = bench.paired_verdict("down", {0: [0.5, 0.6, 0.4], 1: [0.6, 0.5, 0.7]}, {0: [1.0, 1.2, 0.9], 1: [1.1, 1.0, 1.3]})
    one_seed_against = bench.paired_verdict("mixed", {0: [2.0, 2.1, 2.2, 2.0], 1: [0.9, 0.95, 0.9, 0.92]}, {0: [1.0] * 4, 1: [1.0] * 4})
    assert (up.verdict, tie.verdict, down.verdict) == (REPRODUCES, TIE, FAILS)
    assert one_seed_against.verdict == TIE, "a claim must hold for every seed, not only on average"
    with pytest.raises(ValueError, match="same seeds"):
        bench.paired_verdict("bad", {0: [1.0]}, {1: [1.0]})


def test_miou_counts_classes_in_either_map():
    truth = torch.tensor([[0, 0], [1, 1]])
    assert bench.miou(truth, truth) == 1.0
    assert bench.miou(torch.tensor([[0, 0], [1, 2]]), truth) == pytest.approx((1.0 + 0.5 + 0.0) / 3)


# ---------------------------------------------------------------- each claim the notebook asserts can fail

def test_hash_claim_holds_for_the_reference_and_fails_for_a_hash_that_never_indexes_one_to_one():
    from course_lib.fields import DenseGrid, level_corners, spatial_hash
    from course_lib.fields.hash_grid import cell_corners

    torch.manual_seed(0)
    dense = DenseGrid(levels=4, features=2, min_res=2, max_res=16, bounds=((0, 0, 0), (1, 1, 1)))
    for table in dense.tables:
        table.data.normal_()
    points = torch.rand(2000, 3)
    largest = max((r + 1) ** 3 for r in dense.resolutions)
    rows = bench.hash_vs_dense(level_corners, dense, points, largest) + bench.hash_vs_dense(level_corners, dense, points, largest // 8)
    assert bench.hash_claim_holds(rows)

    def always_hash(points01, resolution, table_size):
        corners, weights = cell_corners(points01, resolution)
        return spatial_hash(corners, table_size), weights

    broken = bench.hash_vs_dense(always_hash, dense, points, largest) + bench.hash_vs_dense(always_hash, dense, points, largest // 8)
    assert not bench.hash_claim_holds(broken)
    assert not bench.hash_claim_holds(bench.hash_vs_dense(level_corners, dense, points, largest)), "a claim about collisions needs a level that overflows"


def test_growth_claim_fails_for_a_grid_that_does_not_grow():
    assert bench.parameters_grow([10, 10, 20, 30])
    assert not bench.parameters_grow([30, 30, 30]) and not bench.parameters_grow([10, 20, 15, 30])


@pytest.fixture(scope="module")
def runs():
    from course_lib import assets

    return assets.load("ch07_runs")


def test_drive_verdicts_are_computed_from_the_shipped_fields_and_the_asserted_one_fails_when_the_fields_swap(runs):
    """The drive verdicts come from scoring the shipped fields. The asserted claim (the cells keep the stretch driven
    past first better than the equal-parameter grid) holds on them, and with the two fields swapped (a single grid
    scored as if it were the cells) the same verdict is "does not reproduce"."""
    drive = bench.drive_setup()
    truth = bench.truth_views(drive.street, drive.eval_cameras)
    scores = {(kind, s): bench.drive_scores(bench.load_field(runs, f"drive/{kind}/{s}/", bench.drive_fields(drive)[kind]), drive, truth)
              for kind in bench.DRIVE_KINDS for s in (0, 1)}
    verdicts = bench.drive_comparisons(scores, (0, 1))
    assert len(verdicts) == 6
    assert all(len(near) == len(passed) == bench.NEAR_VIEWS and len(far) == bench.FAR_VIEWS for near, passed, far in scores.values())
    assert all(math.isfinite(x) and 5 < x < 50 for k in scores for part in scores[k] for x in part)
    name = "surface PSNR near the start, the stretch driven past first, equal-parameter grid -> cells"
    assert name in bench.ASSERTED_CLAIMS
    (asserted,) = [v for v in verdicts if v.name == name]
    assert asserted.holds, asserted.line()
    swapped = {(kind, s): scores[{"cells": "equal_params", "equal_params": "cells"}.get(kind, kind), s] for kind, s in scores}
    (broken,) = [v for v in bench.drive_comparisons(swapped, (0, 1)) if v.name == name]
    assert broken.gain == pytest.approx(-asserted.gain) and broken.verdict == FAILS and not broken.holds


def test_adherence_claim_fails_when_the_layout_reaches_the_prior_with_its_classes_mislabelled(runs):
    """25 live steps per run, 2 seeds: LG-VSD beats VSD without the layout; with the condition's class channels in the
    wrong order (a plausible exercise-07-4 bug) the same comparison no longer reproduces."""
    from course_lib.priors import load_prior, load_segmenter
    from course_lib.priors.data import layout_condition
    from course_lib.text_to_3d.urban_architect.distill import DistillSettings, distill, variant

    guide, prior, segmenter = bench.guide_setup(), load_prior("prior_layout"), load_segmenter()
    layout = render_layout(guide.boxes, guide.eval_cameras, bench.GUIDE_RENDER.sky_distance)
    relabel = torch.tensor([0, 4, 1, 6, 2, 3, 5])

    def mislabelled(semantic, depth):
        return layout_condition(relabel[semantic], depth)

    scores = {}
    for name, layout_on, condition_fn in (("lg", True, layout_condition), ("vsd", False, layout_condition), ("lg_wrong", True, mislabelled)):
        scores[name] = {}
        for s in (0, 1):
            start = bench.load_field(runs, f"init/{s}/", cells_field(bench.GUIDE_FIELD))
            out = distill(start, guide.cameras, guide.boxes, bench.PROMPT, prior, variant(DistillSettings(steps=25), layout=layout_on),
                          bench.GUIDE_RENDER, s, condition_fn=condition_fn)
            images = bench.render_views(out, guide.eval_cameras, guide.boxes, bench.GUIDE_RENDER)[0]
            scores[name][s] = bench.adherence(images, layout.semantic, segmenter)
    assert bench.paired_verdict("right", scores["lg"], scores["vsd"]).verdict == REPRODUCES
    assert bench.paired_verdict("mislabelled", scores["lg_wrong"], scores["vsd"]).verdict != REPRODUCES


def test_rays_that_reach_an_object_are_sampled_through_its_whole_box():
    from course_lib.fields import Box, ObjectField
    from course_lib.text_to_3d.urban_architect import street as street_module

    boxes = boxes_of([((6.0, 0.0, 1.0), 0.0, (2.0, 1.0, 1.0), 6)])  # the car in the layout: 4 units deep along x
    field = cells_field(FieldSettings(levels=2, features=2, log2_table=6, min_res=2, max_res=4, hidden=8))
    field.objects["car"] = ObjectField(Box((6.0, 0.0, 1.0), 0.0, (2.0, 1.0, 1.0)), levels=2, features=2, log2_table=6, min_res=2, max_res=4, hidden=8)
    seen = {}
    original = field.render

    def spy(origins, directions, near, far, *args, **kwargs):
        seen["near"], seen["far"] = near.clone(), far.clone()
        return original(origins, directions, near, far, *args, **kwargs)

    field.render = spy
    origins, directions = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    out = street_module.render_rays(field, origins, directions, boxes, RenderSettings(samples=4, front=1.0, back=0.5), stratified=False)
    assert out.hit.tolist() == [True, False]
    assert seen["near"].tolist() == pytest.approx([3.0]) and seen["far"].tolist() == pytest.approx([8.0]), "band [3, 4.5] extended to the exit at 8"


def test_depth_errors_are_bounded_by_the_band_and_grow_when_the_layout_is_elsewhere(runs):
    from types import SimpleNamespace

    guide = bench.guide_setup()
    layout = render_layout(guide.boxes, guide.eval_cameras[:3], bench.GUIDE_RENDER.sky_distance)
    field = bench.load_field(runs, "init/0/", cells_field(bench.GUIDE_FIELD))
    errors = bench.depth_errors(field, guide.eval_cameras[:3], guide.boxes, bench.GUIDE_RENDER, layout)
    assert all(0 < e <= bench.GUIDE_RENDER.front + 1e-4 for e in errors), errors
    shifted = SimpleNamespace(semantic=layout.semantic, distance=layout.distance + 3.0)
    far_off = bench.depth_errors(field, guide.eval_cameras[:3], guide.boxes, bench.GUIDE_RENDER, shifted)
    assert all(f > 3.0 - bench.GUIDE_RENDER.back - 1e-4 and f > e for f, e in zip(far_off, errors)), far_off
