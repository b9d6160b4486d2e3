"""The shipped tiny priors: their configs, loading, and their guided noise predictors (chapters 05-07).

========================  ==============================================  ===========================
asset                     stands in for                                   inputs
========================  ==============================================  ===========================
``prior_text2image``      Stable Diffusion + SD-inpainting                x_t, mask, masked image, prompt
``prior_panorama``        SD + 360° LoRA (DreamScene360)                  x_t (32 x 32 crops), prompt
``prior_layout``          SD + ControlNet (seg + depth, Urban Architect)  x_t, semantic + depth layout, prompt
``prior_depth``           Marigold / Depth Anything / DPT                 RGB -> relative depth
``prior_classifier``      CLIP / DINO (judge, features)                   RGB -> prompt class
========================  ==============================================  ===========================
"""

from __future__ import annotations

import torch

from course_lib import assets
from course_lib.diffusion.classifier import PromptClassifier
from course_lib.diffusion.data import LAYOUT_CLASSES
from course_lib.diffusion.dense import DenseNet, DepthPrior
from course_lib.diffusion.guidance import cfg, cfg_3way
from course_lib.diffusion.inpainting import inpaint_condition
from course_lib.diffusion.sampling import EpsFn
from course_lib.diffusion.unets import PriorConfig, TinyPrior

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
    """A shipped diffusion prior, frozen, in eval mode (chapters 05-07); ``name`` is a key of :data:`PRIOR_CONFIGS`."""
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


def load_segmenter() -> DenseNet:
    """The layout segmenter shipped with ``prior_layout``: street RGB -> logits over LAYOUT_CLASSES, frozen (chapter 07)."""
    state = {k.removeprefix("segmenter."): v for k, v in assets.load("prior_layout").items() if k.startswith("segmenter.")}
    return _frozen(DenseNet(3, len(LAYOUT_CLASSES)), state)


def text_eps_fn(prior: TinyPrior, prompts: list[str], scale: float, extra: torch.Tensor | None = None,
                extra_null: torch.Tensor | None = None) -> EpsFn:
    """Noise predictor with 2-way classifier-free guidance :func:`~course_lib.diffusion.guidance.cfg` (chapter 05).

    ``extra`` is the condition image of priors that take one (layout); ``extra_null`` its empty
    version for the unconditional branch (default: the same as ``extra``)."""
    batch = len(prompts)
    cond, null = prior.text.encode(prompts), prior.text.null(batch)
    extra_null = extra if extra_null is None else extra_null

    def eps_fn(x_t: torch.Tensor, t: int) -> torch.Tensor:
        if x_t.shape[0] != batch:
            raise ValueError(f"x_t has batch {x_t.shape[0]} but {batch} prompts were given")
        both_extra = None if extra is None else torch.cat([extra_null, extra])
        eps = prior(torch.cat([x_t, x_t]), torch.full((2 * batch,), t), torch.cat([null, cond]), both_extra)
        return cfg(*eps.chunk(2), scale)

    return eps_fn


def inpaint_eps_fn(prior: TinyPrior, prompts: list[str | None], image: torch.Tensor | None, mask: torch.Tensor | None,
                   scale_image: float = 1.0, scale_text: float = 3.0) -> EpsFn:
    """Noise predictor of the inpainting prior with RealmDreamer's 3-way guidance
    :func:`~course_lib.diffusion.guidance.cfg_3way` (chapter 06). ``image=None``: plain text-to-image with 2-way CFG."""
    batch = len(prompts)
    if image is not None and image.shape[0] != batch:
        raise ValueError(f"image has batch {image.shape[0]} but {batch} prompts were given")
    size = (prior.config.sample_size, prior.config.sample_size) if image is None else tuple(image.shape[-2:])
    empty = inpaint_condition(None, None, batch, size)
    cond_image = empty if image is None else inpaint_condition(image, mask)
    text, null = prior.text.encode(prompts), prior.text.null(batch)

    def eps_fn(x_t: torch.Tensor, t: int) -> torch.Tensor:
        if image is None:
            eps = prior(torch.cat([x_t, x_t]), torch.full((2 * batch,), t), torch.cat([null, text]), torch.cat([empty, empty]))
            return cfg(*eps.chunk(2), scale_text)
        eps = prior(torch.cat([x_t] * 3), torch.full((3 * batch,), t), torch.cat([null, null, text]), torch.cat([empty, cond_image, cond_image]))
        return cfg_3way(*eps.chunk(3), scale_image, scale_text)

    return eps_fn
