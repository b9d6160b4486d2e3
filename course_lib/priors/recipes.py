"""Build recipes of the tiny priors (chapters 05-07): render data, train, measure, save safetensors.

Each ``build_*`` has the signature of :class:`course_lib.assets.Recipe` builders and returns the
metrics the manifest records: the training losses and the quality reached on held-out
procedural data (other seeds than the training data), judged by the course's own metrics.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from course_lib.assets import loss_metrics, save_safetensors
from course_lib.config import chapter_values
from course_lib.diffusion.guidance import drop_condition
from course_lib.diffusion.inpainting import blur_fill, inpaint_condition, masked_mse, random_masks
from course_lib.diffusion.sampling import ddim_inpaint, ddim_sample, ddim_timesteps, panorama_eps_fn, seam_error
from course_lib.diffusion.schedule import NUM_TRAIN_TIMESTEPS, add_noise
from course_lib.geometry.depth import pearson, scale_shift_invariant_loss
from course_lib.priors import data
from course_lib.priors.classifier import PromptClassifier
from course_lib.priors.dense import DenseUNet, DepthPrior
from course_lib.priors.shipped import PRIOR_CONFIGS, inpaint_eps_fn, load_classifier, text_eps_fn
from course_lib.priors.tiny_prior import TinyPrior

# Every number of the recipes is a reduced-scale setting of course_lib.config.PRIORS (the full column there names
# the public model each prior stands in for).
SETTINGS = chapter_values("priors", "reduced")
PROMPT_DROPOUT = SETTINGS["prompt_dropout"]  # condition dropout for classifier-free guidance
EVAL_STEPS, EVAL_SCALE = SETTINGS["eval_ddim_steps"], SETTINGS["eval_guidance_scale"]  # DDIM steps and CFG scale of the quality metrics
QUICK_STEPS, QUICK_BATCH = SETTINGS["quick_steps"], SETTINGS["quick_batch"]  # --quick: a few steps, enough to see the loss go down
BATCH = SETTINGS["batch_size"]


def _train(model: nn.Module, loss_fn: Callable[[torch.Generator], torch.Tensor], steps: int, lr: float, seed: int) -> list[float]:
    """AdamW with a short warm-up and cosine decay to 10%; returns the per-step losses."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    warmup = max(1, min(30, steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))))
    losses = []
    model.train()
    for _ in range(steps):
        loss = loss_fn(generator)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


def _batch(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, n, (size,), generator=generator)


def _flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips of a batch (B, C, H, W)."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def _roll(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random circular shifts along the width: a panorama turned about the vertical axis."""
    shifts = torch.randint(0, x.shape[-1], (x.shape[0],), generator=generator)
    return torch.stack([xi.roll(int(s), dims=-1) for xi, s in zip(x, shifts)])


def _diffusion_loss(prior: TinyPrior, x0: torch.Tensor, prompts: list[str], extra: torch.Tensor | None, extra_null: torch.Tensor | None,
                    generator: torch.Generator, weight: torch.Tensor | None = None) -> torch.Tensor:
    """DDPM's simple loss (Ho et al., 2020, Eq. 14), with the prompt (and extra condition) dropped for CFG;
    ``weight`` (B, 1, H, W) weighs the pixels (a weighted mean)."""
    t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    tokens, dropped = drop_condition(prior.text.encode(prompts), prior.text.null(x0.shape[0]), PROMPT_DROPOUT, generator)
    if extra is not None and extra_null is not None:
        keep = (~dropped).view(-1, 1, 1, 1).float()
        extra = extra * keep + extra_null * (1 - keep)
    error = (prior(add_noise(x0, noise, t), t, tokens, extra) - noise) ** 2  # (B, C, H, W)
    return error.mean() if weight is None else (error * weight).mean() / weight.mean()


def _save(out_path: Path, modules: dict[str, nn.Module]) -> None:
    tensors = {f"{prefix}.{k}" if prefix else k: v.detach() for prefix, m in modules.items() for k, v in m.state_dict().items()}
    save_safetensors(tensors, out_path)


@torch.no_grad()
def _accuracy(classifier: PromptClassifier, rgb: torch.Tensor, labels: torch.Tensor) -> float:
    return float((classifier(rgb.clamp(-1, 1)).argmax(-1) == labels).float().mean())


def build_classifier(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """The judge classifier over the prompt classes, trained on perspective views and panoramas (chapters 05-07)."""
    views = data.perspective_set(60 if quick else SETTINGS["classifier_views"], seed + 1)
    panos = data.panorama_set(12 if quick else SETTINGS["classifier_panoramas"], seed + 2)
    model = PromptClassifier()

    def loss_fn(g: torch.Generator) -> torch.Tensor:
        x = _flip(views.rgb[i := _batch(len(views.labels), 32, g)], g)
        p = _roll(_flip(panos.rgb[j := _batch(len(panos.labels), 16, g)], g), g)
        x, p = (z + 0.1 * torch.rand(()) * torch.randn(z.shape, generator=g) for z in (x, p))  # robust to slightly noisy samples
        logits = torch.cat([model(x), model(p)])
        return nn.functional.cross_entropy(logits, torch.cat([views.labels[i], panos.labels[j]]))

    losses = _train(model, loss_fn, QUICK_STEPS if quick else SETTINGS["classifier_steps"], SETTINGS["classifier_lr"], seed)
    test_views, test_panos = data.perspective_set(12 if quick else 300, seed + 901), data.panorama_set(6 if quick else 120, seed + 902)
    _save(out_path, {"": model})
    return {**loss_metrics(losses), "steps": len(losses), "heldout_accuracy_views": _accuracy(model, test_views.rgb, test_views.labels),
            "heldout_accuracy_panoramas": _accuracy(model, test_panos.rgb, test_panos.labels)}


@torch.no_grad()
def sample_classes(eps_fn_for: Callable[[list[str]], Callable], prompts: list[str], shape: tuple[int, ...], seed: int,
                   steps: int = EVAL_STEPS) -> torch.Tensor:
    """DDIM samples (B, *shape) for ``prompts`` from noise seeded by ``seed`` (chapters 05-07)."""
    noise = torch.randn((len(prompts), *shape), generator=torch.Generator().manual_seed(seed))
    return ddim_sample(eps_fn_for(prompts), noise, ddim_timesteps(steps)).clamp(-1, 1)


TEXT2IMAGE_STEPS, KNOWN_WEIGHT = SETTINGS["text2image_steps"], SETTINGS["text2image_known_weight"]  # loss weight of the known pixels in the masked half
# CFG scale of the text-to-image samples' metrics and gallery: 7.5, the default guidance_scale of diffusers'
# Stable Diffusion pipelines, the model this prior stands in for. The build also records the sample accuracy at
# lower scales (TEXT2IMAGE_SCALE_SWEEP), so the effect of the choice is on record.
TEXT2IMAGE_SCALE, TEXT2IMAGE_SCALE_SWEEP = SETTINGS["text2image_guidance_scale"], SETTINGS["text2image_scale_sweep"]
# Inpainting is scored at S_T = 3, the course's evaluation scale: a strong text scale pulls the fill towards
# the prompt's typical look and away from this scene (measured on the 750-step build, 4 fills of 48 held-out
# scenes: mean-of-fills error 0.080 at S_T = 1 and 3, 0.090 at 7.5).
INPAINT_SCALE = SETTINGS["inpaint_guidance_scale"]
FILL_SAMPLES = SETTINGS["fill_samples"]  # inpainting fills per masked image: their mean is the prior's estimate of the hidden pixels


@torch.no_grad()
def inpaint_fills(prior: TinyPrior, images: torch.Tensor, masks: torch.Tensor, prompts: list[str | None], samples: int, seed: int,
                  scale_text: float = INPAINT_SCALE, steps: int = EVAL_STEPS) -> torch.Tensor:
    """``samples`` DDIM inpainting fills (S, B, 3, H, W) of ``images`` where ``masks`` = 1, each from its own noise:
    :func:`ddim_inpaint` with 3-way guidance at S_I = 1 (as SD-inpainting pipelines guide) and ``scale_text`` (chapter 06)."""
    eps_fn = inpaint_eps_fn(prior, prompts, images, masks, 1.0, scale_text)
    fills = []
    for k in range(samples):
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed + 2 * k))
        fills.append(ddim_inpaint(eps_fn, noise, ddim_timesteps(steps), images, masks, torch.Generator().manual_seed(seed + 2 * k + 1)).clamp(-1, 1))
    return torch.stack(fills)


def build_text2image(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """The perspective text-to-image + inpainting prior (chapter 06): one net, inputs x_t, mask, masked image, prompt.

    Half of each batch has the empty image condition (full mask, zero image: text-to-image), half
    a random rectangle mask; prompts are dropped with probability PROMPT_DROPOUT, so the net
    serves eps(empty, empty), eps(I, empty) and eps(I, T). In the masked half the loss weighs the
    hidden pixels 1 and the known ones KNOWN_WEIGHT: the sampler (:func:`ddim_inpaint`) replaces the
    known pixels anyway, and with a plain mean the few hidden pixels got too little of the signal
    (the first build's image-conditioned predictions were worse there than the text-only ones).

    Measured on held-out data: text-to-image samples judged as their prompt (at TEXT2IMAGE_SCALE and
    the sweep's scales), and inpainting error on held-out scenes with random rectangles hidden:
    one fill (averaged over FILL_SAMPLES draws), the mean of the FILL_SAMPLES fills (the prior's
    estimate of the hidden pixels; a single draw from a calibrated prior has about twice its squared
    error, since the true scene is itself one draw), blur fill and the image's mean colour.
    """
    views = data.perspective_set(48 if quick else SETTINGS["text2image_images"], seed + 11)
    prior = TinyPrior(PRIOR_CONFIGS["prior_text2image"])
    size = (data.IMAGE_SIZE, data.IMAGE_SIZE)
    batch = QUICK_BATCH if quick else BATCH

    def loss_fn(g: torch.Generator) -> torch.Tensor:
        i = _batch(len(views.labels), batch, g)
        x0 = _flip(views.rgb[i], g)
        masks = random_masks(batch, size, g)
        masks[: batch // 2] = 1.0  # first half: text-to-image
        extra = inpaint_condition(x0, masks)
        weight = masks + KNOWN_WEIGHT * (1 - masks)  # text-to-image half: all ones
        return _diffusion_loss(prior, x0, [views.prompts[k] for k in i], extra, None, g, weight)

    losses = _train(prior, loss_fn, QUICK_STEPS if quick else TEXT2IMAGE_STEPS, SETTINGS["text2image_lr"], seed)
    _save(out_path, {"prior": prior})
    metrics = {**loss_metrics(losses), "steps": len(losses), "scale": TEXT2IMAGE_SCALE, "inpaint_scale": INPAINT_SCALE}
    if quick:
        return metrics
    classifier = load_classifier()
    per_class = 8
    labels = torch.arange(len(data.PROMPT_CLASSES)).repeat_interleave(per_class)
    prompts = [data.perspective_prompt(int(k)) for k in labels]
    for scale in (TEXT2IMAGE_SCALE, *TEXT2IMAGE_SCALE_SWEEP):
        samples = sample_classes(lambda p: inpaint_eps_fn(prior, p, None, None, scale_text=scale), prompts, (3, *size), seed + 21)
        key = "sample_accuracy" if scale == TEXT2IMAGE_SCALE else f"sample_accuracy_scale_{scale:g}"
        metrics[key] = _accuracy(classifier, samples, labels)
    # Inpainting: held-out scenes, random rectangles hidden, filled by the prior vs by blur.
    test = data.perspective_set(48, seed + 911)
    masks = random_masks(48, size, torch.Generator().manual_seed(seed + 912))
    fills = inpaint_fills(prior, test.rgb, masks, test.prompts, FILL_SAMPLES, seed + 913)

    def mse(x: torch.Tensor) -> float:
        return masked_mse(x, test.rgb, masks)

    metrics.update(fill_samples=FILL_SAMPLES, inpaint_mse_sample=sum(mse(f) for f in fills) / len(fills), inpaint_mse_posterior_mean=mse(fills.mean(0)),
                   inpaint_mse_blur=mse(blur_fill(test.rgb, masks)),
                   inpaint_mse_mean_color=mse(torch.zeros_like(test.rgb) + test.rgb.mean(dim=(2, 3), keepdim=True)))
    return metrics


PANORAMA_WINDOW, PANORAMA_STRIDE = SETTINGS["panorama_window"], SETTINGS["panorama_stride"]  # circular MultiDiffusion windows over the 32 x 64 canvas


def build_panorama(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """The panorama prior (chapter 05): trained on wrapped 32 x 32 crops of 32 x 64 equirectangular panoramas
    (a random turn about the vertical axis, then the left half), prompt-conditioned; sampled over the full
    panorama with circular MultiDiffusion."""
    panos = data.panorama_set(24 if quick else SETTINGS["panorama_images"], seed + 51)
    prior = TinyPrior(PRIOR_CONFIGS["prior_panorama"])
    batch = QUICK_BATCH if quick else BATCH

    def loss_fn(g: torch.Generator) -> torch.Tensor:
        i = _batch(len(panos.labels), batch, g)
        crops = _roll(_flip(panos.rgb[i], g), g)[..., :PANORAMA_WINDOW]
        return _diffusion_loss(prior, crops, [panos.prompts[k] for k in i], None, None, g)

    losses = _train(prior, loss_fn, QUICK_STEPS if quick else SETTINGS["panorama_steps"], SETTINGS["panorama_lr"], seed)
    _save(out_path, {"prior": prior})
    metrics = {**loss_metrics(losses), "steps": len(losses)}
    if quick:
        return metrics
    classifier = load_classifier()
    labels = torch.arange(len(data.PROMPT_CLASSES)).repeat_interleave(6)
    prompts = [data.panorama_prompt(int(k)) for k in labels]
    shape = (3, *data.PANORAMA_SIZE)
    circular = sample_classes(lambda p: panorama_eps_fn(text_eps_fn(prior, p, EVAL_SCALE), PANORAMA_WINDOW, PANORAMA_STRIDE), prompts, shape, seed + 52)
    plain = sample_classes(lambda p: text_eps_fn(prior, p, EVAL_SCALE), prompts, shape, seed + 52)
    reference = data.panorama_set(36, seed + 951).rgb
    metrics.update(sample_accuracy=_accuracy(classifier, circular, labels), sample_accuracy_plain=_accuracy(classifier, plain, labels),
                   seam_error_circular=seam_error(circular), seam_error_plain=seam_error(plain), seam_error_true=seam_error(reference))
    return metrics


def build_depth(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """The monocular depth prior (chapters 05-06): perspective views, panorama tangent-like views and street views,
    scale- and shift-invariant loss; held-out Pearson with the true depth on non-sky pixels."""
    n = 16 if quick else 1
    views, ring, streets = SETTINGS["depth_images"]
    sets = [data.perspective_set(views // n, seed + 31), data.ring_views(ring // n, seed + 32), data.street_set(streets // n, seed + 33)]
    rgb, depth = torch.cat([s.rgb for s in sets]), torch.cat([s.depth for s in sets])
    model = DepthPrior()
    batch = QUICK_BATCH if quick else BATCH

    def loss_fn(g: torch.Generator) -> torch.Tensor:
        i = _batch(len(rgb), batch, g)
        flip = torch.rand(batch, generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], rgb[i].flip(-1), rgb[i])
        d = torch.where(flip[:, None, None], depth[i].flip(-1), depth[i])
        return scale_shift_invariant_loss(model(x), d)

    losses = _train(model, loss_fn, QUICK_STEPS if quick else SETTINGS["depth_steps"], SETTINGS["depth_lr"], seed)
    _save(out_path, {"": model})
    metrics = {**loss_metrics(losses), "steps": len(losses)}
    tests = {"views": data.perspective_set(12 if quick else 120, seed + 931), "ring_views": data.ring_views(12 if quick else 120, seed + 932),
             "streets": data.street_set(12 if quick else 120, seed + 933)}
    mean_depth = depth.mean(dim=0, keepdim=True)  # baseline: the same average depth map for every image (position only)
    with torch.no_grad():
        for name, test in tests.items():
            metrics[f"heldout_pearson_{name}"] = float(pearson(model(test.rgb), test.depth, ~test.sky).mean())
            metrics[f"baseline_pearson_{name}"] = float(pearson(mean_depth.expand_as(test.depth), test.depth, ~test.sky).mean())
    return metrics


def build_layout(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """The layout-conditioned street prior and the layout segmenter (chapter 07).

    The prior sees [x_t, one-hot semantics, depth] (input concatenation standing in for ControlNet);
    the layout and the prompt are dropped together with probability PROMPT_DROPOUT. The segmenter,
    trained on true renders, judges layout adherence: pixel agreement of its labels on samples
    with the layout's labels.
    """
    streets = data.street_set(48 if quick else SETTINGS["layout_images"], seed + 41)
    conditions = data.layout_condition(streets.semantic, streets.depth)
    prior = TinyPrior(PRIOR_CONFIGS["prior_layout"])
    segmenter = DenseUNet(3, len(data.LAYOUT_CLASSES))
    batch = QUICK_BATCH if quick else BATCH

    def prior_loss(g: torch.Generator) -> torch.Tensor:
        i = _batch(len(streets.prompts), batch, g)
        flip = torch.rand(batch, generator=g) < 0.5
        x0 = torch.where(flip[:, None, None, None], streets.rgb[i].flip(-1), streets.rgb[i])
        extra = torch.where(flip[:, None, None, None], conditions[i].flip(-1), conditions[i])
        return _diffusion_loss(prior, x0, [streets.prompts[k] for k in i], extra, torch.zeros_like(extra), g)

    def segmenter_loss(g: torch.Generator) -> torch.Tensor:
        i = _batch(len(streets.prompts), batch, g)
        x = streets.rgb[i] + 0.1 * torch.rand(()) * torch.randn(streets.rgb[i].shape, generator=g)
        return nn.functional.cross_entropy(segmenter(x), streets.semantic[i])

    losses = _train(prior, prior_loss, QUICK_STEPS if quick else SETTINGS["layout_steps"], SETTINGS["layout_lr"], seed)
    segmenter_losses = _train(segmenter, segmenter_loss, QUICK_STEPS if quick else SETTINGS["segmenter_steps"], SETTINGS["segmenter_lr"], seed + 1)
    _save(out_path, {"prior": prior, "segmenter": segmenter})
    metrics = {**loss_metrics(losses), "steps": len(losses), "segmenter_loss_start": loss_metrics(segmenter_losses)["loss_start"],
               "segmenter_loss_end": loss_metrics(segmenter_losses)["loss_end"]}
    if quick:
        return metrics
    test = data.street_set(48, seed + 941)
    cond = data.layout_condition(test.semantic, test.depth)
    shape = (3, data.IMAGE_SIZE, data.IMAGE_SIZE)
    guided = sample_classes(lambda p: text_eps_fn(prior, p, EVAL_SCALE, cond, torch.zeros_like(cond)), test.prompts, shape, seed + 42)
    unguided = sample_classes(lambda p: text_eps_fn(prior, p, EVAL_SCALE, torch.zeros_like(cond)), test.prompts, shape, seed + 42)
    with torch.no_grad():
        def agreement(rgb: torch.Tensor) -> float:
            return float((segmenter(rgb).argmax(1) == test.semantic).float().mean())

        metrics.update(layout_agreement=agreement(guided), layout_agreement_unguided=agreement(unguided),
                       segmenter_accuracy_true_renders=agreement(test.rgb))
    return metrics
