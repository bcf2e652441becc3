"""Shared look and helpers of the inspection panels: colour maps, image mosaics, small views.

The panels use pyqtgraph's default dark look (black plot background, light text); they set
no global options. Every image is row-major (`array[row, col]`, row 0 at the top).

A mosaic packs many small 2-D arrays (kernels, feature maps, thumbnails) into one float
image with NaN separators, which an ImageItem draws transparent, so the separators show the
view's background. Small tiles are upscaled by whole pixels so the 1-px separators stay thin.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

__all__ = [
    "ACCENT",
    "BAR",
    "GOOD",
    "BAD",
    "Coalescer",
    "Mosaic",
    "TileRect",
    "best_columns",
    "build_mosaic",
    "diverging",
    "fit_view",
    "greys",
    "image_item",
    "image_view",
    "sequential",
    "symmetric_limit",
    "text_is_dark",
]

ACCENT = "#ff9f1c"  # the highlighted item: top class, selected cell or thumbnail
BAR = "#5b8fd1"  # ordinary bars
GOOD = "#4caf50"  # true label / correct
BAD = "#ef5350"  # wrong

_DIVERGING_STOPS = [  # ColorBrewer RdBu, reversed: blue negative, white zero, red positive
    (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
]


def diverging() -> pg.ColorMap:
    """Blue (negative) - white (zero) - red (positive); use with symmetric levels (-m, m)."""
    pos = np.linspace(0.0, 1.0, len(_DIVERGING_STOPS))
    return pg.ColorMap(pos, _DIVERGING_STOPS, name="cnnviz-diverging")


def sequential() -> pg.ColorMap:
    """Dark to bright, perceptually uniform (viridis): counts and magnitudes."""
    return pg.colormap.get("viridis")


def greys() -> pg.ColorMap:
    """Black to white: digits as the network sees them."""
    return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)], name="cnnviz-greys")


def symmetric_limit(a: np.ndarray) -> float:
    """max |a| over the finite values, never 0 (so levels (-m, m) are valid)."""
    a = np.asarray(a, dtype=np.float64)
    finite = a[np.isfinite(a)]
    m = float(np.abs(finite).max()) if finite.size else 0.0
    return m if m > 0 else 1e-6


def text_is_dark(cmap: pg.ColorMap, values: np.ndarray) -> np.ndarray:
    """For each value in [0, 1]: True when black text reads better than white on the colour
    `cmap` gives it (bright colours), False for white text."""
    values = np.asarray(values, dtype=np.float64)
    rgb = np.asarray(cmap.map(values.ravel(), mode="byte"), dtype=np.float64)[:, :3]
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])
    return (luminance > 140).reshape(values.shape)


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


def image_view(title: str = "", mouse: bool = False) -> pg.PlotItem:
    """A PlotItem for showing an image: no axes, y down, square pixels, no menu or buttons."""
    p = pg.PlotItem()
    p.hideAxis("left")
    p.hideAxis("bottom")
    p.invertY(True)
    p.setAspectLocked(True)
    p.setMouseEnabled(x=mouse, y=mouse)
    p.setMenuEnabled(False)
    p.hideButtons()
    p.setDefaultPadding(0.02)
    if title:
        p.setTitle(title, size="9pt")
    return p


def image_item(cmap: pg.ColorMap | None = None) -> pg.ImageItem:
    """A row-major ImageItem (whatever the global imageAxisOrder) with `cmap`'s lookup table."""
    item = pg.ImageItem(axisOrder="row-major")
    if cmap is not None:
        item.setColorMap(cmap)
    return item


def fit_view(plot: pg.PlotItem, width: float, height: float) -> None:
    """Show exactly the rectangle (0, 0, width, height) of an image view."""
    plot.getViewBox().setRange(QtCore.QRectF(0, 0, width, height), padding=0.02)


class Coalescer(QtCore.QObject):
    """Run `fn` at most once per `interval_ms`, always with the newest state.

    Call `request()` as often as data arrives: the first request after a quiet spell runs
    on the next turn of the event loop, later ones are merged until the interval has
    passed. `flush()` runs a pending call at once (for accessors and tests).
    """

    def __init__(self, fn, interval_ms: int = 40, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._fn = fn
        self._interval = interval_ms / 1000.0
        self._last = -math.inf
        self._pending = False
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._run)

    @property
    def pending(self) -> bool:
        return self._pending

    def request(self) -> None:
        self._pending = True
        if not self._timer.isActive():
            wait = self._interval - (time.perf_counter() - self._last)
            self._timer.start(int(max(0.0, wait) * 1000))

    def flush(self) -> None:
        if self._pending:
            self._timer.stop()
            self._run()

    def _run(self) -> None:
        if not self._pending:
            return
        self._pending = False
        self._last = time.perf_counter()
        self._fn()


def refill_combo(combo, names: list[str], prefer_last: bool = False) -> None:
    """Set a combo's items to `names` without emitting, keeping the current choice when it is
    still listed (else the last item when `prefer_last`). Does nothing when unchanged."""
    names = [str(n) for n in names]
    if names == [combo.itemText(i) for i in range(combo.count())]:
        return
    keep = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if keep in names:
        combo.setCurrentIndex(names.index(keep))
    elif names and prefer_last:
        combo.setCurrentIndex(len(names) - 1)
    combo.blockSignals(False)
