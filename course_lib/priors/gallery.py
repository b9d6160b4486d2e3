"""Sample galleries of the shipped priors (chapters 05-07): one PNG grid per prior, prompt as title.

    python -m course_lib.priors.gallery [NAME ...] --out build/gallery

Held-out procedural data (seeds unseen in training) is used for conditions and references.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from course_lib.assets import AssetError  # noqa: E402
from course_lib.priors import data  # noqa: E402
from course_lib.diffusion.inpainting import blur_fill, random_masks  # noqa: E402
from course_lib.priors.shipped import (  # noqa: E402
    inpaint_eps_fn, load_classifier, load_depth_prior, load_prior, load_segmenter, text_eps_fn,
)
from course_lib.priors.recipes import EVAL_SCALE, FILL_SAMPLES, PANORAMA_STRIDE, PANORAMA_WINDOW, TEXT2IMAGE_SCALE  # noqa: E402
from course_lib.priors.recipes import inpaint_fills, sample_classes  # noqa: E402
from course_lib.diffusion.sampling import panorama_eps_fn  # noqa: E402
from course_lib.scenes import colorize_semantics  # noqa: E402

GALLERY_SEED = 12345


def _img(x: torch.Tensor):
    return ((x.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()


def _grid(images: list[list], titles: list[list[str]], path: Path, cell: tuple[float, float] = (1.4, 1.6), cmap: str | None = None) -> Path:
    rows, cols = len(images), max(len(r) for r in images)
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(images[r]):
                ax.imshow(images[r][c], cmap=cmap, interpolation="nearest")
                ax.set_title(titles[r][c], fontsize=5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@torch.no_grad()
def gallery_text2image(out: Path, per_class: int = 6) -> list[Path]:
    """Text-to-image samples per prompt class, and inpainting fills next to blur fills (chapter 06)."""
    prior, classifier = load_prior("prior_text2image"), load_classifier()
    size = (data.IMAGE_SIZE, data.IMAGE_SIZE)
    rows, titles = [], []
    for label in range(len(data.PROMPT_CLASSES)):
        prompt = data.perspective_prompt(label)
        x = sample_classes(lambda p: inpaint_eps_fn(prior, p, None, None, scale_text=TEXT2IMAGE_SCALE), [prompt] * per_class, (3, *size), GALLERY_SEED + label)
        judged = classifier(x).argmax(-1)
        rows.append([_img(s) for s in x])
        titles.append([f"{prompt}\n(judge: {'ok' if int(j) == label else 'no'})" for j in judged])
    paths = [_grid(rows, titles, out / "prior_text2image.png")]
    test = data.perspective_set(6, GALLERY_SEED)
    masks = random_masks(6, size, torch.Generator().manual_seed(GALLERY_SEED))
    fills = inpaint_fills(prior, test.rgb, masks, test.prompts, FILL_SAMPLES, GALLERY_SEED)
    blur = blur_fill(test.rgb, masks)
    columns = [("true scene", test.rgb), ("masked", test.rgb * (1 - masks)), ("prior fill 1", fills[0]), ("prior fill 2", fills[1]),
               (f"mean of {FILL_SAMPLES} fills", fills.mean(0)), ("blur fill", blur)]
    rows = [[_img(images[k]) for _, images in columns] for k in range(6)]
    titles = [[f"{name}\n{test.prompts[k]}" for name, _ in columns] for k in range(6)]
    paths.append(_grid(rows, titles, out / "prior_text2image_inpainting.png"))
    return paths


@torch.no_grad()
def gallery_panorama(out: Path) -> list[Path]:
    """Panoramas per prompt class with circular MultiDiffusion, each shown twice side by side (turned by half a
    panorama) so the wrap-around seam sits in the middle of the second copy (chapter 05)."""
    prior = load_prior("prior_panorama")
    labels = list(range(len(data.PROMPT_CLASSES)))
    prompts = [data.panorama_prompt(k) for k in labels]
    fn = lambda p: panorama_eps_fn(text_eps_fn(prior, p, EVAL_SCALE), PANORAMA_WINDOW, PANORAMA_STRIDE)  # noqa: E731
    x = sample_classes(fn, prompts, (3, *data.PANORAMA_SIZE), GALLERY_SEED)
    plain = sample_classes(lambda p: text_eps_fn(prior, p, EVAL_SCALE), prompts, (3, *data.PANORAMA_SIZE), GALLERY_SEED)
    half = data.PANORAMA_SIZE[1] // 2
    rows = [[_img(x[k]), _img(x[k].roll(half, -1)), _img(plain[k].roll(half, -1))] for k in labels]
    titles = [[prompts[k], "circular, seam at centre", "plain, seam at centre"] for k in labels]
    return [_grid(rows, titles, out / "prior_panorama.png", cell=(2.4, 1.5))]


@torch.no_grad()
def gallery_depth(out: Path) -> list[Path]:
    """Held-out views, their predicted relative depth and the true depth (chapters 05-06)."""
    model = load_depth_prior()
    sets = [data.perspective_set(4, GALLERY_SEED), data.ring_views(4, GALLERY_SEED), data.street_set(4, GALLERY_SEED)]
    rows, titles = [], []
    for s in sets:
        pred = model(s.rgb)
        for k in range(4):
            rows.append([_img(s.rgb[k]), pred[k].numpy(), s.depth[k].numpy()])
            titles.append([s.prompts[k], "predicted (relative)", "true depth"])
    return [_grid(rows, titles, out / "prior_depth.png", cmap="magma")]


@torch.no_grad()
def gallery_layout(out: Path, count: int = 6) -> list[Path]:
    """Held-out street layouts, the prior's renders, the segmenter's reading of them, and the true renders (chapter 07)."""
    prior, segmenter = load_prior("prior_layout"), load_segmenter()
    test = data.street_set(count, GALLERY_SEED)
    cond = data.layout_condition(test.semantic, test.depth)
    x = sample_classes(lambda p: text_eps_fn(prior, p, EVAL_SCALE, cond, torch.zeros_like(cond)), test.prompts, (3, data.IMAGE_SIZE, data.IMAGE_SIZE), GALLERY_SEED)
    seg = segmenter(x).argmax(1)
    semantic_colors = lambda s: colorize_semantics(torch.tensor([data.CLASSES_INDEX[c] for c in data.LAYOUT_CLASSES])[s]).numpy()  # noqa: E731
    rows = [[semantic_colors(test.semantic[k]), test.depth[k].numpy() / data.MAX_DEPTH, _img(x[k]), semantic_colors(seg[k]), _img(test.rgb[k])] for k in range(count)]
    titles = [["layout: semantics", "layout: depth", "prior render", "segmenter on render", "true render"]] * count
    return [_grid(rows, titles, out / "prior_layout.png")]


@torch.no_grad()
def gallery_classifier(out: Path) -> list[Path]:
    """Held-out views and panoramas with the judge's predicted prompt class (chapters 05-07)."""
    model = load_classifier()
    views, panos = data.perspective_set(12, GALLERY_SEED), data.panorama_set(6, GALLERY_SEED)
    rows, titles = [], []
    for s in (views, panos):
        pred = model(s.rgb).argmax(-1)
        for start in range(0, len(s.prompts), 6):
            rows.append([_img(s.rgb[k]) for k in range(start, min(start + 6, len(s.prompts)))])
            titles.append([f"true: {s.prompts[k]}\njudge: {' '.join(data.PROMPT_CLASSES[int(pred[k])][::-1])}" for k in range(start, min(start + 6, len(s.prompts)))])
    return [_grid(rows, titles, out / "prior_classifier.png", cell=(1.8, 1.5))]


GALLERIES = {"prior_text2image": gallery_text2image, "prior_panorama": gallery_panorama, "prior_depth": gallery_depth,
             "prior_layout": gallery_layout, "prior_classifier": gallery_classifier}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``[NAME ...] --out DIR``; all priors when no name is given."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.priors.gallery", description="Sample galleries of the shipped priors.")
    parser.add_argument("names", nargs="*", help=f"priors to draw (default: all): {', '.join(GALLERIES)}")
    parser.add_argument("--out", type=Path, default=Path("build/gallery"))
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in GALLERIES]
    if unknown:
        print(f"error: unknown prior(s) {unknown}; choose from {', '.join(GALLERIES)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(GALLERY_SEED)
    try:
        for name in args.names or list(GALLERIES):
            for path in GALLERIES[name](args.out):
                print(f"wrote {path}")
    except AssetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
