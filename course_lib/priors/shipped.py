"""The shipped tiny priors: their configs, loading, and their guided noise predictors (chapters 05-07).

Which public model each one stands in for: :mod:`course_lib.priors` and :data:`course_lib.config.PRIORS`.
"""

from __future__ import annotations

import torch

from course_lib import assets
from course_lib.diffusion.guidance import classifier_free_guidance, image_text_guidance
from course_lib.diffusion.inpainting import inpaint_condition
from course_lib.diffusion.sampling import EpsFn
from course_lib.diffusion.schedule import batch_timesteps
from course_lib.priors.classifier import PromptClassifier
from course_lib.priors.data import LAYOUT_CLASSES
from course_lib.priors.dense import DenseUNet, DepthPrior
from course_lib.priors.tiny_prior import PriorConfig, TinyPrior

PRIOR_CONFIGS: dict[str, PriorConfig] = {
    "prior_text2image": PriorConfig(extra_channels=4),
    "prior_panorama": PriorConfig(),
    "prior_layout": PriorConfig(extra_channels=len(LAYOUT_CLASSES) + 1),
}


def _frozen(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    model.load_state_dict(state)
    model.eval().requires_grad_(False)
    return model


def load_prior(name: str) -> TinyPrior:
    """A shipped diffusion prior, frozen, in eval mode; ``name`` is a key of :data:`PRIOR_CONFIGS` (chapters 05-07)."""
    if name not in PRIOR_CONFIGS:
        raise ValueError(f"unknown prior {name!r}; the diffusion priors are {sorted(PRIOR_CONFIGS)}")
    state = {k.removeprefix("prior."): v for k, v in assets.load(name).items() if k.startswith("prior.")}
    return _frozen(TinyPrior(PRIOR_CONFIGS[name]), state)


def load_depth_prior() -> DepthPrior:
    """The shipped monocular depth prior, frozen (chapters 05-06)."""
    return _frozen(DepthPrior(), assets.load("prior_depth"))


def load_classifier() -> PromptClassifier:
    """The shipped judge classifier / feature encoder, frozen (chapters 05-07)."""
    return _frozen(PromptClassifier(), assets.load("prior_classifier"))


def load_segmenter() -> DenseUNet:
    """The layout segmenter shipped with ``prior_layout``: street RGB -> logits over LAYOUT_CLASSES, frozen (chapter 07)."""
    state = {k.removeprefix("segmenter."): v for k, v in assets.load("prior_layout").items() if k.startswith("segmenter.")}
    return _frozen(DenseUNet(3, len(LAYOUT_CLASSES)), state)


def text_eps_fn(prior: TinyPrior, prompts: list[str], scale: float, extra: torch.Tensor | None = None,
                extra_null: torch.Tensor | None = None) -> EpsFn:
    """Noise predictor with 2-way :func:`~course_lib.diffusion.guidance.classifier_free_guidance` (chapter 05).

    ``extra`` is the condition image of priors that take one (layout); ``extra_null`` its empty
    version for the unconditional branch (default: the same as ``extra``). The predictor takes
    ``t`` as a (B,) tensor or an int (:func:`~course_lib.diffusion.schedule.batch_timesteps`)."""
    batch = len(prompts)
    cond, null = prior.text.encode(prompts), prior.text.null(batch)
    extra_null = extra if extra_null is None else extra_null

    def eps_fn(x_t: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        if x_t.shape[0] != batch:
            raise ValueError(f"x_t has batch {x_t.shape[0]} but {batch} prompts were given")
        both_extra = None if extra is None else torch.cat([extra_null, extra])
        eps = prior(torch.cat([x_t, x_t]), batch_timesteps(t, batch).repeat(2), torch.cat([null, cond]), both_extra)
        return classifier_free_guidance(*eps.chunk(2), scale)

    return eps_fn


def inpaint_eps_fn(prior: TinyPrior, prompts: list[str | None], image: torch.Tensor | None, mask: torch.Tensor | None,
                   scale_image: float = 1.0, scale_text: float = 3.0, guidance=image_text_guidance) -> EpsFn:
    """Noise predictor of the inpainting prior with RealmDreamer's 3-way guidance
    :func:`~course_lib.diffusion.guidance.image_text_guidance` (chapter 06). ``image=None``: plain text-to-image
    with 2-way guidance, at the size of the ``x_t`` it is called with. ``t``: a (B,) tensor or an int. ``guidance``
    replaces :func:`~course_lib.diffusion.guidance.image_text_guidance` (same signature; chapter 06 passes the learner's)."""
    batch = len(prompts)
    if image is not None and image.shape[0] != batch:
        raise ValueError(f"image has batch {image.shape[0]} but {batch} prompts were given")
    cond_image = None if image is None else inpaint_condition(image, mask)
    text, null = prior.text.encode(prompts), prior.text.null(batch)

    def eps_fn(x_t: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        if x_t.shape[0] != batch:
            raise ValueError(f"x_t has batch {x_t.shape[0]} but {batch} prompts were given")
        t = batch_timesteps(t, batch)
        empty = inpaint_condition(None, None, batch, tuple(x_t.shape[-2:]))
        if cond_image is None:
            eps = prior(torch.cat([x_t, x_t]), t.repeat(2), torch.cat([null, text]), torch.cat([empty, empty]))
            return classifier_free_guidance(*eps.chunk(2), scale_text)
        eps = prior(torch.cat([x_t] * 3), t.repeat(3), torch.cat([null, null, text]), torch.cat([empty, cond_image, cond_image]))
        return guidance(*eps.chunk(3), scale_image, scale_text)

    return eps_fn
