"""course_lib.fields (chapter 07): hash encoding against brute force and the dense reference (exact where the
table holds every vertex, collisions only where it does not), volume rendering against a per-ray loop,
gradients, lazily created cells, boxes that move their objects, the sky, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from course_lib.fields import (
    PRIMES,
    Box,
    DenseGrid,
    HashGrid,
    ObjectField,
    RadianceField,
    ScalableField,
    SkyField,
    StreetField,
    cell_corners,
    level_collisions,
    level_corners,
    level_resolutions,
    render_weights,
    sample_along_rays,
    spatial_hash,
    vertex_index,
    volume_render,
)

UINT32 = 0xFFFFFFFF
SMALL = dict(levels=4, features=2, log2_table=8, min_res=2, max_res=8, hidden=16)


def brute_hash(x: int, y: int, z: int, table_size: int) -> int:
    return ((x * PRIMES[0]) & UINT32 ^ (y * PRIMES[1]) & UINT32 ^ (z * PRIMES[2]) & UINT32) % table_size


def all_vertices(resolution: int) -> torch.Tensor:
    axis = torch.arange(resolution + 1)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)


def copy_dense_into_hash(dense: DenseGrid, grid: HashGrid) -> None:
    """Store every vertex's dense value at the vertex's hash entry (later vertices win a shared entry)."""
    with torch.no_grad():
        for level, resolution in enumerate(grid.resolutions):
            vertices = all_vertices(resolution)
            side = resolution + 1
            dense_rows = vertices[:, 0] + side * (vertices[:, 1] + side * vertices[:, 2])
            grid.tables[level][vertex_index(vertices, resolution, grid.table_size)] = dense.tables[level][dense_rows]


# ---------------------------------------------------------------- hash encoding


def test_level_resolutions_grow_geometrically_from_min_to_max():
    res = level_resolutions(16, 16, 2048)
    b = math.exp((math.log(2048) - math.log(16)) / 15)
    assert res[0] == 16 and res[-1] == 2048 and len(res) == 16
    assert res == [math.floor(16 * b**l + 1e-9) for l in range(16)]
    assert all(a < c for a, c in zip(res, res[1:]))
    assert level_resolutions(8, 2, 128) == [2, 3, 6, 11, 21, 39, 70, 128]
    assert level_resolutions(1, 5, 5) == [5]


def test_spatial_hash_is_the_papers_xor_of_primes():
    gen = torch.Generator().manual_seed(0)
    vertices = torch.randint(0, 5000, (300, 3), generator=gen)
    for table_size in (2**14, 2**19, 1000):  # 1000: the uint32 wrap matters when T is not a power of two
        ours = spatial_hash(vertices, table_size).tolist()
        assert ours == [brute_hash(*v, table_size) for v in vertices.tolist()]
    assert spatial_hash(torch.tensor([[1, 1, 1]]), 2**32).item() == 2922720805  # 1 ^ 2654435761 ^ 805459861
    assert spatial_hash(torch.tensor([[3, 5, 7]]), 2**14).item() == 1381


def test_levels_whose_vertices_fit_are_indexed_one_to_one():
    vertices = all_vertices(7)  # 512 vertices
    for table_size in (512, 4096):
        index = vertex_index(vertices, 7, table_size)
        assert sorted(index.tolist()) == list(range(512))
    assert not torch.equal(vertex_index(vertices, 7, 511), vertex_index(vertices, 7, 512))


@pytest.mark.parametrize("resolution,table_size", [(15, 4096), (15, 4095), (7, 512), (7, 100), (20, 2**12), (40, 2**16), (3, 1)])
def test_collisions_only_when_the_table_is_smaller_than_the_vertex_count(resolution, table_size):
    num_vertices = (resolution + 1) ** 3
    collisions = level_collisions(resolution, table_size)
    if num_vertices <= table_size:
        assert collisions == 0
    else:
        assert collisions >= num_vertices - table_size > 0


def test_level_corners_match_a_per_point_loop():
    gen = torch.Generator().manual_seed(1)
    points = torch.rand(40, 3, generator=gen, dtype=torch.float64)
    points[0] = torch.tensor([1.0, 0.0, 0.5])  # on the faces of the cube
    for resolution, table_size in ((5, 2**12), (37, 2**10)):  # one 1:1 level, one hashed
        indices, weights = level_corners(points, resolution, table_size)
        for n, p in enumerate(points.tolist()):
            lower = [min(math.floor(c * resolution), resolution - 1) for c in p]
            frac = [c * resolution - lo for c, lo in zip(p, lower)]
            for corner in range(8):
                bits = [(corner >> axis) & 1 for axis in range(3)]
                v = [lo + b for lo, b in zip(lower, bits)]
                w = math.prod(f if b else 1.0 - f for f, b in zip(frac, bits))
                side = resolution + 1
                expected = v[0] + side * (v[1] + side * v[2]) if side**3 <= table_size else brute_hash(*v, table_size)
                assert indices[n, corner].item() == expected
                assert weights[n, corner].item() == pytest.approx(w, abs=1e-12)


def test_trilinear_interpolation_reproduces_an_affine_function():
    gen = torch.Generator().manual_seed(2)
    points = torch.rand(200, 3, generator=gen, dtype=torch.float64)
    corners, weights = cell_corners(points, 9)
    assert torch.allclose(weights.sum(dim=1), torch.ones(200, dtype=torch.float64)) and (weights >= 0).all()
    coefficients = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    at_corners = (corners.double() / 9) @ coefficients + 0.7  # (N, 8)
    assert torch.allclose((weights * at_corners).sum(dim=1), points @ coefficients + 0.7, atol=1e-12)


def test_hash_grid_equals_the_dense_reference_exactly_where_the_table_holds_every_vertex():
    torch.manual_seed(0)
    bounds = ((-2.0, 0.0, 1.0), (2.0, 3.0, 2.5))
    dense = DenseGrid(5, 3, 2, 15, bounds)  # finest level: 16^3 = 4096 vertices
    with torch.no_grad():
        for table in dense.tables:
            table.normal_()
    grid = HashGrid(5, 3, 12, 2, 15, bounds)  # T = 4096: every level fits
    copy_dense_into_hash(dense, grid)
    gen = torch.Generator().manual_seed(3)
    points = torch.rand(500, 3, generator=gen) * (dense.bounds[1] - dense.bounds[0]) + dense.bounds[0]
    assert torch.equal(grid(points), dense(points))


def test_hash_grid_differs_from_the_dense_reference_only_on_levels_with_collisions():
    torch.manual_seed(1)
    bounds = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    dense = DenseGrid(4, 2, 3, 24, bounds)
    with torch.no_grad():
        for table in dense.tables:
            table.normal_()
    grid = HashGrid(4, 2, 9, 3, 24, bounds)  # T = 512: levels 3 and 6 fit (64, 343 vertices), 12 and 24 do not
    assert grid.resolutions == [3, 6, 12, 24]
    copy_dense_into_hash(dense, grid)
    points = torch.rand(400, 3, generator=torch.Generator().manual_seed(4))
    ours, reference = grid(points).reshape(400, 4, 2), dense(points).reshape(400, 4, 2)
    for level, resolution in enumerate(grid.resolutions):
        if (resolution + 1) ** 3 <= grid.table_size:
            assert torch.equal(ours[:, level], reference[:, level])
        else:
            assert (ours[:, level] - reference[:, level]).abs().max() > 0.1


def test_dense_reference_matches_torch_grid_sample():
    torch.manual_seed(2)
    dense = DenseGrid(3, 4, 3, 10, ((0.0, -1.0, 0.0), (2.0, 1.0, 4.0))).double()
    with torch.no_grad():
        for table in dense.tables:
            table.normal_()
    points = torch.rand(300, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * torch.tensor([2.0, 2.0, 4.0], dtype=torch.float64) + torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    ours = dense(points).reshape(300, 3, 4)
    grid01 = (points - dense.bounds[0].double()) / (dense.bounds[1] - dense.bounds[0]).double()
    sample_at = (2 * grid01 - 1).reshape(1, 1, 1, 300, 3)  # (x, y, z) -> (W, H, D)
    for level in range(3):
        theirs = F.grid_sample(dense.volume(level)[None], sample_at, mode="bilinear", align_corners=True)  # (1, F, 1, 1, N)
        assert torch.allclose(ours[:, level], theirs.reshape(4, 300).T, atol=1e-12)


def test_hash_grid_gradient_reaches_the_eight_corner_entries():
    grid = HashGrid(2, 2, 6, 3, 9, ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))).double()
    points = torch.rand(6, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda *tables: _encode_with(grid, tables, points), tuple(t.detach().requires_grad_() for t in grid.tables))
    grid(points[:1]).sum().backward()
    touched = [int((t.grad.abs().sum(dim=1) > 0).sum()) for t in grid.tables]
    assert all(1 <= n <= 8 for n in touched)


def _encode_with(grid: HashGrid, tables: tuple[torch.Tensor, ...], points: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        for mine, given in zip(grid.tables, tables):
            mine.copy_(given)
    out = []
    for resolution, table in zip(grid.resolutions, tables):
        indices, weights = level_corners(points, resolution, grid.table_size)
        out.append((weights[..., None] * table[indices]).sum(dim=1))
    assert torch.equal(torch.cat(out, dim=-1).detach(), grid(points).detach())
    return torch.cat(out, dim=-1)


# ---------------------------------------------------------------- volume rendering


def brute_force_render(sigmas, colours, t, deltas):
    results = []
    for r in range(sigmas.shape[0]):
        transmittance, colour, depth, opacity, weights = 1.0, [0.0] * colours.shape[2], 0.0, 0.0, []
        for i in range(sigmas.shape[1]):
            alpha = 1.0 - math.exp(-sigmas[r, i].item() * deltas[r, i].item())
            w = transmittance * alpha
            weights.append(w)
            colour = [c + w * colours[r, i, k].item() for k, c in enumerate(colour)]
            depth += w * t[r, i].item()
            opacity += w
            transmittance *= 1.0 - alpha
        results.append((colour, depth, depth / opacity if opacity > 0 else 0.0, opacity, weights))
    return results


def test_volume_render_matches_a_per_ray_loop():
    gen = torch.Generator().manual_seed(7)
    sigmas = torch.rand(12, 10, generator=gen, dtype=torch.float64) * 3.0
    sigmas[0] = 0.0  # an empty ray
    sigmas[1, :4], sigmas[1, 4] = 0.0, 1e4  # empty space, then an opaque wall half way
    sigmas[2] *= (torch.rand(10, generator=gen, dtype=torch.float64) > 0.5)
    colours = torch.rand(12, 10, 3, generator=gen, dtype=torch.float64)
    t, deltas = sample_along_rays(12, 1.0, torch.linspace(2.0, 6.0, 12, dtype=torch.float64), 10, generator=gen)
    result = volume_render(sigmas, colours, t, deltas)
    for r, (colour, depth, depth_norm, opacity, weights) in enumerate(brute_force_render(sigmas, colours, t, deltas)):
        assert torch.allclose(result.colour[r], torch.tensor(colour, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(result.weights[r], torch.tensor(weights, dtype=torch.float64), atol=1e-12)
        assert result.depth[r].item() == pytest.approx(depth, abs=1e-12)
        assert result.depth_normalised[r].item() == pytest.approx(depth_norm, abs=1e-9)
        assert result.opacity[r].item() == pytest.approx(opacity, abs=1e-12)
    assert result.opacity[0] == 0 and result.depth_normalised[0] == 0
    assert result.opacity[1] == pytest.approx(1.0) and result.depth_normalised[1] == pytest.approx(t[1, 4].item(), abs=1e-6)


def test_uniform_density_lets_through_exp_of_minus_sigma_times_length():
    t, deltas = sample_along_rays(5, torch.tensor([0.0, 1.0, 2.0, 0.5, 3.0]), torch.tensor([1.0, 4.0, 2.5, 9.0, 3.2]), 7, torch.Generator().manual_seed(8))
    weights = render_weights(torch.full_like(t, 0.8), deltas)
    length = torch.tensor([1.0, 3.0, 0.5, 8.5, 0.2])
    assert torch.allclose(weights.sum(dim=1), 1 - torch.exp(-0.8 * length), atol=1e-6)


def test_samples_are_stratified_in_their_bins_or_at_the_midpoints():
    near, far = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([3.0, 2.5, 8.0])
    t, deltas = sample_along_rays(3, near, far, 8, torch.Generator().manual_seed(9))
    width = ((far - near) / 8)[:, None]
    lower = near[:, None] + width * torch.arange(8)
    assert ((t >= lower) & (t <= lower + width)).all() and (t.diff(dim=1) >= 0).all()
    assert torch.allclose(deltas, width.expand(3, 8)) and torch.allclose(deltas.sum(dim=1), far - near)
    again, _ = sample_along_rays(3, near, far, 8, torch.Generator().manual_seed(9))
    assert torch.equal(t, again)
    other, _ = sample_along_rays(3, near, far, 8, torch.Generator().manual_seed(10))
    assert not torch.equal(t, other)
    even, _ = sample_along_rays(3, near, far, 8, stratified=False)
    assert torch.allclose(even, lower + width / 2)


def test_volume_render_gradients():
    gen = torch.Generator().manual_seed(11)
    sigmas = (torch.rand(3, 6, generator=gen, dtype=torch.float64) * 2).requires_grad_()
    colours = torch.rand(3, 6, 3, generator=gen, dtype=torch.float64).requires_grad_()
    t, deltas = sample_along_rays(3, 0.5, 2.5, 6, generator=gen)
    t, deltas = t.double(), deltas.double()

    def outputs(s, c):
        result = volume_render(s, c, t, deltas)
        return result.colour, result.depth, result.opacity

    assert torch.autograd.gradcheck(outputs, (sigmas, colours))
    result = volume_render(sigmas, colours, t, deltas)
    (grad,) = torch.autograd.grad(result.colour[:, 0].sum(), colours)
    assert torch.allclose(grad[..., 0], result.weights.detach()) and (grad[..., 1:] == 0).all()


# ---------------------------------------------------------------- scalable grid, objects, sky


def road_points(xs: list[float], per_x: int = 5, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.tensor(xs).repeat_interleave(per_x)
    yz = torch.rand(x.shape[0], 2, generator=gen) * torch.tensor([8.0, 4.0]) - torch.tensor([4.0, 0.0])
    return torch.cat([x[:, None], yz], dim=1)


def test_cells_are_created_lazily_and_only_where_samples_fall():
    torch.manual_seed(0)
    field = ScalableField(8.0, (-4.0, 4.0), (0.0, 4.0), **SMALL)
    assert field.num_cells() == 0 and field.num_parameters() == 0
    density, _ = field(road_points([1.0, 7.5, 17.0, 20.0]))  # cells 0 and 2
    assert sorted(field.cells.keys()) == ["0", "2"]
    per_cell = sum(p.numel() for p in RadianceField(field.cell_bounds(0), **SMALL).parameters())
    assert field.num_parameters() == 2 * per_cell and (density > 0).all()
    assert field.grow(road_points([3.0, 18.0])) == []  # nothing new
    assert field.grow(road_points([-3.0, 30.0, 2.0])) == ["-1", "3"]
    assert field.num_cells() == 4 and field.num_parameters() == 4 * per_cell
    ahead = road_points([50.0])
    density, colour = field(ahead, grow=False)  # not created: empty space
    assert field.num_cells() == 4 and (density == 0).all() and (colour == 0).all()
    off_road = torch.tensor([[60.0, 9.0, 1.0], [60.0, 0.0, -1.0]])  # outside the cross-section
    density, _ = field(off_road)
    assert field.num_cells() == 4 and (density == 0).all()


def test_each_cell_answers_and_learns_only_its_own_points():
    torch.manual_seed(1)
    field = ScalableField(8.0, (-4.0, 4.0), (0.0, 4.0), **SMALL)
    points = road_points([2.0, 10.0])
    before, _ = field(points)
    with torch.no_grad():
        field.cells["1"].head[2].bias[0] += 1.0
    after, _ = field(points)
    in_cell_1 = points[:, 0] >= 8.0
    assert torch.equal(before[~in_cell_1], after[~in_cell_1]) and (after[in_cell_1] > before[in_cell_1]).all()
    field.zero_grad()
    field(points[~in_cell_1])[0].sum().backward()
    assert all(p.grad is None or (p.grad == 0).all() for p in field.cells["1"].parameters())
    assert any(p.grad is not None and (p.grad != 0).any() for p in field.cells["0"].parameters())


def test_the_street_grows_as_the_camera_drives():
    torch.manual_seed(2)
    street = StreetField(ScalableField(4.0, (-6.0, 6.0), (-1.0, 5.0), **SMALL), SkyField(8))
    counts, params = [], []
    for camera_x in (0.0, 4.0, 8.0, 12.0):
        origins = torch.tensor([[camera_x, 0.0, 1.5]]).expand(16, 3)
        directions = F.normalize(torch.tensor([1.0, 0.0, -0.1]) + 0.05 * torch.randn(16, 3), dim=-1)
        street.render(origins, directions, 0.5, 3.5, 8, torch.Generator().manual_seed(0))
        counts.append(street.background.num_cells())
        params.append(street.background.num_parameters())
    assert counts == [1, 2, 3, 4] and params == [c * params[0] for c in counts]


def make_car(seed: int) -> ObjectField:
    torch.manual_seed(seed)
    car = ObjectField(Box((5.0, 1.0, 0.8), 0.3, (1.5, 0.8, 0.6)), levels=3, features=2, log2_table=8, min_res=2, max_res=8, hidden=16)
    with torch.no_grad():
        for table in car.field.grid.tables:
            table.normal_()  # a textured object, so a wrong transform shows
        car.field.head[2].bias[0] = 2.0
    return car


def test_moving_the_box_moves_the_objects_render():
    car = make_car(3)
    street = StreetField(ScalableField(8.0, (-4.0, 4.0), (0.0, 4.0), **SMALL), SkyField(8), {"car": car})
    gen = torch.Generator().manual_seed(12)
    origins = torch.tensor([0.0, 1.0, 0.8]) + 0.3 * torch.randn(64, 3, generator=gen)
    directions = F.normalize(torch.tensor([5.0, 0.0, 0.0]) - origins + 0.5 * torch.randn(64, 3, generator=gen), dim=-1)
    render = lambda o, d: street.render(o, d, 2.0, 8.0, 24, stratified=False, grow=False)  # noqa: E731
    before = render(origins, directions)
    assert before.result.opacity.max() > 0.5
    shift, turn = torch.tensor([3.0, -2.0, 0.0]), math.pi / 2
    car.move_to(centre=(8.0, -1.0, 0.8), yaw=0.3 + turn)
    rot = Box((0.0, 0.0, 0.0), turn, (1.0, 1.0, 1.0)).rotation()
    about = torch.tensor([5.0, 1.0, 0.8])
    moved_origins = (origins - about) @ rot.T + about + shift  # the same rays, carried along with the box
    moved_directions = directions @ rot.T
    after = render(moved_origins, moved_directions)
    assert torch.allclose(after.result.colour, before.result.colour, atol=1e-5)
    assert torch.allclose(after.result.depth, before.result.depth, atol=1e-4)
    stale = render(origins, directions)  # the old rays now miss the car (or see it elsewhere)
    assert (stale.result.opacity - before.result.opacity).abs().max() > 0.5


def test_where_fields_overlap_densities_add_and_colours_mix_by_density():
    car = make_car(6)
    background = ScalableField(8.0, (-4.0, 4.0), (0.0, 4.0), **SMALL)
    street = StreetField(background, SkyField(8), {"car": car})
    points = torch.tensor([[5.0, 1.0, 0.8], [4.5, 1.2, 0.9], [1.0, -3.0, 3.0]])  # two in the car, one outside it
    density, colour = street.query(points)
    bg_density, bg_colour = background(points)
    car_density, car_colour = car(points)
    assert car_density[2] == 0 and (car_density[:2] > 0).all()
    assert torch.allclose(density, bg_density + car_density)
    mix = (bg_density[:, None] * bg_colour + car_density[:, None] * car_colour) / (bg_density + car_density)[:, None]
    assert torch.allclose(colour, mix) and torch.allclose(colour[2], bg_colour[2])


def test_box_intersection_finds_where_rays_enter_and_leave():
    box = Box((2.0, 0.0, 1.0), 0.7, (1.0, 0.5, 0.4))
    gen = torch.Generator().manual_seed(13)
    origins = torch.randn(200, 3, generator=gen) * 3.0  # all within 20 of the box: the march below reaches it
    directions = F.normalize(torch.tensor(box.centre) + 0.8 * torch.randn(200, 3, generator=gen) - origins, dim=-1)
    t_near, t_far, hit = box.intersect(origins, directions)
    assert 20 < hit.sum() < 200
    steps = torch.linspace(0.0, 20.0, 8001)
    for r in range(200):
        at = lambda t: box.contains((origins[r] + t * directions[r])[None])[0]  # noqa: E731
        if hit[r]:  # inside between the two, outside just before and just after
            assert at((t_near[r] + t_far[r]) / 2)
            assert not at(t_far[r] + 1e-3) and (t_near[r] == 0 or not at(t_near[r] - 1e-3))
        else:
            assert not box.contains(origins[r] + steps[:, None] * directions[r]).any()


def test_the_sky_depends_on_the_direction_only_and_fills_what_passes():
    torch.manual_seed(4)
    sky = SkyField(8)
    d = F.normalize(torch.randn(10, 3), dim=-1)
    assert torch.allclose(sky(d), sky(3.0 * d)) and not torch.allclose(sky(d), sky(-d))
    street = StreetField(ScalableField(8.0, (-4.0, 4.0), (0.0, 4.0), **SMALL), sky)
    out = street.render(torch.randn(10, 3), d, 0.1, 1.0, 4, grow=False)  # no cells: nothing in front
    assert torch.equal(out.colour, out.sky) and torch.allclose(out.colour, sky(d))
    street.objects["car"] = make_car(5)
    origins = torch.tensor([[0.0, 1.0, 0.8], [0.0, 1.0, 3.0]])  # one ray into the car, one above it
    directions = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    out = street.render(origins, directions, 1.0, 9.0, 32, stratified=False, grow=False)
    opacity = out.result.opacity
    assert opacity[0] > 0.99 and opacity[1] == 0
    assert torch.allclose(out.colour, out.result.colour + (1 - opacity)[:, None] * out.sky)
    assert torch.allclose(out.colour[0], out.result.colour[0], atol=1e-2) and torch.equal(out.colour[1], out.sky[1])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,message", [
    (lambda: HashGrid(4, 2, 8, 2, 8, ((0, 0, 0), (1, 1, 1)))(torch.tensor([[0.5, 0.5, 1.5]])), "outside the hash grid's bounds"),
    (lambda: HashGrid(4, 2, 8, 2, 8, ((0, 0, 0), (1, 1, 1)))(torch.rand(5, 2)), r"shape \(N, 3\)"),
    (lambda: HashGrid(4, 2, 8, 2, 8, ((0, 0, 0), (1, 1, 1)))(torch.tensor([[float("nan"), 0.5, 0.5]])), "outside"),
    (lambda: HashGrid(4, 2, -1, 2, 8, ((0, 0, 0), (1, 1, 1))), "log2_table"),
    (lambda: HashGrid(4, 0, 8, 2, 8, ((0, 0, 0), (1, 1, 1))), "features"),
    (lambda: HashGrid(4, 2, 8, 2, 8, ((0, 0, 0), (1, -1, 1))), "max > min"),
    (lambda: HashGrid(4, 2, 8, 2, 8, ((0, 0), (1, 1))), r"shape \(2, 3\)"),
    (lambda: level_corners(torch.rand(4, 3), 8, 0), "table_size=0 must be a positive integer"),
    (lambda: level_corners(torch.rand(4, 3), 0, 64), "resolution=0"),
    (lambda: level_corners(torch.rand(4, 3) + 1.0, 8, 64), r"outside the unit cube"),
    (lambda: level_resolutions(0, 2, 8), "levels=0"),
    (lambda: level_resolutions(4, 16, 8), "min_res <= max_res"),
    (lambda: level_resolutions(1, 4, 8), "single level"),
    (lambda: volume_render(-torch.ones(2, 3), torch.rand(2, 3, 3), torch.rand(2, 3), torch.ones(2, 3)), "densities must be >= 0"),
    (lambda: volume_render(torch.ones(2, 3), torch.rand(2, 4, 3), torch.rand(2, 3), torch.ones(2, 3)), r"colours must be \(R, S, C\)"),
    (lambda: render_weights(torch.ones(2, 3), -torch.ones(2, 3)), "sorted front to back"),
    (lambda: sample_along_rays(2, 3.0, 1.0, 4), "far < near"),
    (lambda: sample_along_rays(2, torch.zeros(3), 1.0, 4), r"shape \(2,\)"),
    (lambda: sample_along_rays(2, 0.0, 1.0, 0), "num_samples=0"),
    (lambda: ScalableField(0.0, (-1, 1), (0, 1)), "cell_size"),
    (lambda: ScalableField(8.0, (1, -1), (0, 1)), "lateral"),
    (lambda: ScalableField(8.0, (-1, 1), (0, 1), log2_tabel=12), "unknown cell field options"),
    (lambda: ScalableField(8.0, (-1, 1), (0, 1), log2_table=0, levels=2, min_res=2, max_res=1), "min_res <= max_res"),
    (lambda: ScalableField(8.0, (-1, 1), (0, 1))(torch.tensor([[float("inf"), 0.0, 0.0]])), "non-finite"),
    (lambda: Box((0, 0, 0), 0.0, (1, 0, 1)), "half_size"),
    (lambda: SkyField()(torch.zeros(2, 3)), "direction is zero"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_carving_street_leaves_the_objects_box_to_the_object():
    car = make_car(6)
    background = ScalableField(8.0, (-4.0, 4.0), (0.0, 4.0), **SMALL)
    street = StreetField(background, SkyField(8), {"car": car}, carve_objects=True)
    points = torch.tensor([[5.0, 1.0, 0.8], [4.5, 1.2, 0.9], [1.0, -3.0, 3.0]])  # two in the car, one outside it
    density, colour = street.query(points)
    bg_density, bg_colour = background(points)
    car_density, car_colour = car(points)
    assert (bg_density[:2] > 0).all(), "the background has density there: carving must remove it"
    assert torch.allclose(density[:2], car_density[:2]) and torch.allclose(colour[:2], car_colour[:2])
    assert torch.allclose(density[2], bg_density[2]) and torch.allclose(colour[2], bg_colour[2])
