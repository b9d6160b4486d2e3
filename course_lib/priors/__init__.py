"""The shipped stand-in models of chapters 05-07, trained by the course on procedural data: their
architectures, loaders, guided noise predictors, training data, build recipes and sample galleries.

========================  ==============================================  ===========================
asset                     stands in for                                   inputs
========================  ==============================================  ===========================
``prior_text2image``      Stable Diffusion + SD-inpainting                x_t, mask, masked image, prompt
``prior_panorama``        SD + 360° LoRA (DreamScene360)                  x_t (32 x 32 crops), prompt
``prior_layout``          SD + ControlNet (seg + depth, Urban Architect)  x_t, semantic + depth layout, prompt
``prior_depth``           Marigold / Depth Anything / DPT                 RGB -> relative depth
``prior_classifier``      CLIP / DINO (judge, features)                   RGB -> prompt class
========================  ==============================================  ===========================

- :mod:`~course_lib.priors.tiny_prior`, :mod:`~course_lib.priors.text`: the diffusion prior and its prompt encoder.
- :mod:`~course_lib.priors.dense`, :mod:`~course_lib.priors.classifier`: the depth prior, the layout segmenter, the judge.
- :mod:`~course_lib.priors.shipped`: loading the ``prior_*`` assets, and their guided noise predictors.
- :mod:`~course_lib.priors.data`, :mod:`~course_lib.priors.recipes`, :mod:`~course_lib.priors.gallery`: how they are built and shown.

The methods they serve (sampling, guidance, distillation) live in :mod:`course_lib.diffusion`;
their settings in :data:`course_lib.config.PRIORS`.
"""

from course_lib.priors.classifier import PromptClassifier
from course_lib.priors.dense import DenseUNet, DepthPrior
from course_lib.priors.shipped import PRIOR_CONFIGS, inpaint_eps_fn, load_classifier, load_depth_prior, load_prior, load_segmenter, text_eps_fn
from course_lib.priors.text import PromptEncoder, tokenize_prompts
from course_lib.priors.tiny_prior import PriorConfig, TinyPrior

__all__ = [
    "DenseUNet", "DepthPrior", "PRIOR_CONFIGS", "PriorConfig", "PromptClassifier", "PromptEncoder", "TinyPrior", "inpaint_eps_fn",
    "load_classifier", "load_depth_prior", "load_prior", "load_segmenter", "text_eps_fn", "tokenize_prompts",
]
