"""The shipped priors of chapters 05-07: the quality their builds recorded, and that the shipped weights still deliver it."""

from __future__ import annotations

import pytest
import torch

from course_lib import assets
from course_lib.priors import data
from course_lib.geometry.depth import pearson
from course_lib.priors.gallery import main as gallery_main
from course_lib.diffusion.inpainting import blur_fill, masked_mse, random_masks
from course_lib.priors.shipped import PRIOR_CONFIGS, inpaint_eps_fn, load_classifier, load_depth_prior, load_prior, load_segmenter
from course_lib.priors.recipes import TEXT2IMAGE_SCALE, inpaint_fills
from course_lib.diffusion.sampling import ddim_sample, ddim_timesteps


def metrics(name: str) -> dict:
    return assets.metadata(name, assets.REPO_ROOT / "data")["metrics"]


def test_recorded_quality_of_the_classifier_panorama_depth_and_layout_priors():
    assert metrics("prior_classifier")["heldout_accuracy_views"] >= 0.95
    assert metrics("prior_classifier")["heldout_accuracy_panoramas"] >= 0.95
    pano = metrics("prior_panorama")
    assert pano["sample_accuracy"] >= 0.8
    assert pano["seam_error_circular"] < 0.7 * pano["seam_error_plain"]  # the wrap-around windows make the seam smoother
    depth = metrics("prior_depth")
    assert min(depth[f"heldout_pearson_{k}"] for k in ("views", "ring_views", "streets")) >= 0.85
    layout = metrics("prior_layout")
    assert layout["layout_agreement"] >= 0.8 and layout["layout_agreement"] > layout["layout_agreement_unguided"] + 0.1


def test_recorded_quality_of_the_text2image_inpainting_prior():
    t2i = metrics("prior_text2image")
    assert t2i["scale"] == TEXT2IMAGE_SCALE
    assert t2i["sample_accuracy"] >= 0.8
    # the prior's estimate of the hidden pixels (the mean of its fills) beats blur fill by a clear margin
    assert t2i["inpaint_mse_posterior_mean"] < 0.8 * t2i["inpaint_mse_blur"]
    # one fill is a draw: worse than the mean of draws, better than filling with the image's mean colour
    assert t2i["inpaint_mse_posterior_mean"] < t2i["inpaint_mse_sample"] < t2i["inpaint_mse_mean_color"]


@torch.no_grad()
def test_shipped_inpainting_prior_beats_blur_on_held_out_scenes():
    prior = load_prior("prior_text2image")
    test = data.perspective_set(12, 778)
    masks = random_masks(12, (32, 32), torch.Generator().manual_seed(5))
    region = masks.expand(-1, 3, -1, -1).bool()
    fills = inpaint_fills(prior, test.rgb, masks, test.prompts, samples=4, seed=0, steps=10)
    assert torch.equal(fills[:, ~region], test.rgb[~region].expand(4, -1))  # the known pixels are kept exactly
    assert masked_mse(fills.mean(0), test.rgb, masks) < masked_mse(blur_fill(test.rgb, masks), test.rgb, masks)


@pytest.mark.parametrize("name", sorted(PRIOR_CONFIGS))
def test_shipped_diffusion_priors_load_and_predict_noise(name):
    prior = load_prior(name)
    c = prior.config
    extra = torch.zeros(2, c.extra_channels, 32, 32) if c.extra_channels else None
    with torch.no_grad():
        eps = prior(torch.randn(2, 3, 32, 32), torch.tensor([100, 800]), prior.text.encode(["a red house", None]), extra)
    assert eps.shape == (2, 3, 32, 32) and torch.isfinite(eps).all()


@torch.no_grad()
def test_shipped_text2image_prior_draws_its_prompts():
    prior, judge = load_prior("prior_text2image"), load_classifier()
    labels = torch.arange(len(data.PROMPT_CLASSES))
    prompts = [data.perspective_prompt(int(k)) for k in labels]
    noise = torch.randn(len(prompts), 3, 32, 32, generator=torch.Generator().manual_seed(0))
    x = ddim_sample(inpaint_eps_fn(prior, prompts, None, None, scale_text=TEXT2IMAGE_SCALE), noise, ddim_timesteps(10)).clamp(-1, 1)
    assert (judge(x).argmax(-1) == labels).float().mean() >= 4 / 6


@torch.no_grad()
def test_shipped_depth_prior_and_segmenter_on_held_out_data():
    views = data.perspective_set(6, 777)
    assert pearson(load_depth_prior()(views.rgb), views.depth, ~views.sky).mean() > 0.8
    streets = data.street_set(6, 777)
    assert (load_segmenter()(streets.rgb).argmax(1) == streets.semantic).float().mean() > 0.8


def test_gallery_writes_pngs_and_rejects_unknown_names(tmp_path, capsys):
    assert gallery_main(["prior_classifier", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "prior_classifier.png").stat().st_size > 1000
    assert gallery_main(["stable_diffusion", "--out", str(tmp_path)]) == 2
    assert "unknown prior" in capsys.readouterr().err
