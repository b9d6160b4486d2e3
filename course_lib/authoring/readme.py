"""The README's chapter table, generated so that its badges come from ``course_lib.links``.

The table sits between ``<!-- chapters -->`` and ``<!-- /chapters -->`` in README.md and is
rewritten by ``python -m course_lib.authoring.generate``. A chapter marked ``released`` gets
Colab/Binder badges for its learner notebook; the others say "coming".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from course_lib import links

TABLE_BEGIN = "<!-- chapters -->"
TABLE_END = "<!-- /chapters -->"


@dataclass(frozen=True)
class Chapter:
    """One chapter of the course: its notebook, its paper and what the learner builds."""

    number: str
    notebook: str
    paper: str
    arxiv: str
    builds: str
    released: bool = False

    @property
    def path(self) -> str:
        """Repository-relative path of the learner notebook."""
        return f"notebooks/{self.notebook}"


CHAPTERS = (
    Chapter("01", "01_infini_attention.ipynb", "Infini-attention", "2404.07143",
            "attention from scratch, compressive memory, segment streaming, passkey retrieval", released=True),
    Chapter("02", "02_ruler.ipynb", "RULER", "2404.06654",
            "synthetic long-context tasks, scoring, effective context length", released=True),
    Chapter("03", "03_illama.ipynb", "iLLaMA", "2404.06773",
            "a ViT LLaMAfied step by step: SwiGLU, RMSNorm, causal mask, RoPE", released=True),
    Chapter("04", "04_brave.ipynb", "BRAVE", "2404.07204",
            "several frozen vision encoders bridged to a frozen LM by a Q-Former", released=True),
    Chapter("05", "05_dreamscene360.ipynb", "DreamScene360", "2404.06903",
            "Gaussian splatting from scratch, 360° panorama diffusion, global depth alignment, virtual-view regularisers",
            released=True),
    Chapter("06", "06_realmdreamer.ipynb", "RealmDreamer", "2404.07199",
            "image to point cloud, occlusion volume, inpainting and depth distillation vs SDS, scored on the true scene",
            released=True),
    Chapter("07", "07_urban_architect.ipynb", "Urban Architect", "2404.06780",
            "Instant-NGP hash grid, volume rendering, layout-constrained sampling, a grid that grows as you drive, "
            "layout-guided VSD with a peft LoRA estimator, editing", released=True),
)


def chapter_table() -> str:
    """The markdown chapter table, marker lines included."""
    rows = [
        TABLE_BEGIN,
        "| # | chapter | paper | you build | open |",
        "|---|---|---|---|---|",
    ]
    for ch in CHAPTERS:
        title = f"[{ch.paper}]({ch.path})" if ch.released else ch.paper
        paper = f"[{ch.arxiv}](https://arxiv.org/abs/{ch.arxiv})"
        status = links.badges_line(ch.path) if ch.released else "coming"
        rows.append(f"| {ch.number} | {title} | {paper} | {ch.builds} | {status} |")
    rows.append(TABLE_END)
    return "\n".join(rows)


def update_readme(path: Path, check: bool = False) -> bool:
    """Rewrite the chapter table of the README at ``path``; return whether it was out of date.

    With ``check=True`` nothing is written. Raises ``ValueError`` if the markers are missing.
    """
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(TABLE_BEGIN) + r".*?" + re.escape(TABLE_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {TABLE_BEGIN} ... {TABLE_END} block for the chapter table")
    new_text = pattern.sub(lambda _: chapter_table(), text, count=1)
    if new_text != text and not check:
        path.write_text(new_text, encoding="utf-8")
    return new_text != text
