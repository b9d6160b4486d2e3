"""course_lib.splatting: projection against gsplat's PyTorch reference, sparse vs dense rasterizer (values and
gradients), gradcheck, the backend switch, densification, initialisation and bad input."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci, _spherical_harmonics

import course_lib.splatting.renderer as render_module
from course_lib.geometry import look_at_camera
from course_lib.splatting import (
    DensifyConfig,
    Densifier,
    GaussianParams,
    covariance_3d,
    eval_sh,
    gaussians_from_points,
    l1_dssim_loss,
    make_optimizer,
    project,
    project_gaussians,
    quat_to_rotmat,
    rasterize,
    rasterize_dense,
    render,
    ssim,
)


def random_gaussians(n: int, seed: int, spread: float = 1.0, scale: tuple[float, float] = (0.02, 0.15), sh_degree: int = 0) -> GaussianParams:
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=gen) * spread
    scales = torch.rand(n, 3, generator=gen) * (scale[1] - scale[0]) + scale[0]
    quats = torch.randn(n, 4, generator=gen)
    opacities = torch.rand(n, generator=gen) * 0.9 + 0.05
    colors = torch.rand(n, 3, generator=gen)
    g = GaussianParams.from_tensors(means, scales, quats, opacities, colors, sh_degree)
    if sh_degree:
        with torch.no_grad():
            g.sh1.copy_(torch.randn(n, 3, 3, generator=gen) * 0.3)
    return g


def random_cameras(seed: int, size: tuple[int, int] = (48, 40)) -> list:
    gen = torch.Generator().manual_seed(seed)
    cams = []
    for _ in range(4):
        eye = torch.randn(3, generator=gen) * 2.0
        eye = eye / eye.norm() * (2.5 + 2.0 * float(torch.rand((), generator=gen)))
        target = torch.randn(3, generator=gen) * 0.3
        cams.append(look_at_camera(eye, target, 40.0 + 40.0 * float(torch.rand((), generator=gen)), *size))
    return cams


def test_covariance_matches_gsplat():
    g = random_gaussians(50, 0)
    theirs, _ = _quat_scale_to_covar_preci(g.quats.detach(), g.scales().detach(), compute_preci=False)
    assert torch.allclose(covariance_3d(g.quats, g.scales()).detach(), theirs, atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projection_matches_gsplat_reference(seed):
    g = random_gaussians(400, seed, spread=1.5)  # some Gaussians land behind or beside the cameras
    for cam in random_cameras(seed):
        W, H = cam.width, cam.height
        means, covars = g.means.detach(), g.covariances().detach()
        ours = project_gaussians(means, covars, cam.viewmat, cam.K, W, H)
        radii, means2d, depths, conics, _ = _fully_fused_projection(means, covars, cam.viewmat[None], cam.K[None], W, H)
        radii, means2d, depths, conics = radii[0], means2d[0], depths[0], conics[0]
        # radii are ceil(3.33 sigma): a last-bit difference in sigma may flip one ceiling, nothing more
        differ = (ours.radii != radii).any(dim=-1)
        assert differ.float().mean() < 0.005 and (ours.radii - radii).abs().max() <= 1
        valid = (radii > 0).all(dim=-1) & (ours.radii > 0).all(dim=-1)
        assert valid.sum() > 50 and (~valid).sum() > 0
        assert torch.allclose(ours.depths, depths, atol=1e-6)
        assert torch.allclose(ours.means2d[valid], means2d[valid], rtol=1e-5, atol=1e-4)
        assert torch.allclose(ours.conics[valid], conics[valid], rtol=1e-4, atol=1e-6)


def test_sh_degree_one_matches_gsplat():
    g = random_gaussians(64, 3, sh_degree=1)
    dirs = torch.randn(64, 3)
    coeffs = torch.cat([g.sh0[:, None], g.sh1], dim=1).detach()
    theirs = (_spherical_harmonics(1, dirs, coeffs) + 0.5).clamp(min=0.0)
    assert torch.allclose(eval_sh(g.sh0, g.sh1, dirs).detach(), theirs, atol=1e-6)


def _render_both(g: GaussianParams, cam, background: torch.Tensor):
    return render(g, cam, background, backend="torch"), render(g, cam, background, backend="dense")


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_rasterizer_matches_dense_reference_and_its_gradients(seed):
    g = random_gaussians(300, seed, sh_degree=1)
    cam = random_cameras(seed, size=(32, 28))[0]
    background = torch.tensor([0.2, 0.4, 0.6])
    target = torch.rand(28, 32, 3, generator=torch.Generator().manual_seed(seed))
    grads = []
    outputs = []
    for backend in ("torch", "dense"):
        g.zero_grad()
        out = render(g, cam, background, backend=backend)
        loss = ((out.rgb - target) ** 2).sum() + 0.1 * out.depth.sum() + out.alpha.sum()
        loss.backward()
        outputs.append(out)
        grads.append({name: p.grad.clone() for name, p in g.named_parameters()})
    sparse, dense = outputs
    assert sparse.alpha.max() > 0.5 and (sparse.alpha < 0.01).any()  # the test image has both covered and empty pixels
    assert torch.allclose(sparse.rgb, dense.rgb, atol=1e-5)
    assert torch.allclose(sparse.depth, dense.depth, atol=1e-4)
    assert torch.allclose(sparse.alpha, dense.alpha, atol=1e-5)
    for name in grads[0]:
        a, b = grads[0][name], grads[1][name]
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5 * b.abs().max()), name


def _tiny_splats(dtype=torch.float64):
    gen = torch.Generator().manual_seed(4)
    n, W, H = 6, 9, 7
    means2d = torch.rand(n, 2, generator=gen, dtype=dtype) * torch.tensor([W, H], dtype=dtype)
    sx, sy = torch.rand(n, generator=gen, dtype=dtype) + 0.8, torch.rand(n, generator=gen, dtype=dtype) + 0.8
    rho = (torch.rand(n, generator=gen, dtype=dtype) - 0.5) * 0.8
    cov = torch.stack([sx * sx, rho * sx * sy, rho * sx * sy, sy * sy], dim=-1).reshape(n, 2, 2)
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], dim=-1)
    radii = torch.ceil(3.33 * torch.stack([sx, sy], dim=-1)).int()
    colors = torch.rand(n, 3, generator=gen, dtype=dtype)
    opacities = torch.rand(n, generator=gen, dtype=dtype) * 0.6 + 0.2
    depths = torch.rand(n, generator=gen, dtype=dtype) * 3 + 1
    return means2d, conics, colors, opacities, depths, radii, W, H


@pytest.mark.parametrize("rasterizer", [rasterize, rasterize_dense])
def test_rasterizers_pass_gradcheck(rasterizer):
    means2d, conics, colors, opacities, depths, radii, W, H = _tiny_splats()
    background = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)

    def f(m, c, col, o, d):
        out = rasterizer(m, c, col, o, d, radii, W, H, background)
        return out["rgb"], out["depth"], out["alpha"]

    inputs = tuple(t.clone().requires_grad_() for t in (means2d, conics, colors, opacities, depths))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)


def test_projection_passes_gradcheck():
    g = random_gaussians(5, 7)
    cam = random_cameras(7, size=(16, 16))[0]
    means = g.means.detach().double().requires_grad_()
    covars = g.covariances().detach().double().requires_grad_()

    def f(m, c):
        p = project_gaussians(m, c, cam.viewmat.double(), cam.K.double(), 16, 16)
        return p.means2d, p.conics, p.depths

    assert torch.autograd.gradcheck(f, (means, covars), eps=1e-6, atol=1e-5)


def test_gsplat_backend_falls_back_to_ours_with_one_warning(monkeypatch):
    monkeypatch.setattr(render_module, "_warned_fallback", False)
    g = random_gaussians(100, 5)
    cam = random_cameras(5)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = render(g, cam, backend="gsplat")
        second = render(g, cam, backend="gsplat")
    fallback = [w for w in caught if issubclass(w.category, RuntimeWarning) and "backend='gsplat'" in str(w.message)]
    assert len(fallback) == 1
    assert "PyTorch rasterizer" in str(fallback[0].message)
    assert first.backend == second.backend == "torch"
    ours = render(g, cam, backend="torch")
    assert torch.equal(first.rgb, ours.rgb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert render(g, cam, backend="auto").backend == "torch"  # CPU tensors: ours, silently


def test_gsplat_failure_on_cuda_falls_back(monkeypatch):
    """A failing CUDA kernel (e.g. it cannot compile) must not break rendering: simulate it."""
    monkeypatch.setattr(render_module, "_warned_fallback", False)

    def broken(*args, **kwargs):
        raise render_module.GsplatUnavailable("RuntimeError: CUDA extension failed to compile")

    monkeypatch.setattr(render_module, "_render_gsplat", broken)
    g = random_gaussians(50, 6)
    with pytest.warns(RuntimeWarning, match="failed to compile"):
        out = render(g, random_cameras(6)[0], backend="gsplat")
    assert out.backend == "torch"


def test_init_from_points_uses_neighbour_distances():
    grid = torch.stack(torch.meshgrid(*(torch.arange(6.0) * 0.1,) * 3, indexing="ij"), dim=-1).reshape(-1, 3)
    colors = torch.rand(grid.shape[0], 3)
    g = gaussians_from_points(grid, colors)
    assert torch.allclose(g.scales(), torch.full((216, 3), 0.1), atol=1e-5)
    assert torch.allclose(g.colors(), colors, atol=1e-5)
    with pytest.raises(ValueError, match="NaN or inf"):
        gaussians_from_points(torch.tensor([[0.0, 0.0, float("inf")]] * 5), torch.zeros(5, 3))


def test_densifier_clones_splits_prunes_and_keeps_adam_state_aligned():
    g = random_gaussians(10, 8, scale=(0.01, 0.01))
    with torch.no_grad():
        g.log_scales[5:] = torch.log(torch.tensor([0.5, 0.01, 0.01]))  # big ones, long along their local x axis
        g.opacity_logits[9] = -10.0  # nearly transparent: pruned
    optimizer = make_optimizer(g, {"means": 1e-3, "log_scales": 1e-3, "quats": 1e-3, "opacity_logits": 1e-3, "sh0": 1e-3})
    cam = random_cameras(8)[0]
    out = render(g, cam, backend="torch")
    out.rgb.sum().backward()
    optimizer.step()
    densifier = Densifier(DensifyConfig(grad_threshold=-1.0, start=1, stop=100, every=1, reset_every=10**6), scene_extent=1.0)
    info = dict(out.info)
    info["means2d"] = out.info["means2d"]
    info["radii"] = torch.ones(10, 2, dtype=torch.int32)  # treat all as visible
    densifier.accumulate(info, g.num)
    # the 3DGS statistic: the pixel gradient in normalised device units (x W/2, y H/2), then its norm
    ndc = out.info["means2d"].grad * torch.tensor([cam.width / 2.0, cam.height / 2.0])
    assert torch.allclose(densifier.grad_sum, ndc.norm(dim=-1)) and densifier.grad_sum.max() > 0
    parents = {name: p.detach().clone() for name, p in g.named_parameters()}
    stats = densifier.step(1, g, optimizer)
    # 5 small -> cloned (10 - 5 + 5), 5 big -> replaced by 10 children, then the transparent ones are pruned
    assert stats["cloned"] == 5 and stats["split"] == 5
    assert g.num == 5 + 5 + 10 - stats["pruned"] and stats["pruned"] == 2  # the transparent big one split in two
    # rows: 5 small originals, their 5 clones, then the children of the big ones 5-8 (twice), the pruned 9's gone
    assert torch.equal(g.means[:5], parents["means"][:5]) and torch.equal(g.means[5:10], parents["means"][:5])
    children = torch.arange(5, 9).repeat(2)
    assert torch.allclose(g.log_scales[10:], parents["log_scales"][children] - math.log(1.6))
    local = torch.einsum("nji,nj->ni", quat_to_rotmat(parents["quats"][children]), g.means[10:] - parents["means"][children])
    assert (local[:, 0].abs() > 1e-3).all() and (local[:, 0].abs() < 4 * 0.5).all()  # sampled from the parent Gaussian,
    assert (local[:, 1:].abs() < 4 * 0.01).all()  # along its long axis
    for group in optimizer.param_groups:
        param = group["params"][0]
        assert optimizer.state[param]["exp_avg"].shape == param.shape
    render(g, cam, backend="torch").rgb.sum().backward()
    optimizer.step()  # Adam still runs on the new tensors


def test_ssim_and_loss():
    img = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0))
    assert abs(float(ssim(img, img)) - 1.0) < 1e-6
    assert float(ssim(img, img.flip(0))) < 0.5
    assert float(l1_dssim_loss(img, img)) < 1e-6


def test_bad_input_gives_clear_errors():
    means, quats, colors = torch.zeros(3, 3), torch.tensor([[1.0, 0, 0, 0]] * 3), torch.rand(3, 3)
    scales = torch.tensor([[0.1, 0.1, 0.1], [0.1, 0.0, 0.1], [0.1, 0.1, 0.1]])
    with pytest.raises(ValueError, match="zero, negative or non-finite scale"):
        GaussianParams.from_tensors(means, scales, quats, torch.full((3,), 0.5), colors)
    g = random_gaussians(3, 0)
    with torch.no_grad():
        g.log_scales[1, 0] = float("-inf")  # scale exp(-inf) = 0
    with pytest.raises(ValueError, match="zero, negative or non-finite scale"):
        render(g, random_cameras(0)[0])
    empty = GaussianParams.from_tensors(torch.zeros(0, 3), torch.ones(0, 3), torch.ones(0, 4), torch.ones(0) * 0.5, torch.zeros(0, 3))
    with pytest.raises(ValueError, match="no Gaussians"):
        render(empty, random_cameras(0)[0])
    bad_view = torch.eye(4)
    bad_view[2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        project(random_gaussians(3, 0), bad_view, torch.eye(3) * 10, 8, 8)
    with pytest.raises(ValueError, match="backend"):
        render(random_gaussians(3, 0), random_cameras(0)[0], backend="cuda")


def test_compositing_matches_the_3dgs_blend_written_out():
    """Independent of the shared compositing code: eq. 3 by hand at one pixel, the 1/255 skip, the 0.99 clamp
    and the stop once the transmittance would fall to 1e-4."""
    cov = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
    inv = torch.linalg.inv(cov)
    conic = torch.stack([inv[0, 0], inv[0, 1], inv[1, 1]])
    pixel = torch.tensor([3.5, 2.5], dtype=torch.float64)  # centre of pixel (row 2, column 3)
    # four splats at the same pixel, front to back (depths 1..4), listed out of order
    means2d = torch.tensor([[4.2, 2.1], [3.0, 3.3], [3.5, 2.5], [2.0, 1.0]], dtype=torch.float64)
    depths = torch.tensor([2.0, 1.0, 4.0, 3.0], dtype=torch.float64)
    opacities = torch.tensor([0.7, 0.5, 0.9, 0.6], dtype=torch.float64)
    colors = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]], dtype=torch.float64)
    n = 4
    conics, radii = conic.expand(n, 3), torch.full((n, 2), 6, dtype=torch.int32)
    d = pixel - means2d
    alpha = opacities * torch.exp(-0.5 * torch.einsum("ni,ij,nj->n", d, inv, d))  # G(p) times the opacity
    order = torch.argsort(depths)
    T, rgb, depth = 1.0, torch.zeros(3, dtype=torch.float64), 0.0
    for i in order.tolist():
        rgb, depth, T = rgb + colors[i] * alpha[i] * T, depth + depths[i] * alpha[i] * T, T * (1 - float(alpha[i]))
    background = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    for rasterizer in (rasterize, rasterize_dense):
        out = rasterizer(means2d, conics, colors, opacities, depths, radii, 8, 6, background)
        assert torch.allclose(out["alpha"][2, 3], torch.tensor(1.0 - T, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(out["rgb"][2, 3], rgb + T * background, atol=1e-12)
        assert torch.allclose(out["depth"][2, 3], depth / (1.0 - T), atol=1e-12)
    # a faint splat (alpha < 1/255) in front changes nothing: it is skipped, not blended
    faint = rasterize(torch.cat([means2d, pixel[None]]), conic.expand(5, 3), torch.cat([colors, torch.ones(1, 3, dtype=torch.float64)]),
                      torch.cat([opacities, torch.tensor([0.003], dtype=torch.float64)]), torch.cat([depths, torch.tensor([0.5], dtype=torch.float64)]),
                      torch.full((5, 2), 6, dtype=torch.int32), 8, 6)
    assert torch.allclose(faint["rgb"][2, 3], rgb, atol=1e-12)
    # opacity 1 is clamped to 0.99; after two such splats T = 1e-4, so the third one is not blended
    stack = rasterize(pixel.expand(3, 2).clone(), conic.expand(3, 3), colors[:3], torch.ones(3, dtype=torch.float64),
                      torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.full((3, 2), 6, dtype=torch.int32), 8, 6)
    assert torch.allclose(stack["rgb"][2, 3], torch.tensor([0.99, 0.0099, 0.0], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(stack["alpha"][2, 3], torch.tensor(0.99 + 0.0099, dtype=torch.float64), atol=1e-12)


def test_splats_land_where_the_ray_caster_sees_the_same_point():
    """One camera convention for both halves of the course: a small ball off the optical axis (up and to the left)
    and a Gaussian at its centre appear at the same pixel, where K (R X + t) / z puts it."""
    from course_lib.scenes import Ellipsoid, Scene, render_view

    center = (-0.6, 5.0, 1.4)  # camera looks along +y, z up, so +x is to its right: this is up-left in the image
    cam = look_at_camera((0.0, 0.0, 1.0), (0.0, 5.0, 1.0), 50.0, 40, 30)
    p = cam.viewmat[:3, :3] @ torch.tensor(center) + cam.viewmat[:3, 3]
    u, v = float(cam.K[0, 0] * p[0] / p[2] + cam.K[0, 2]), float(cam.K[1, 1] * p[1] / p[2] + cam.K[1, 2])
    assert u < 20 and v < 15  # up-left: image x grows to the right, image y downwards
    mask = render_view(Scene([Ellipsoid("ball", 1, (1.0, 0.0, 0.0), "plain", center, (0.25, 0.25, 0.25))]), cam)["instance"] == 1
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert abs(float(cols.float().mean()) + 0.5 - u) < 0.3 and abs(float(rows.float().mean()) + 0.5 - v) < 0.3
    g = GaussianParams.from_tensors(torch.tensor([center]), torch.full((1, 3), 0.05), torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([0.9]), torch.ones(1, 3))
    with torch.no_grad():
        out = render(g, cam, backend="torch")
    peak = int(out.alpha.argmax())
    assert (peak // 40, peak % 40) == (int(v), int(u))
    assert abs(float(out.depth.reshape(-1)[peak]) - float(p[2])) < 1e-4


def test_a_gaussian_in_the_camera_plane_leaves_the_gradients_finite():
    """A culled Gaussian at depth 0 (e.g. a lifted point at the camera centre) must not make every gradient NaN."""
    cam = look_at_camera((0.0, -4.0, 0.0), (0.0, 0.0, 0.0), 60.0, 16, 16)
    means = torch.tensor([[0.0, 0.0, 0.0], [1.0, -4.0, 0.0], [0.0, -4.0, 0.0]])  # seen, in the camera plane, at the camera
    g = GaussianParams.from_tensors(means, torch.full((3, 3), 0.1), torch.tensor([[1.0, 0, 0, 0]] * 3), torch.full((3,), 0.8), torch.rand(3, 3))
    out = render(g, cam, backend="torch")
    assert out.info["radii"][0].all() and not out.info["radii"][1:].any()
    out.rgb.sum().backward()
    for name, p in g.named_parameters():
        assert torch.isfinite(p.grad).all(), name
    assert g.means.grad[0].abs().sum() > 0
