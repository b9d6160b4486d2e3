"""course_lib.scenes and course_lib.geometry: determinism, exact geometry, panoramas, tangent images, prompts and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.geometry import (
    Camera,
    backproject,
    direction_to_equirect,
    equirect_directions,
    equirect_to_tangent,
    look_at,
    look_at_camera,
    panorama_points,
    sample_equirect,
    tangent_cameras,
    tangent_to_equirect,
)
from course_lib.scenes import (
    Box,
    Ellipsoid,
    GroundPlane,
    Scene,
    UnknownPromptWordError,
    class_id,
    object_scene,
    outdoor_scene,
    parse_prompt,
    render_many,
    render_panorama,
    render_view,
    room_scene,
    scene_from_prompt,
    street_scene,
    surroundings_scene,
)
from course_lib.scenes.vocabulary import ObjectPhrase


@pytest.mark.parametrize("builder", [outdoor_scene, room_scene, surroundings_scene, street_scene, object_scene])
def test_same_seed_same_images_other_seed_other_images(builder):
    cam = look_at_camera((0.5, -1.0, 1.7), (0.0, 6.0, 0.8), 70.0, 48, 40)
    a, b, c = render_view(builder(3), cam), render_view(builder(3), cam), render_view(builder(4), cam)
    for key in ("rgb", "depth", "semantic", "instance"):
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["rgb"], c["rgb"])
    assert builder(3).prompt == builder(3).prompt


def test_ground_plane_depth_is_the_camera_height():
    scene = Scene([GroundPlane("ground", 1, (0.3, 0.6, 0.3), "grass")])
    cam = look_at_camera((0.3, -0.2, 2.5), (0.3, -0.2, 0.0), 60.0, 32, 24, up=(0.0, 1.0, 0.0))
    out = render_view(scene, cam)
    assert torch.allclose(out["depth"], torch.full((24, 32), 2.5), atol=1e-4)
    # distance along the ray = depth / cos(angle to the optical axis)
    assert torch.allclose(out["distance"] * cam.z_per_unit_distance(), out["depth"], atol=1e-5)
    assert (out["semantic"] == class_id("ground")).all()
    points = backproject(cam, out["depth"])
    assert torch.allclose(points[..., 2], torch.zeros(24, 32), atol=1e-4)


def test_box_face_depth_and_edge_match_the_geometry():
    # A box whose front face is the plane y = 4, spanning x in [-1, 1]; camera at the origin looking along +y.
    box = Box("building", 1, (0.8, 0.2, 0.2), "facade", center=(0.0, 5.0, 0.0), half_size=(1.0, 1.0, 3.0))
    cam = look_at_camera((0.0, 0.0, 0.0), (0.0, 1.0, 0.0), 60.0, 64, 16)
    out = render_view(Scene([box]), cam)
    # image x of a pixel centre at the face, in world units: (j + 0.5 - cx) / fx * depth
    j = torch.arange(64) + 0.5
    x_at_face = (j - cam.K[0, 2]) / cam.K[0, 0] * 4.0
    expected_hit = x_at_face.abs() <= 1.0
    row = out["semantic"][8]
    assert torch.equal(row == class_id("building"), expected_hit)
    assert torch.allclose(out["depth"][8][expected_hit], torch.full((int(expected_hit.sum()),), 4.0), atol=1e-4)
    assert torch.isinf(out["depth"][8][~expected_hit]).all()
    assert (out["instance"][8][expected_hit] == 1).all() and (out["instance"][8][~expected_hit] == 0).all()


def test_sphere_distance_and_normal():
    ball = Ellipsoid("ball", 1, (1.0, 0.2, 0.1), "plain", center=(0.0, 6.0, 0.0), radii=(1.5, 1.5, 1.5))
    cam = look_at_camera((0.0, 0.0, 0.0), (0.0, 1.0, 0.0), 40.0, 33, 33)
    out = render_view(Scene([ball]), cam)
    assert abs(float(out["distance"][16, 16]) - 4.5) < 1e-3  # centre ray hits the sphere's front pole
    assert torch.allclose(out["normal"][16, 16], torch.tensor([0.0, -1.0, 0.0]), atol=1e-3)


def test_render_many_equals_single_renders():
    scene = street_scene(1)
    cams = [look_at_camera((x, 0.0, 1.6), (x + 10.0, 0.0, 1.0), 70.0, 32, 24) for x in (0.0, 5.0)]
    batch = render_many(scene, cams)
    for k, cam in enumerate(cams):
        single = render_view(scene, cam)
        assert torch.equal(batch["semantic"][k], single["semantic"])
        assert torch.allclose(batch["rgb"][k], single["rgb"])


def test_street_semantics_follow_the_layout():
    scene = street_scene(0)
    down = look_at_camera((10.0, 0.0, 5.0), (10.0, 0.0, 0.0), 30.0, 16, 16, up=(1.0, 0.0, 0.0))
    assert (render_view(scene, down)["semantic"] == class_id("road")).float().mean() > 0.9
    side = look_at_camera((10.0, 4.0, 5.0), (10.0, 4.0, 0.0), 10.0, 8, 8, up=(1.0, 0.0, 0.0))
    labels = render_view(scene, side)["semantic"]
    assert ((labels == class_id("sidewalk")) | (labels == class_id("tree"))).all()
    kinds = {row["cls"] for row in scene.layout()}
    assert {"road", "sidewalk", "building", "tree", "car"} <= kinds


def test_panorama_wraps_around():
    scene = surroundings_scene(2)
    H, W, k = 32, 64, 5
    pano = render_panorama(scene, (0.0, 0.0, 1.5), H, W)
    turned = render_panorama(scene, (0.0, 0.0, 1.5), H, W, yaw=2 * math.pi * k / W)
    # turning left by k columns = rolling the image right: column W-1 of the original is followed by its column 0
    rolled = torch.roll(pano["semantic"], k, dims=1)
    assert (turned["semantic"] == rolled).float().mean() > 0.995
    assert (turned["rgb"] - torch.roll(pano["rgb"], k, dims=1)).abs().mean() < 0.01
    # no seam: the jump from the last column to the first is like any other neighbouring pair
    rgb = pano["rgb"]
    steps = (rgb - torch.roll(rgb, -1, dims=1)).abs().mean(dim=(0, 2))  # (W,), last entry = seam
    assert steps[-1] <= 2.0 * steps[:-1].mean() + 1e-3


def test_panorama_reads_like_a_pinhole_view_not_mirrored():
    # a car ahead and to the left (+y) of a viewer at the origin looking along +x (the panorama's centre column)
    scene = Scene([Box("car", 1, (1.0, 0.0, 0.0), "plain", center=(5.0, 2.0, 0.0), half_size=(0.5, 0.5, 0.5))])
    view = render_view(scene, look_at_camera((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), 90.0, 32, 32))
    pano = render_panorama(scene, (0.0, 0.0, 0.0), 16, 64)
    view_cols = torch.nonzero(view["instance"].any(dim=0)).flatten()
    pano_cols = torch.nonzero(pano["instance"].any(dim=0)).flatten()
    assert len(view_cols) and len(pano_cols)
    assert view_cols.max() < 16 and pano_cols.max() < 32  # left of centre in both images
    assert pano_cols.min() > 16  # and within the front half of the panorama


def test_panorama_distances_lift_to_the_scene_surfaces():
    scene = surroundings_scene(0)
    center = (0.3, -0.2, 1.5)
    pano = render_panorama(scene, center, 16, 32, yaw=0.7)
    points = panorama_points(center, pano["distance"], yaw=0.7)
    ground = pano["semantic"] == class_id("ground")
    assert ground.sum() > 50 and torch.allclose(points[ground][:, 2], torch.zeros(int(ground.sum())), atol=1e-4)
    sky = pano["semantic"] == 0
    assert sky.any() and not torch.isfinite(points[sky]).any()
    # every other point lies on the surface of a primitive of its pixel's instance (a wrong yaw or centre breaks this)
    pk = scene.packed()

    def surface_residual(pts: torch.Tensor, instance: int) -> float:
        best = torch.full((pts.shape[0],), float("inf"))
        for p in torch.nonzero(pk.instance == instance).flatten().tolist():
            local = (pts - pk.center[p]) @ pk.rot[p]
            if p in pk.box_idx.tolist():
                res = ((local.abs() - pk.size[p]).max(dim=-1).values).abs()
            else:
                res = ((local / pk.size[p]).norm(dim=-1) - 1.0).abs()
            best = torch.minimum(best, res)
        return float(best.max())

    objects = ~ground & ~sky
    instances = pano["instance"][objects].unique().tolist()
    assert len(instances) > 5
    for instance in instances:
        mask = objects & (pano["instance"] == instance)
        assert surface_residual(points[mask], instance) < 1e-3
    wrong = panorama_points(center, pano["distance"], yaw=0.0)
    assert max(surface_residual(wrong[objects & (pano["instance"] == i)], i) for i in instances) > 0.1
    with pytest.raises(ValueError, match="panorama"):
        panorama_points(center, pano["distance"][None])


def test_equirect_pixel_direction_round_trip_and_seam_sampling():
    dirs = equirect_directions(16, 32)
    row, col = direction_to_equirect(dirs, 16, 32)
    i, j = torch.meshgrid(torch.arange(16.0), torch.arange(32.0), indexing="ij")
    assert torch.allclose(row, i, atol=1e-4) and torch.allclose(col, j, atol=1e-4)
    pano = torch.zeros(16, 32, 1)
    pano[:, 0], pano[:, -1] = 1.0, 3.0
    seam_dir = torch.tensor([[-1.0, 0.0, 0.0]])  # longitude pi: halfway between column W-1 and column 0
    assert torch.allclose(sample_equirect(pano, seam_dir), torch.tensor([[2.0]]), atol=1e-4)


def test_tangent_images_round_trip_to_the_panorama():
    H, W = 64, 128
    dirs = equirect_directions(H, W)
    smooth = torch.stack([0.5 + 0.4 * dirs[..., 0], 0.5 + 0.3 * dirs[..., 1] * dirs[..., 2], 0.5 + 0.4 * dirs[..., 2] ** 2], dim=-1)
    for fov in (80.0, 100.0):  # the FoV is configurable; DreamScene360 uses 80°
        tiles = equirect_to_tangent(smooth, fov_deg=fov, size=48)
        assert tiles.shape == (20, 48, 48, 3)
        back = tangent_to_equirect(tiles, fov, H, W)
        assert (back - smooth).abs().max() < 0.02
    # labels: tiles rendered straight from the scene, stitched with nearest sampling, match the panorama render
    scene = surroundings_scene(1)
    pano = render_panorama(scene, (0.0, 0.0, 1.5), H, W)
    cams = tangent_cameras(80.0, 48, center=(0.0, 0.0, 1.5))
    labels = render_many(scene, cams)["semantic"].unsqueeze(-1)
    stitched = tangent_to_equirect(labels, 80.0, H, W, mode="nearest")[..., 0]
    assert (stitched == pano["semantic"]).float().mean() > 0.97


def test_prompts_parse_and_build():
    phrases, setting = parse_prompt("a red house beside two green trees in a park")
    assert phrases == [ObjectPhrase(1, "red", "house"), ObjectPhrase(2, "green", "tree")] and setting == "park"
    scene = scene_from_prompt("a red house beside two green trees", seed=0)
    instances = {p.instance for p in scene.primitives if p.cls in ("building", "tree")}
    assert len(instances) == 3
    assert scene.prompt == "a red house beside two green trees"
    assert room_scene(0).prompt.endswith("in a room") and parse_prompt(outdoor_scene(7).prompt)


def test_bad_input_gives_clear_errors():
    with pytest.raises(UnknownPromptWordError, match="dragon"):
        scene_from_prompt("a red dragon beside two green trees")
    with pytest.raises(UnknownPromptWordError, match="'5'"):  # not silently "red cars" (= two)
        scene_from_prompt("5 red cars in a street")
    with pytest.raises(UnknownPromptWordError, match="café"):
        scene_from_prompt("a red house near a café")
    assert parse_prompt("A red house, beside two green trees!")[0] == parse_prompt("a red house beside two green trees")[0]
    with pytest.raises(ValueError, match="empty scene"):
        Scene([])
    with pytest.raises(ValueError, match="non-finite"):
        look_at_camera((float("nan"), 0.0, 1.0), (0.0, 1.0, 0.0), 60.0, 8, 8)
    bad = torch.eye(4)
    bad[0, 3] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        Camera(torch.eye(3) * 10, bad, 8, 8)
    with pytest.raises(ValueError, match="looking nowhere"):
        look_at((1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="too narrow"):
        tangent_cameras(fov_deg=60.0)
    with pytest.raises(ValueError, match="must be positive"):
        render_panorama(surroundings_scene(0), (0.0, 0.0, 1.5), 0, 64)
    with pytest.raises(ValueError, match="NaN or inf centre"):
        render_view(Scene([Box("box", 1, (1.0, 0.0, 0.0), center=(0.0, float("nan"), 0.0))]), look_at_camera((0, -5, 0), (0, 0, 0), 60.0, 8, 8))


def test_moving_a_car_shows_in_the_next_render():
    scene = street_scene(0)
    car = next(p for p in scene.primitives if p.cls == "car")
    cam = look_at_camera((car.center[0], car.center[1], 6.0), car.center, 30.0, 16, 16, up=(1.0, 0.0, 0.0))
    before = render_view(scene, cam)["instance"]
    assert (before == car.instance).any()
    for part in (p for p in scene.primitives if p.instance == car.instance):
        part.center = (part.center[0] + 30.0, part.center[1], part.center[2])
    assert not (render_view(scene, cam)["instance"] == car.instance).any()


def test_orbit_and_drive_trajectories():
    from course_lib.geometry import drive_cameras, orbit_cameras

    center = torch.tensor([1.0, 2.0, 0.5])
    for cam in orbit_cameras(center, radius=4.0, height=2.0, num=6, fov_deg=60.0, size=32):
        p = cam.viewmat @ torch.cat([center, torch.ones(1)])
        uv = cam.K @ p[:3] / p[2]
        assert torch.allclose(uv[:2], torch.tensor([16.0, 16.0]), atol=1e-4)  # the centre projects to the image centre
        offset = cam.position - center
        assert abs(float(offset[:2].norm()) - 4.0) < 1e-4 and abs(float(offset[2]) - 2.0) < 1e-4
    cams = orbit_cameras(center, radius=4.0, height=2.0, num=3, fov_deg=60.0, size=8)
    assert cams.index(cams[2]) == 2 and cams[0] != cams[1]  # cameras compare by identity, without tensor ambiguity
    drive = drive_cameras((0.0, 0.0, 1.6), (1.0, 0.0, 0.0), step=2.0, num=4, fov_deg=70.0, width=32, height=24)
    positions = torch.stack([c.position for c in drive])
    assert torch.allclose(positions[1:] - positions[:-1], torch.tensor([2.0, 0.0, 0.0]).expand(3, 3), atol=1e-5)


def test_street_prompt_sets_cars():
    scene = scene_from_prompt("two red cars beside white buildings in a street", seed=1)
    cars = {p.instance: p.color for p in scene.primitives if p.cls == "car" and p.center[2] < 0.5}
    assert len(cars) == 2
    assert all(c[0] > 0.6 and c[1] < 0.3 for c in cars.values())  # red, up to the colour jitter


def test_frustum_culling_never_drops_a_visible_primitive():
    from course_lib.scenes import cast_rays

    scene = street_scene(2, length=60.0)
    gen = torch.Generator().manual_seed(0)
    cams = []
    for _ in range(12):
        eye = torch.tensor([60.0, 12.0, 6.0]) * torch.rand(3, generator=gen) + torch.tensor([0.0, -6.0, 0.5])
        target = eye + torch.randn(3, generator=gen) * torch.tensor([5.0, 5.0, 1.0])
        cams.append(look_at_camera(eye, target, 40.0 + 60.0 * float(torch.rand((), generator=gen)), 24, 20))
    from course_lib.scenes.raycast import in_frustum

    assert all((~in_frustum(scene.packed(), c)).sum() > 5 for c in cams[:3])  # the culling does drop primitives
    culled = render_many(scene, cams)
    for k, cam in enumerate(cams):
        origins, dirs = cam.rays()
        full = cast_rays(scene, origins.reshape(-1, 3), dirs.reshape(-1, 3))  # every primitive tested
        assert torch.equal(culled["instance"][k].reshape(-1), full["instance"])
        assert torch.equal(culled["distance"][k].reshape(-1), full["distance"])
