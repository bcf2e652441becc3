"""A confusion matrix drawn in a pyqtgraph plot: coloured cells with their counts or row
percentages, class names on the axes, per-class accuracy on the right, and a selected cell."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from cnnviz.app.panels.colormaps import ACCENT, sequential, text_is_dark
from cnnviz.app.widgets.images import draw_box, image_item

__all__ = ["MatrixPlot", "cell_values"]

CACHE = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache


def cell_values(confusion: np.ndarray, percent: bool) -> tuple[np.ndarray, list[list[str]]]:
    """Colour values in [0, 1] (log scale of the counts, or of the row percentages) and the
    text of every cell: its count or row percentage, empty where the count is 0."""
    cm = np.asarray(confusion, np.int64)
    frac = cm / np.maximum(cm.sum(axis=1), 1)[:, None]
    if percent:
        values = np.log1p(1000 * frac) / np.log1p(1000)
    else:
        values = np.log1p(cm) / np.log1p(max(int(cm.max()), 1))

    def text(n: int, p: float) -> str:
        if n == 0:
            return ""
        if percent:
            return f"{p:.0f}" if p >= 9.95 else f"{p:.1f}"
        return str(n)

    texts = [[text(int(n), 100 * f) for n, f in zip(row, frow)] for row, frow in zip(cm, frac)]
    return values.astype(np.float32), texts


class MatrixPlot:
    """A (k, k) matrix in the PlotItem `plot`: row r (true class) from the top, column c
    (predicted class) from the left, cell (r, c) centred on the view point (c, r). The cell
    numbers take the largest font the cells allow; `set_selection` outlines one cell."""

    def __init__(self, k: int = 10):
        self.plot = pg.PlotItem()
        self.plot.invertY(True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setDefaultPadding(0.0)
        self.plot.showAxes(True, showValues=(True, False, True, True))
        self.plot.setLabel("left", "true")
        self.plot.setLabel("bottom", "predicted")
        for side in ("left", "right", "bottom", "top"):
            self.plot.getAxis(side).setStyle(tickLength=0)
        self.plot.getAxis("right").setToolTip("Per-class accuracy: correct / all of that class")
        self._cmap = sequential()
        self.image = image_item(self._cmap)
        self.plot.addItem(self.image)
        self.selection = pg.PlotCurveItem(pen=pg.mkPen(ACCENT, width=3))
        self.selection.setZValue(10)
        self.plot.addItem(self.selection)
        self._font = QtGui.QFont()
        self._font.setPixelSize(11)
        self._texts: list[list[pg.TextItem]] = []
        self._text_state: list[list[tuple[str, bool]]] = []
        self._ticks = None
        self._shown = False
        self._k = 0
        self._make_texts(k)  # made now (the usual 10 classes) rather than mid-training
        self.plot.getViewBox().sigResized.connect(self._fit_font)

    @property
    def k(self) -> int:
        return self._k

    def show(self, confusion: np.ndarray, names: tuple[str, ...], percent: bool) -> None:
        """Draw `confusion` ((k, k) counts, rows true class) with the k class `names`: cell
        numbers are counts, or the percentage of their row when `percent`."""
        cm = np.asarray(confusion, np.int64)
        k = cm.shape[0]
        if k != self._k:
            self._make_texts(k)
        values, texts = cell_values(cm, percent)
        self.image.setImage(values, autoLevels=False, levels=(0, 1))
        self.image.setRect(QtCore.QRectF(-0.5, -0.5, k, k))
        dark = text_is_dark(self._cmap, values)
        for r in range(k):
            for c in range(k):
                # only touch items that change: each update of a TextItem costs
                state = (texts[r][c], bool(dark[r, c]))
                if self._text_state[r][c] != state:
                    self._text_state[r][c] = state
                    t = self._texts[r][c]
                    t.setText(state[0])
                    t.setColor("#000000" if state[1] else "#ffffff")
        self._shown = True
        self._fit_font()
        self._set_ticks(cm, names)

    def set_selection(self, cell: tuple[int, int] | None) -> None:
        """Outline cell (true, predicted), or none."""
        if cell is None:
            self.selection.setData([], [])
        else:
            r, c = cell
            draw_box(self.selection, c - 0.5, r - 0.5, c + 0.5, r + 0.5)

    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        """(true, predicted) of the cell under a scene point; None off the matrix or before
        the first `show`."""
        vb = self.plot.getViewBox()
        if not self._shown or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        r, c = int(round(p.y())), int(round(p.x()))
        if 0 <= r < self._k and 0 <= c < self._k:
            return r, c
        return None

    def cell_texts(self) -> list[list[str]]:
        """The texts shown in the cells, [true][pred] (empty before the first `show`)."""
        if not self._shown:
            return []
        return [[t.textItem.toPlainText() for t in row] for row in self._texts]

    def _make_texts(self, k: int):
        for row in self._texts:
            for t in row:
                self.plot.removeItem(t)
        self._texts = []
        for r in range(k):
            row = []
            for c in range(k):
                t = pg.TextItem("", anchor=(0.5, 0.5))
                t.textItem.setCacheMode(CACHE)  # repaints blit a pixmap: ~2x faster
                t.setFont(self._font)
                t.setPos(c, r)
                self.plot.addItem(t)
                row.append(t)
            self._texts.append(row)
        self._text_state = [[("", False)] * k for _ in range(k)]
        self._k = k
        self.image.setRect(QtCore.QRectF(-0.5, -0.5, k, k))
        self.plot.setRange(xRange=(-0.5, k - 0.5), yRange=(-0.5, k - 0.5), padding=0)

    def _set_ticks(self, cm: np.ndarray, names: tuple[str, ...]):
        """Class names left and below, per-class accuracy right."""
        k = self._k
        rows = cm.sum(axis=1)
        if all(len(n) <= 3 for n in names):
            left = bottom = list(enumerate(names))
        else:  # long names (Fashion-MNIST): numbered rows, numbers under the columns
            left = [(i, f"{i} {n if len(n) <= 6 else n[:5] + '…'}") for i, n in enumerate(names)]
            bottom = [(i, str(i)) for i in range(k)]
        acc = [(i, f"{cm[i, i] / rows[i]:.0%}" if rows[i] else "–") for i in range(k)]
        if (left, bottom, acc) != self._ticks:
            self._ticks = (left, bottom, acc)
            self.plot.getAxis("left").setTicks([left, []])
            self.plot.getAxis("bottom").setTicks([bottom, []])
            self.plot.getAxis("right").setTicks([acc, []])

    def _fit_font(self):
        """Cell numbers as large as the cells allow (6 to 13 px)."""
        if not self._k:
            return
        rect = self.plot.getViewBox().rect()
        cw, ch = rect.width() / self._k, rect.height() / self._k
        chars = max([len(text) for row in self._text_state for text, _ in row] + [1])
        px = int(np.clip(min(ch * 0.6, cw * 0.92 / (0.62 * chars)), 6, 13))
        if px != self._font.pixelSize():
            self._font.setPixelSize(px)
            for row in self._texts:
                for t in row:
                    t.setFont(self._font)
