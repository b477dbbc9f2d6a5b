"""PNG grids from image arrays: numpy and Pillow only, no torch, so the ONNX side (``infovaegan
generate`` / ``traverse``, services, the examples) draws the same labelled grids as training.

Small images are upscaled with nearest-neighbour so an 8x8 digit stays legible. A grid given
:class:`GridLabels` says on the picture what it shows: a title above it, a label left of every
row (e.g. the category) and above every column (e.g. the code value); the same text is stored
in the PNG's ``Description`` field. :mod:`infovaegan_plugin.viz` adds the grids drawn from a
torch model.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from .atomic import save_picture

__all__ = ["GridLabels", "category_labels", "code_values", "image_grid", "label_picture",
           "save_grid", "to_numpy_images"]

MIN_TILE = 32  # pixels: tiles smaller than this are upscaled
#: save_small_grid shrinks tiles larger than this (area): a 64 px sprite stays legible at
#: 32 px and the PNG stays small enough to commit.
MAX_TILE = 32
LABEL_FONT_SIZE = 11
TITLE_FONT_SIZE = 12
MARGIN = 4  # pixels around labels


@dataclass(frozen=True)
class GridLabels:
    """What a grid shows: ``title`` (wrapped above the grid), one label per row (left) and
    per column (top); either list may be ``None``."""

    title: str = ""
    rows: Sequence[str] | None = None
    columns: Sequence[str] | None = None

    def description(self) -> str:
        parts = [self.title] if self.title else []
        if self.rows:
            parts.append("rows: " + ", ".join(self.rows))
        if self.columns:
            parts.append("columns: " + ", ".join(self.columns))
        return "\n".join(parts)


def code_values(values: Sequence[float]) -> list:
    """Short column labels for code values: -1, -0.78, ..., 1."""
    return [f"{float(v):.2g}" for v in values]


def to_numpy_images(images: Any) -> np.ndarray:
    """float32 (N, C, H, W) from a numpy array or a torch tensor (read without importing
    torch: a tensor is detached, moved to the CPU and converted)."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().float().numpy()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {images.shape}.")
    return images


def image_grid(images: Any, ncol: int, padding: int = 1) -> np.ndarray:
    """Tile (N, C, H, W) images in [0, 1] into one uint8 (rows*H, cols*W[, 3]) array."""
    images = to_numpy_images(images)
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"a grid needs 1 or 3 channels, got {c}.")
    nrow = max(1, int(np.ceil(n / ncol)))
    grid = np.ones((c, nrow * (h + padding) + padding, ncol * (w + padding) + padding), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = image
    grid = (np.clip(grid, 0.0, 1.0) * 255).round().astype(np.uint8)
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _text_height(draw: ImageDraw.ImageDraw, font) -> int:
    box = draw.textbbox((0, 0), "Ag0", font=font)
    return int(box[3] - box[1]) + 2


def label_picture(picture: Image.Image, labels: GridLabels, cell: tuple, ncol: int,
                  nrow: int, padding: int) -> Image.Image:
    """``picture`` (the scaled grid) on a larger white canvas with the title above, row
    labels on the left and column labels on top. ``cell``: (width, height) of one tile plus
    its padding, in the picture's pixels."""
    probe = ImageDraw.Draw(picture)
    font, title_font = _font(LABEL_FONT_SIZE), _font(TITLE_FONT_SIZE)
    line = _text_height(probe, font)
    rows = list(labels.rows or [])[:nrow]
    left = MARGIN
    if rows:
        left = int(max(probe.textlength(r, font=font) for r in rows)) + 2 * MARGIN
    width = left + picture.width
    title_lines: list = []
    if labels.title:
        chars = max(20, int(width / max(probe.textlength("n", font=title_font), 1)))
        title_lines = textwrap.wrap(labels.title, width=chars)
        while title_lines and max(probe.textlength(t, font=title_font)
                                  for t in title_lines) > width - 2 * MARGIN and chars > 20:
            chars -= 4
            title_lines = textwrap.wrap(labels.title, width=chars)
    title_line = _text_height(probe, title_font)
    top = MARGIN + len(title_lines) * title_line
    columns = list(labels.columns or [])[:ncol]
    step = 1
    if columns:
        widest = max(probe.textlength(c, font=font) for c in columns)
        step = max(1, int(np.ceil((widest + 2) / cell[0])))
        top += line + MARGIN
    canvas = Image.new(picture.mode, (width, top + picture.height),
                       255 if picture.mode == "L" else (255, 255, 255))
    ink = 0 if picture.mode == "L" else (0, 0, 0)
    canvas.paste(picture, (left, top))
    draw = ImageDraw.Draw(canvas)
    y = MARGIN
    for text in title_lines:
        draw.text((MARGIN, y), text, fill=ink, font=title_font)
        y += title_line
    offset = padding  # tiles start after the grid's outer padding
    for index in range(0, len(columns), step):
        x = left + offset + index * cell[0] + (cell[0] - padding) / 2
        draw.text((x, top - MARGIN), columns[index], fill=ink, font=font, anchor="ms")
    for index, text in enumerate(rows):
        y = top + offset + index * cell[1] + (cell[1] - padding) / 2
        draw.text((left - MARGIN, y), text, fill=ink, font=font, anchor="rm")
    return canvas


def save_grid(images: Any, path: str | Path, ncol: int,
              labels: GridLabels | None = None) -> Path:
    """Write a grid PNG; tiles under 32 px are upscaled (nearest) to stay readable. With
    ``labels`` the picture says what its rows and columns are (see :class:`GridLabels`)."""
    images = to_numpy_images(images)
    padding = 1
    array = image_grid(images, ncol, padding=padding)
    scale = max(1, int(np.ceil(MIN_TILE / images.shape[-1])))
    picture = Image.fromarray(array)
    if scale > 1:
        picture = picture.resize((array.shape[1] * scale, array.shape[0] * scale), Image.NEAREST)
    info = None
    if labels is not None:
        h, w = images.shape[-2:]
        nrow = max(1, int(np.ceil(len(images) / ncol)))
        cell = ((w + padding) * scale, (h + padding) * scale)
        picture = label_picture(picture, labels, cell, ncol, nrow, padding * scale)
        info = PngInfo()
        info.add_text("Description", labels.description())
    params = {"pnginfo": info} if info is not None and Path(path).suffix.lower() == ".png" else {}
    return save_picture(picture, path, **params)


def category_labels(count: int) -> list[str]:
    """Row labels of the per-category grids, ``category 0`` ...: a categorical code's values
    are the categories the model found, not the data's classes; ``["all"]`` without one."""
    return [f"category {k}" for k in range(count)] if count else ["all"]
