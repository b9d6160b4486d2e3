"""Semantic classes of the procedural worlds and their display palette (chapters 05-07).

Label 0 is the sky (no surface hit). Urban Architect (chapter 07) uses the street classes
(road, sidewalk, building, tree, car) as its 3D semantic layout.
"""

from __future__ import annotations

import torch

CLASSES: tuple[str, ...] = (
    "sky", "ground", "road", "sidewalk", "building", "roof", "tree", "car",
    "floor", "wall", "ceiling", "furniture", "ball", "box", "platform",
)
CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

# One display colour per class (RGB in [0, 1]), used to draw semantic maps.
PALETTE = torch.tensor([
    [0.53, 0.81, 0.92], [0.35, 0.55, 0.25], [0.30, 0.30, 0.32], [0.70, 0.68, 0.62],
    [0.75, 0.45, 0.35], [0.50, 0.20, 0.15], [0.15, 0.50, 0.15], [0.10, 0.20, 0.80],
    [0.60, 0.45, 0.30], [0.85, 0.82, 0.75], [0.95, 0.95, 0.95], [0.55, 0.35, 0.60],
    [0.95, 0.60, 0.10], [0.90, 0.85, 0.20], [0.45, 0.45, 0.45],
])


def class_id(name: str) -> int:
    """Integer label of the semantic class ``name`` (chapter 07)."""
    if name not in CLASS_ID:
        raise ValueError(f"unknown semantic class {name!r}; the classes are {list(CLASSES)}")
    return CLASS_ID[name]


def colorize_semantics(labels: torch.Tensor) -> torch.Tensor:
    """(...,) integer labels -> (..., 3) palette colours, for plots (chapters 05-07)."""
    return PALETTE[labels.clamp(0, len(CLASSES) - 1)]
