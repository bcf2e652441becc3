"""A grid of digit thumbnails to click and hover, each cell labelled under its images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import ACCENT, greys
from cnnviz.app.widgets.images import draw_box, image_item

__all__ = ["FIT", "CellShape", "Gallery"]

CACHE = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
FONT_PX = (7, 12)  # smallest and largest label font, pixels
TOP = 2  # room above the first row for the outline, image pixels
FIT = "fit"  # Gallery(columns=FIT): the column count that shows the cells largest


@dataclass(frozen=True)
class CellShape:
    """One gallery cell in image pixels: `images` thumbnails of side `side` next to each other,
    `pair_gap` apart, above a band of height `label` for `lines` lines of text. Cells are `gap`
    apart across (half of it on each side of a cell) and `row_gap` apart down."""

    images: int = 1
    side: int = 28
    pair_gap: int = 1
    gap: int = 4
    label: int = 18
    lines: int = 2
    row_gap: int = 0

    @property
    def span(self) -> int:
        """Width of a cell's thumbnails together."""
        return self.images * self.side + (self.images - 1) * self.pair_gap

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of a cell, gaps included."""
        return self.span + self.gap, self.side + self.label + self.row_gap


class Gallery(QtWidgets.QScrollArea):
    """Cells in a grid, each a few thumbnails side by side with a text under them. Each kind
    of thumbnail (the digit, a map of it) is one ImageItem mosaic with its own colour map, so
    a hundred cells draw fast.

    columns=None: as many columns as cells of `min_px` screen pixels fit across, the grid
    scaled to the width and scrolled up and down; a number: that many columns, the whole grid
    scaled to fit the widget; FIT: the number of columns that shows the cells largest in the
    widget (a row in a wide one, a column in a tall one), the whole grid in view. Clicking a
    cell emits `sigChosen(position)`, the mouse over one `sigHovered(position)`;
    `select(position)` outlines it.
    """

    sigChosen = Signal(int)
    sigHovered = Signal(int)

    def __init__(self, cmaps: list[pg.ColorMap] | None = None, cell: CellShape | None = None,
                 columns: int | str | None = None, min_px: int = 44,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.cell = cell or CellShape()
        self._columns, self._min_px = columns, min_px
        self._cols = columns if isinstance(columns, int) else 1
        self._images: list[np.ndarray] = []
        self._levels: list[tuple[float, float]] = []
        self._labels: list[str] = []
        self._selected: int | None = None
        self._texts: list[pg.TextItem] = []
        self._text_state: list = []  # (text, x, y) shown by each TextItem, None if hidden
        off = QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(off)
        if columns:
            self.setVerticalScrollBarPolicy(off)
        self.view = pg.GraphicsView()
        self.view.setHorizontalScrollBarPolicy(off)
        self.view.setVerticalScrollBarPolicy(off)
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False,
                             enableMenu=False, defaultPadding=0)
        self.view.setCentralItem(self.vb)
        self.image_items = [image_item(c) for c in (cmaps or [greys()])]
        for item in self.image_items:
            self.vb.addItem(item)
        self.outline = pg.PlotCurveItem(pen=pg.mkPen(ACCENT, width=2))
        self.outline.setZValue(10)
        self.vb.addItem(self.outline)
        self._font = QtGui.QFont()
        self._font.setPixelSize(10)
        self.setWidget(self.view)
        palette = self.viewport().palette()  # below the last row: the plots' background
        palette.setColor(QtGui.QPalette.ColorRole.Window,
                         pg.mkColor(pg.getConfigOption("background")))
        self.viewport().setPalette(palette)
        self.viewport().setAutoFillBackground(True)
        self.view.scene().sigMouseClicked.connect(self._on_clicked)
        self.view.scene().sigMouseMoved.connect(self._on_moved)
        self.vb.sigResized.connect(self._fit_font)

    # -- public ---------------------------------------------------------------------------

    def set_items(self, images, labels: list[str], levels=None,
                  selected: int | None = None) -> None:
        """images: (N, side, side) grey values (uint8 or float; NaN shows the background) or
        (N, side, side, 3) RGB colours (the colour map is not used), or a list of such arrays,
        one per thumbnail of a cell (one per colour map); labels: N texts ("\\n" between
        lines); levels: (lo, hi) of each kind, default (0, 255); selected: the cell to
        outline."""
        if isinstance(images, np.ndarray) and (
                images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
            images = [images]
        if len(images) != len(self.image_items):
            raise ValueError(f"{len(images)} kinds of thumbnail for "
                             f"{len(self.image_items)} colour maps")
        self._images = [np.asarray(a, np.float32) for a in images]
        self._levels = list(levels or [(0, 255)] * len(images))
        self._labels = [str(t) for t in labels]
        self._selected = selected
        self._layout()

    def count(self) -> int:
        return len(self._labels)

    def labels(self) -> list[str]:
        """The texts drawn under the cells."""
        return [t.textItem.toPlainText() for t in self._texts[: self.count()]]

    def select(self, position: int | None) -> None:
        """Outline cell `position` (None: none)."""
        self._selected = position
        self._draw_outline()

    def selected(self) -> int | None:
        return self._selected

    def cell_origin(self, position: int) -> tuple[int, int]:
        """(x, y) in image pixels of the top-left corner of a cell's first thumbnail."""
        r, c = divmod(position, self._cols)
        cw, ch = self.cell.size
        return c * cw + self.cell.gap // 2, r * ch

    def position_at(self, scene_pos) -> int | None:
        """The cell at a scene point (gaps included), or None."""
        p = self.vb.mapSceneToView(scene_pos)
        cw, ch = self.cell.size
        if p.x() < 0 or p.y() < 0:
            return None
        c, r = int(p.x() // cw), int(p.y() // ch)
        i = r * self._cols + c
        return i if c < self._cols and i < self.count() else None

    # -- drawing --------------------------------------------------------------------------

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self._layout()

    def _layout(self):
        n, cell = self.count(), self.cell
        cw, ch = cell.size
        avail = max(self.viewport().width(), cw)
        if self._columns == FIT:
            self._cols = self._fit_columns(n)
        else:
            self._cols = self._columns or max(1, avail // self._min_px)
        width, height = self._cols * cw, max(1, math.ceil(n / self._cols)) * ch
        for k, (item, images, levels) in enumerate(
                zip(self.image_items, self._images, self._levels)):
            mosaic = np.full((height, width, *images.shape[3:]), np.nan, np.float32)
            for i in range(n):
                x, y = self.cell_origin(i)
                x += k * (cell.side + cell.pair_gap)
                mosaic[y : y + cell.side, x : x + cell.side] = images[i]
            item.setImage(mosaic, autoLevels=False, levels=levels)
        self._draw_texts()
        if not self._columns:  # as tall as the grid is at the width's scale: it scrolls
            self.view.setFixedHeight(int((height + TOP) * avail / width) + 2)
        self.vb.setRange(QtCore.QRectF(0, -TOP, width, height + TOP), padding=0)
        self._fit_font()
        self._draw_outline()

    def _fit_columns(self, n: int) -> int:
        """The columns that show n cells largest in the viewport (fewer on a tie)."""
        cw, ch = self.cell.size
        w, h = max(self.viewport().width(), 1), max(self.viewport().height(), 1)
        best, best_scale = 1, -1.0
        for cols in range(1, max(n, 1) + 1):
            scale = min(w / (cols * cw), h / (math.ceil(n / cols) * ch + TOP))
            if scale > best_scale * 1.0001:
                best, best_scale = cols, scale
        return best

    def _draw_texts(self):
        n = self.count()
        while len(self._texts) < n:
            t = pg.TextItem(color=pg.getConfigOption("foreground"), anchor=(0.5, 0))
            t.textItem.setCacheMode(CACHE)  # repaints blit a pixmap: ~2x faster
            t.setFont(self._font)
            self.vb.addItem(t)
            self._texts.append(t)
            self._text_state.append(None)
        for i, t in enumerate(self._texts):
            state = None
            if i < n:
                x, y = self.cell_origin(i)
                state = (self._labels[i], x + self.cell.span / 2, y + self.cell.side)
            if state != self._text_state[i]:  # TextItem updates are slow: only changes
                self._text_state[i] = state
                if state is not None:
                    t.setText(state[0])
                    t.setPos(state[1], state[2])
                t.setVisible(state is not None)

    def _fit_font(self):
        """Labels as large as their band allows (FONT_PX): all their lines, with the text
        item's top margin, fit above the next row."""
        band = self.cell.label / max(self.vb.viewPixelSize()[1], 1e-6)  # screen pixels
        margin = self._texts[0].textItem.document().documentMargin() if self._texts else 4
        font, px = QtGui.QFont(self._font), FONT_PX[1]
        while px > FONT_PX[0]:
            font.setPixelSize(px)
            if QtGui.QFontMetrics(font).lineSpacing() * self.cell.lines + margin <= band:
                break
            px -= 1
        if px != self._font.pixelSize():
            self._font.setPixelSize(px)
            for t in self._texts:
                t.setFont(self._font)

    def _draw_outline(self):
        i = self._selected
        if i is None or not 0 <= i < self.count():
            self.outline.setData([], [])
            return
        x, y = self.cell_origin(i)
        draw_box(self.outline, x - 1, y - 1, x + self.cell.span + 1, y + self.cell.side + 1)

    # -- events ---------------------------------------------------------------------------

    def _on_clicked(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            i = self.position_at(ev.scenePos())
            if i is not None:
                self.sigChosen.emit(i)

    def _on_moved(self, pos):
        i = self.position_at(pos)
        if i is not None:
            self.sigHovered.emit(i)
