"""Three small frozen vision encoders with different blind spots (chapter 04, BRAVE 2404.07204 §3).

BRAVE's encoders differ in objective, data and architecture, so each sees what the others
miss. The reduced scale builds that difference in on purpose, by inductive bias:

* :class:`ShapeCNN` — a timm ResNet on the *ink* image (the max over RGB channels, the same
  for every colour), pre-trained to name the shape in each cell: colour-blind.
* :class:`ColourNet` — a per-pixel (1x1-conv) network max-pooled over each cell, pre-trained
  to name each cell's colour: it never sees two pixels together, so it is shape-blind.
* :class:`LayoutViT` — chapter 03's :class:`VisionTransformer` on a 4x4 thumbnail of the ink
  image, pre-trained on which cells are occupied and how many objects there are: it sees
  layout and count, but neither shape (too coarse) nor colour (ink only).

Each returns a *token sequence* from :meth:`tokens`, one token per cell of the world, with the
last layer dropped as in the paper (the last layer feeds only the pre-training head); each token
carries its cell's grid coordinates, as a hub ViT's tokens carry their position embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.resnet import BasicBlock, ResNet
from torch import nn

from course_lib.vision.vit import ViTConfig, VisionTransformer
from course_lib.vlm.world import CELL_SIZE, IMAGE_SIZE

ENCODER_NAMES = ("shape_cnn", "colour_net", "layout_vit")


def ink(images: torch.Tensor) -> torch.Tensor:
    """The colour-blind view of RGB images: max over channels, (B, 3, H, W) -> (B, 1, H, W).

    Every colour of the world has a channel at 1, so the ink of a red and a blue square is the same.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images of shape (B, 3, H, W), got {tuple(images.shape)}")
    return images.amax(dim=1, keepdim=True)


def grid_coordinates(side: int) -> torch.Tensor:
    """(side*side, 2) row and column of each token of a side x side grid, scaled to [-1, 1]."""
    r = torch.linspace(-1, 1, side)
    rows, cols = torch.meshgrid(r, r, indexing="ij")
    return torch.stack((rows.flatten(), cols.flatten()), dim=-1)


def cells_of(feature_map: torch.Tensor) -> torch.Tensor:
    """Average a (B, C, S, S) map over the 2x2 cells of the world: (B, 4, C), row-major."""
    return F.adaptive_avg_pool2d(feature_map, 2).flatten(2).transpose(1, 2)


class ShapeCNN(nn.Module):
    """A small timm ResNet on the ink image (chapter 04): colour-blind by construction.

    Tokens: the 4x4 map after ``layer3`` (``layer4``, the last layer, is dropped), averaged over
    each cell of the world, with each token's grid coordinates appended: (B, 4, C + 2). Pre-training head: the shape in each cell
    (5 classes: empty + 4 shapes) from ``layer4``.
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32, 32), num_classes: int = 5) -> None:
        super().__init__()
        self.backbone = ResNet(BasicBlock, layers=(1, 1, 1, 1), channels=channels, stem_width=channels[0],
                               in_chans=1, num_classes=0, global_pool="", output_stride=8)
        self.head = nn.Linear(channels[-1], num_classes)
        self.register_buffer("coords", grid_coordinates(2), persistent=False)
        self.dim = channels[2] + 2
        self.num_tokens = 4

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        x = b.maxpool(b.act1(b.bn1(b.conv1(ink(images)))))
        x = cells_of(b.layer3(b.layer2(b.layer1(x))))  # (B, 4, C): the 4x4 map averaged per cell
        return torch.cat((x, self.coords.expand(x.shape[0], -1, -1)), dim=-1)  # (B, 4, C + 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Per-cell shape logits, (B, 4, 5)."""
        return self.head(cells_of(self.backbone.forward_features(ink(images))))


class ColourNet(nn.Module):
    """A per-pixel network (1x1 convolutions) max-pooled over each 16x16 cell (chapter 04): shape-blind.

    Tokens: one per cell with its grid coordinates appended, (B, 4, hidden + 2); the last layer
    (the head naming each cell's colour among empty + 4 colours) is dropped.
    """

    def __init__(self, hidden: int = 16, num_classes: int = 5) -> None:
        super().__init__()
        self.pixel_mlp = nn.Sequential(nn.Conv2d(3, hidden, 1), nn.GELU(), nn.Conv2d(hidden, hidden, 1), nn.GELU())
        self.head = nn.Linear(hidden, num_classes)
        self.register_buffer("coords", grid_coordinates(2), persistent=False)
        self.dim, self.num_tokens = hidden + 2, 4

    def cell_features(self, images: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.pixel_mlp(images), CELL_SIZE)  # (B, hidden, 2, 2): no pixel sees its neighbour
        return x.flatten(2).transpose(1, 2)  # (B, 4, hidden)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        x = self.cell_features(images)
        return torch.cat((x, self.coords.expand(x.shape[0], -1, -1)), dim=-1)  # (B, 4, hidden + 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Per-cell colour logits, (B, 4, 5)."""
        return self.head(self.cell_features(images))


class LayoutViT(nn.Module):
    """Chapter 03's ViT on a 4x4 ink thumbnail (chapter 04): sees layout and count, not shape or colour.

    Tokens: the 16 patch tokens after all blocks but the last, averaged over each cell, with the
    cell's grid coordinates appended, (B, 4, dim + 2).
    Pre-training heads (on the last layer): whether each token's cell is occupied, and the count
    (one, two, three) from the class token.
    """

    def __init__(self, dim: int = 32, depth: int = 3, num_heads: int = 2) -> None:
        super().__init__()
        self.vit = VisionTransformer(ViTConfig(image_size=4, patch_size=1, in_chans=2, num_classes=3, dim=dim, depth=depth, num_heads=num_heads))
        self.occupancy_head = nn.Linear(dim, 1)
        self.register_buffer("coords", grid_coordinates(2), persistent=False)
        self.dim, self.num_tokens = dim + 2, 4

    @staticmethod
    def thumbnail(images: torch.Tensor) -> torch.Tensor:
        """The 4x4 ink thumbnail and its negative, (B, 2, 4, 4).

        With one channel a 1x1 patch token would be ``x * w + b`` and the block's LayerNorm,
        blind to scale, could not tell a dim pixel from a bright one; the negative fixes that.
        """
        thumb = F.avg_pool2d(ink(images), IMAGE_SIZE // 4)  # (B, 1, 4, 4)
        return torch.cat((thumb, 1 - thumb), dim=1)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        x = self.vit.tokens(self.thumbnail(images))  # (B, 17, dim), class token first
        for block in self.vit.blocks[:-1]:  # the last layer is dropped
            x = block(x)
        patches = x[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, 4, 4)  # (B, dim, 4, 4)
        x = cells_of(patches)  # (B, 4, dim)
        return torch.cat((x, self.coords.expand(x.shape[0], -1, -1)), dim=-1)  # (B, 4, dim + 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 19): occupancy logits of the 16 thumbnail pixels' cells, then count logits (one, two, three)."""
        x = self.vit.tokens(self.thumbnail(images))
        for block in self.vit.blocks:
            x = block(x)
        x = self.vit.norm(x)  # (B, 17, dim)
        return torch.cat((self.occupancy_head(x[:, 1:]).squeeze(-1), self.vit.head(x[:, 0])), dim=1)


TOKEN_CELL = torch.tensor([(r // 2) * 2 + c // 2 for r in range(4) for c in range(4)])  # cell of each 4x4 thumbnail pixel


def build_encoder(name: str) -> nn.Module:
    """A fresh (untrained) encoder by name: one of ``ENCODER_NAMES``."""
    encoders = {"shape_cnn": ShapeCNN, "colour_net": ColourNet, "layout_vit": LayoutViT}
    if name not in encoders:
        raise ValueError(f"unknown encoder {name!r}; the chapter-04 encoders are {ENCODER_NAMES}")
    return encoders[name]()


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode and turn off every parameter's gradient (BRAVE keeps encoders frozen)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
