"""course_lib.diffusion: guidance, DDIM sampling and inversion, circular MultiDiffusion, SDS/VSD, conditions, errors."""

from __future__ import annotations

import pytest
import torch

from course_lib.priors import data
from course_lib.geometry.depth import pearson, scale_shift_invariant_loss
from course_lib.priors.dense import DepthPrior
from course_lib.diffusion.distillation import particle_estimator_loss, sample_timesteps, sds_loss, sds_weight, vsd_loss
from course_lib.diffusion.guidance import classifier_free_guidance, drop_condition, image_text_guidance
from course_lib.diffusion.inpainting import blur_fill, inpaint_condition, random_masks
from course_lib.priors.shipped import inpaint_eps_fn, load_prior
from course_lib.diffusion.sampling import ddim_inpaint, ddim_invert, ddim_sample, ddim_timesteps, multidiffusion_eps, seam_error, window_offsets
from course_lib.diffusion.schedule import add_noise, alphas_cumprod
from course_lib.priors.text import PromptEncoder, tokenize_prompts
from course_lib.priors.tiny_prior import PriorConfig, TinyPrior
from course_lib.scenes import UnknownPromptWordError

SIGMA = 0.1


def gaussian_eps(mode: torch.Tensor):
    """The exact noise predictor of data ~ N(mode, SIGMA^2 I): a prior whose only mode is ``mode``."""
    acp = alphas_cumprod()

    def eps_fn(x_t: torch.Tensor, t) -> torch.Tensor:
        a = acp[torch.as_tensor(t)]
        a = a.view(-1, *([1] * (x_t.ndim - 1))) if a.ndim else a  # t: an int (samplers) or (B,) (distillation)
        return (1 - a).sqrt() * (x_t - a.sqrt() * mode) / (a * SIGMA**2 + 1 - a)

    return eps_fn


def test_three_way_guidance_reduces_to_two_way_when_image_scale_is_one():
    g = torch.Generator().manual_seed(0)
    none, image, both = (torch.randn(2, 3, 8, 8, generator=g) for _ in range(3))
    for s_t in (1.0, 3.0, 7.5):
        assert torch.allclose(image_text_guidance(none, image, both, 1.0, s_t), classifier_free_guidance(image, both, s_t), atol=1e-6)
    assert not torch.allclose(image_text_guidance(none, image, both, 1.8, 7.5), classifier_free_guidance(image, both, 7.5), atol=1e-3)
    assert torch.allclose(image_text_guidance(none, image, both, 0.0, 0.0), none)


def test_three_way_guidance_of_a_prior_with_image_scale_one_is_two_way_around_the_image_branch():
    torch.manual_seed(0)
    prior = TinyPrior(PriorConfig(extra_channels=4, block_out_channels=(8, 16, 16), attention_head_dim=8, cross_attention_dim=16)).eval()
    image, masks = torch.rand(2, 3, 16, 16) * 2 - 1, random_masks(2, (16, 16), torch.Generator().manual_seed(1))
    prompts = ["two red houses in a park", "two blue cars in a park"]
    x, t = torch.randn(2, 3, 16, 16), 500
    with torch.no_grad():
        three = inpaint_eps_fn(prior, prompts, image, masks, scale_image=1.0, scale_text=4.0)(x, t)
        cond = inpaint_condition(image, masks)
        eps_image = prior(x, torch.full((2,), t), prior.text.null(2), cond)
        eps_both = prior(x, torch.full((2,), t), prior.text.encode(prompts), cond)
    assert torch.allclose(three, classifier_free_guidance(eps_image, eps_both, 4.0), atol=1e-5)


def test_noise_functions_take_one_timestep_per_sample_and_size_their_conditions_from_the_input():
    torch.manual_seed(0)
    prior = TinyPrior(PriorConfig(extra_channels=4, block_out_channels=(8, 16, 16), attention_head_dim=8, cross_attention_dim=16)).eval()
    prompts = ["two red houses in a park", "two blue cars in a park"]
    x, t = torch.randn(2, 3, 24, 40), torch.tensor([100, 800])  # not the 32 px training size
    with torch.no_grad():
        eps_fn = inpaint_eps_fn(prior, prompts, None, None, scale_text=3.0)
        both = eps_fn(x, t)
        alone = [inpaint_eps_fn(prior, [p], None, None, scale_text=3.0)(x[i : i + 1], int(t[i])) for i, p in enumerate(prompts)]
        assert both.shape == x.shape
        assert torch.allclose(both, torch.cat(alone), atol=1e-5), "sample i must be denoised at its own timestep t[i]"
        assert torch.allclose(eps_fn(x, 100), eps_fn(x, torch.tensor([100, 100])), atol=1e-6), "an int means the same t for all"
        assert torch.allclose(eps_fn(x, torch.tensor(100)), eps_fn(x, 100), atol=1e-6)
        with pytest.raises(ValueError, match=r"\(2,\) tensor of timesteps"):
            eps_fn(x, torch.tensor([1, 2, 3]))
        with pytest.raises(ValueError, match="integers"):
            eps_fn(x, torch.tensor([0.5, 0.5]))
    # SDS passes a (B,) tensor straight to the prior's noise function: no adapter needed
    render = torch.zeros(2, 3, 24, 40, requires_grad=True)
    sds_loss(eps_fn, render, t, generator=torch.Generator().manual_seed(0)).backward()
    assert render.grad is not None and render.grad.abs().sum() > 0


def test_ddim_inpainting_keeps_the_known_pixels_and_fills_the_hidden_ones_from_the_prior():
    mode = torch.linspace(-0.5, 0.5, 3 * 8 * 8).reshape(1, 3, 8, 8).expand(2, -1, -1, -1)
    image = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1  # far from the mode
    masks = random_masks(2, (8, 8), torch.Generator().manual_seed(1))
    noise = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    x = ddim_inpaint(gaussian_eps(mode), noise, ddim_timesteps(50), image, masks, torch.Generator().manual_seed(3))
    hidden = masks.expand_as(x).bool()
    assert torch.equal(x[~hidden], image[~hidden])  # the known region is the true image, exactly
    assert (x - mode)[hidden].abs().max() < 4 * SIGMA  # the hidden region is a sample of the prior
    assert (image - mode)[hidden].abs().mean() > 4 * SIGMA
    with pytest.raises(ValueError, match="mask"):
        ddim_inpaint(gaussian_eps(mode), noise, ddim_timesteps(5), image, masks[:, :, :4])
    with pytest.raises(ValueError, match="descending"):
        ddim_inpaint(gaussian_eps(mode), noise, [10, 500], image, masks)


def test_cfg_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        classifier_free_guidance(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5), 2.0)
    with pytest.raises(ValueError, match="share one shape"):
        image_text_guidance(torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(2, 3), 1.0, 1.0)


def test_ddim_sampling_of_a_gaussian_prior_lands_on_its_mode():
    mode = torch.linspace(-0.5, 0.5, 3 * 8 * 8).reshape(1, 3, 8, 8)
    x = ddim_sample(gaussian_eps(mode), torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)), ddim_timesteps(50))
    residual = x - mode  # deterministic DDIM maps N(0, I) onto the data distribution N(mode, SIGMA^2 I)
    assert residual.mean().abs() < 0.2 * SIGMA and 0.8 * SIGMA < residual.std() < 1.2 * SIGMA


def test_ddim_inversion_round_trip():
    mode = torch.zeros(1, 3, 8, 8)
    x0 = mode + SIGMA * torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    errors = []
    for num_steps in (50, 100):
        steps = ddim_timesteps(num_steps)
        noise = ddim_invert(gaussian_eps(mode), x0, steps)
        assert noise.std() > 0.8  # the image became noise
        errors.append((ddim_sample(gaussian_eps(mode), noise, steps) - x0).abs().mean())
    other = ddim_sample(gaussian_eps(mode), torch.randn(x0.shape, generator=torch.Generator().manual_seed(2)), ddim_timesteps(100))
    assert errors[1] < 0.15 * (other - x0).abs().mean()  # the inverted noise, not any noise, gives the image back
    assert errors[1] < 0.6 * errors[0]  # and the round trip converges as the steps get smaller


def test_ddim_timesteps_strength_and_errors():
    full, half = ddim_timesteps(20), ddim_timesteps(20, strength=0.5)
    assert len(full) == 20 and full == sorted(full, reverse=True) and half == full[10:]
    with pytest.raises(ValueError, match="strength"):
        ddim_timesteps(20, strength=0.0)
    with pytest.raises(ValueError, match="descending"):
        ddim_sample(lambda x, t: x, torch.zeros(1, 3, 4, 4), [10, 500])


def _random_conv_eps():
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(8, 3, 3, padding=1))
    return lambda x, t: net(x).detach()


def test_circular_multidiffusion_has_no_seam_it_is_equivariant_to_turning_the_panorama():
    eps_fn = _random_conv_eps()
    x = torch.randn(1, 3, 8, 32, generator=torch.Generator().manual_seed(0))
    circular = multidiffusion_eps(eps_fn, x, 500, window=16, stride=8, circular=True)
    turned = multidiffusion_eps(eps_fn, x.roll(8, -1), 500, window=16, stride=8, circular=True)
    assert torch.allclose(turned, circular.roll(8, -1), atol=1e-6)  # no column is special: the two edges meet like any others
    plain = multidiffusion_eps(eps_fn, x, 500, window=16, stride=8, circular=False)
    plain_turned = multidiffusion_eps(eps_fn, x.roll(8, -1), 500, window=16, stride=8, circular=False)
    assert not torch.allclose(plain_turned, plain.roll(8, -1), atol=1e-3)  # without the wrap the seam is special


def test_seam_error_is_one_for_a_periodic_image_and_large_for_a_ramp():
    columns = torch.arange(64, dtype=torch.float32)
    periodic = torch.sin(2 * torch.pi * columns / 64).expand(1, 3, 8, 64)
    ramp = (columns / 64).expand(1, 3, 8, 64)
    assert seam_error(periodic) < 2.0 and seam_error(ramp) > 30  # the seam of a periodic image is like any other column step


def test_window_offsets():
    assert window_offsets(64, 32, 16, circular=True) == [0, 16, 32, 48]
    assert window_offsets(64, 32, 24, circular=False) == [0, 24, 32]
    with pytest.raises(ValueError, match="divide the width"):
        window_offsets(64, 32, 24, circular=True)
    with pytest.raises(ValueError, match="window"):
        window_offsets(16, 32, 8, circular=True)


def test_sds_gradient_is_the_weighted_noise_residual():
    mode = torch.ones(1, 3, 4, 4)
    x = torch.zeros(2, 3, 4, 4, requires_grad=True)
    t, noise = torch.tensor([300, 700]), torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    sds_loss(gaussian_eps(mode), x, t, noise).backward()
    x_t = add_noise(torch.zeros(2, 3, 4, 4), noise, t)
    expected = sds_weight(t).view(-1, 1, 1, 1) * (gaussian_eps(mode)(x_t, t) - noise)
    assert torch.allclose(x.grad, expected, atol=1e-6)
    assert torch.allclose(sds_weight(t), 1 - alphas_cumprod()[t])


def test_sds_moves_a_parameterised_image_to_the_prior_mode():
    mode = torch.linspace(-0.6, 0.6, 3 * 8 * 8).reshape(1, 3, 8, 8)
    theta = torch.zeros(1, 3, 8, 8, requires_grad=True)  # the "scene": an image parameterised directly
    optimizer = torch.optim.Adam([theta], lr=0.02)
    g = torch.Generator().manual_seed(0)
    start = (theta - mode).norm().item()
    for _ in range(300):
        optimizer.zero_grad()
        sds_loss(gaussian_eps(mode), theta, sample_timesteps(1, generator=g), generator=g).backward()
        optimizer.step()
    assert (theta - mode).norm().item() < 0.15 * start


def test_vsd_with_a_noise_returning_particle_is_sds_and_the_estimator_learns():
    mode = torch.ones(1, 3, 4, 4)
    t, noise = torch.tensor([400]), torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    x1, x2 = torch.zeros(1, 3, 4, 4, requires_grad=True), torch.zeros(1, 3, 4, 4, requires_grad=True)
    sds_loss(gaussian_eps(mode), x1, t, noise).backward()
    vsd_loss(gaussian_eps(mode), lambda x_t, t_: noise, x2, t, noise).backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)
    with pytest.raises(ValueError, match="one timestep per image"):
        sds_loss(gaussian_eps(mode), x1, torch.tensor([1, 2]))
    particle = torch.nn.Conv2d(3, 3, 1)
    loss = particle_estimator_loss(lambda x_t, t_: particle(x_t), torch.randn(4, 3, 4, 4), torch.Generator().manual_seed(0))
    loss.backward()
    assert particle.weight.grad is not None and particle.weight.grad.abs().sum() > 0


def test_prompt_encoder_and_condition_dropout():
    ids = tokenize_prompts(["two red houses in a park", "a car"])
    assert ids.shape == (2, 12) and (ids[1, 2:] == 0).all() and (ids[0, :6] > 0).all()
    encoder = PromptEncoder(16, 2)
    tokens = encoder.encode(["two red houses in a park", None])
    assert tokens.shape == (2, 12, 16) and torch.equal(tokens[1], encoder.null(1)[0])
    cond = torch.ones(1000, 3)
    dropped, mask = drop_condition(cond, torch.zeros(1000, 3), 0.2, torch.Generator().manual_seed(0))
    assert 0.15 < mask.float().mean() < 0.25 and torch.equal(dropped[mask], torch.zeros(int(mask.sum()), 3))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(UnknownPromptWordError, match="dragon"):
        tokenize_prompts(["a red dragon"])
    with pytest.raises(ValueError, match="list of prompts"):
        tokenize_prompts("a red house")
    with pytest.raises(ValueError, match="at most 12"):
        tokenize_prompts(["a red house and a red house and a red house and a car"])
    prior = TinyPrior(PriorConfig(extra_channels=4, block_out_channels=(8, 16, 16), attention_head_dim=8, cross_attention_dim=16))
    with pytest.raises(ValueError, match="extra condition channels"):
        prior(torch.zeros(1, 3, 16, 16), torch.tensor([1]), prior.text.null(1))
    with pytest.raises(ValueError, match=r"x_t must be \(B, 3, H, W\)"):
        prior(torch.zeros(1, 4, 16, 16), torch.tensor([1]), prior.text.null(1))
    with pytest.raises(ValueError, match="pose encoder"):
        prior(torch.zeros(1, 3, 16, 16), torch.tensor([1]), prior.text.null(1), torch.zeros(1, 4, 16, 16), pose=torch.zeros(1, 12))
    with pytest.raises(ValueError, match="mask must be"):
        inpaint_condition(torch.zeros(1, 3, 8, 8), torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="unknown prior"):
        load_prior("stable-diffusion")
    with pytest.raises(ValueError, match="out of range"):
        data.perspective_prompt(6)
    with pytest.raises(ValueError, match="multiples of 4"):
        DepthPrior()(torch.zeros(1, 3, 30, 30))
    with pytest.raises(ValueError, match="semantic and depth"):
        data.layout_condition(torch.zeros(1, 8, 8, dtype=torch.long), torch.zeros(1, 8, 9))


def test_pose_hook_adds_a_camera_token():
    prior = TinyPrior(PriorConfig(block_out_channels=(8, 16, 16), attention_head_dim=8, cross_attention_dim=16, use_pose=True)).eval()
    x, t, tokens = torch.randn(2, 3, 16, 16), torch.tensor([10, 10]), prior.text.null(2)
    pose = torch.randn(2, 12)
    with torch.no_grad():
        assert not torch.allclose(prior(x, t, tokens, pose=pose), prior(x, t, tokens, pose=pose + 1.0))
    with pytest.raises(ValueError, match=r"pose must be \(B, 12\)"):
        prior(x, t, tokens, pose=torch.zeros(2, 3, 4))


def test_depth_loss_is_scale_and_shift_invariant_and_pearson_is_one_for_affine_maps():
    d = torch.rand(2, 8, 8) + 1
    assert scale_shift_invariant_loss(3 * d + 5, d) < 1e-6
    assert scale_shift_invariant_loss(-d, d) > 1.0
    assert torch.allclose(pearson(2 * d - 1, d), torch.ones(2), atol=1e-4)


def test_blur_fill_keeps_known_pixels_and_fills_the_mask():
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    masks = random_masks(2, (16, 16), torch.Generator().manual_seed(0))
    filled = blur_fill(image, masks)
    known = ~masks.expand(-1, 3, -1, -1).bool()
    assert torch.equal(filled[known], image[known]) and torch.isfinite(filled).all()


def test_unconditional_unet_factory_builds_a_diffusers_model():
    from course_lib.diffusion.unets import tiny_unet

    unet = tiny_unet(3, 3, block_out_channels=(8, 16, 16))
    assert unet(torch.zeros(2, 3, 16, 16), torch.tensor([5, 900])).sample.shape == (2, 3, 16, 16)
