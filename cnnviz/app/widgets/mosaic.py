"""Mosaics: many small 2-D arrays (kernels, feature maps) packed into one image.

A mosaic is one float image with NaN separators, which an ImageItem draws transparent, so the
separators show the view's background. Small tiles are upscaled by whole pixels so the 1-px
separators stay thin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Mosaic", "TileRect", "best_columns", "build_mosaic"]


@dataclass(frozen=True)
class TileRect:
    """Where one tile sits in a mosaic: block (layer) index, channel, top-left (x, y) in mosaic
    pixels, the tile's own shape (h, w) and its upscaling factor."""

    block: int
    channel: int
    x: int
    y: int
    h: int
    w: int
    factor: int

    def contains(self, x: float, y: float) -> bool:
        return (self.x <= x < self.x + self.w * self.factor
                and self.y <= y < self.y + self.h * self.factor)


@dataclass
class Mosaic:
    """image: (H, W) float32 with NaN separators; tiles: one TileRect per tile; block_tops:
    y of each block's first row (labels go just above it); columns: tiles per row."""

    image: np.ndarray
    tiles: list = field(default_factory=list)
    block_tops: list = field(default_factory=list)
    columns: int = 1
    cell: int = 1

    def locate(self, x: float, y: float):
        """Mosaic point -> (tile, row, col) inside that tile's own array, or None."""
        for t in self.tiles:
            if t.contains(x, y):
                return t, int((y - t.y) // t.factor), int((x - t.x) // t.factor)
        return None


def _rows(counts, cols):
    return sum(math.ceil(c / cols) for c in counts)


def best_columns(counts, cell: int, label_h: int, aspect: float) -> int:
    """Columns that make the tiles largest when blocks of `counts` tiles (cells `cell` px,
    `label_h` px above each block) are fitted into a view of width/height `aspect`."""
    counts = [c for c in counts if c > 0] or [1]
    best, best_scale = 1, -1.0
    for cols in range(1, max(counts) + 1):
        width = cols * cell
        height = _rows(counts, cols) * cell + label_h * len(counts)
        scale = min(aspect / width, 1.0 / height)
        if scale > best_scale * 1.0001:
            best, best_scale = cols, scale
    return best


def _pyramid_columns(counts, cells, label_h: int, aspect: float) -> list[int]:
    """Per-block columns giving every block about the same width, chosen so the whole
    stack fits a view of width/height `aspect` at the largest scale."""
    best, best_scale = [1] * len(counts), -1.0
    widths = sorted({c * cell for n, cell in zip(counts, cells) for c in range(1, n + 1)})
    for target in widths:
        cols = [max(1, min(n, target // cell)) for n, cell in zip(counts, cells)]
        width = max(c * cell for c, cell in zip(cols, cells))
        height = sum(label_h + math.ceil(n / c) * cell for n, c, cell in zip(counts, cols, cells))
        scale = min(aspect / width, 1.0 / height)
        if scale > best_scale * 1.0001:
            best, best_scale = cols, scale
    return best


def build_mosaic(blocks, columns: int | None = None, aspect: float = 1.5, min_tile: int = 24,
                 label_h: int = 0, sep: int = 1, uniform: bool = True) -> Mosaic:
    """Pack blocks of tiles into one image.

    blocks: list of arrays (C, h, w) (already scaled for display; NaN shows as background).
    Blocks are stacked top to bottom with `label_h` empty pixels above each for a caption.
    uniform: every tile is upscaled by a whole factor to about max(min_tile, largest tile)
    pixels and all blocks share one column count (`columns`, or the best for a view of
    width/height `aspect`). Otherwise each block keeps its own tile size (upscaled to at
    least min_tile / 2) and gets its own column count so the blocks have similar widths:
    a pyramid of ever smaller maps.
    """
    blocks = [np.asarray(b, dtype=np.float32) for b in blocks]
    if not blocks:
        return Mosaic(np.full((1, 1), np.nan, np.float32))
    sides = [max(b.shape[1], b.shape[2], 1) for b in blocks]
    counts = [b.shape[0] for b in blocks]
    if uniform:
        target = max(min_tile, max(sides))
        factors = [max(1, round(target / s)) for s in sides]
        cell = max(s * f for s, f in zip(sides, factors)) + sep
        cells = [cell] * len(blocks)
        cols = columns or best_columns(counts, cell, label_h, aspect)
        cols_per_block = [max(1, min(cols, max(counts)))] * len(blocks)
    else:
        factors = [max(1, round(min_tile / 2 / s)) for s in sides]
        cells = [s * f + sep for s, f in zip(sides, factors)]
        cols_per_block = _pyramid_columns(counts, cells, label_h, aspect)
    height = sum(label_h + math.ceil(n / c) * cell
                 for n, c, cell in zip(counts, cols_per_block, cells)) - sep
    width = max(c * cell for c, cell in zip(cols_per_block, cells)) - sep
    image = np.full((max(height, 1), max(width, 1)), np.nan, np.float32)
    tiles, tops, y0 = [], [], 0
    for bi, (b, f, cell, cols) in enumerate(zip(blocks, factors, cells, cols_per_block)):
        y0 += label_h
        tops.append(y0)
        c, h, w = b.shape
        if c:
            big = b.repeat(f, axis=1).repeat(f, axis=2) if f > 1 else b
            for ch in range(c):
                r, col = divmod(ch, cols)
                x, y = col * cell, y0 + r * cell
                image[y : y + h * f, x : x + w * f] = big[ch]
                tiles.append(TileRect(bi, ch, x, y, h, w, f))
        y0 += math.ceil(c / cols) * cell
    return Mosaic(image, tiles, tops, cols_per_block[0], cells[0])
