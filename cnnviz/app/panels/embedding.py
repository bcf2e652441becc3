"""The test digits as the network's penultimate layer sees them, projected to 2-D by PCA."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import ACCENT, BAD, GOOD, greys
from cnnviz.app.widgets.images import fit_view, image_item, image_view
from cnnviz.training.events import Embedding

__all__ = ["EmbeddingPanel", "class_colours", "HOVER_PX"]

#: Matplotlib's tab10: ten hues that stay apart, also for colour-blind eyes.
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
HOVER_PX = 8  # a point is under the mouse within this many screen pixels
POINT_SIZE = 5
WRONG = (255, 255, 255, 190)  # ring around misclassified points
HINT = "Hover a point to see its digit; click to inspect it."


def class_colours(k: int) -> list[str]:
    """k distinct colours: tab10, then evenly spaced hues."""
    if k <= len(TAB10):
        return list(TAB10[:k])
    return [pg.intColor(i, hues=k).name() for i in range(k)]


class EmbeddingPanel(QtWidgets.QWidget):
    """Every test digit as a dot at its penultimate-layer output projected on the first
    two principal components, coloured by its true class; misclassified digits get a white
    ring. As training goes on the classes pull apart into clusters.

    Hovering a dot shows the digit (top right) with its label and prediction; clicking
    one outlines it and emits `sigDigitChosen(test index)`. "Refresh" emits
    `sigRefreshRequested()` (the owner recomputes and calls `set_embedding`).
    """

    sigDigitChosen = Signal(int)
    sigRefreshRequested = Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._ev: Embedding | None = None
        self._images: np.ndarray | None = None
        self._names: tuple[str, ...] = ()
        self._coords = np.zeros((0, 2), np.float64)
        self._brushes: list = []
        self._legend_names: tuple[str, ...] | None = None
        self._chosen: int | None = None
        self._hovered: int | None = None

        self.title = QtWidgets.QLabel("No embedding yet: press Refresh.")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setToolTip(
            "Principal component analysis of the outputs of the layer before the last, for\n"
            "the first test digits: the two directions in which those outputs vary most")
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.refresh_button.setToolTip("Recompute the embedding with the current weights")

        # scatter plot, digit under the mouse, legend
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(100)
        self.plot = pg.PlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "PC1")
        self.plot.setLabel("left", "PC2")
        self.scatter = pg.ScatterPlotItem(size=POINT_SIZE, pen=None)
        self.rings = pg.ScatterPlotItem(size=POINT_SIZE + 4, symbol="o", brush=None,
                                        pen=pg.mkPen(WRONG, width=1))
        self.highlight = pg.ScatterPlotItem(size=18, symbol="o", brush=None,
                                            pen=pg.mkPen(ACCENT, width=3))
        self.hover_mark = pg.ScatterPlotItem(size=12, symbol="o", brush=None,
                                             pen=pg.mkPen("#ffffff", width=1.5))
        for z, item in enumerate((self.scatter, self.rings, self.hover_mark, self.highlight)):
            item.setZValue(z)
            self.plot.addItem(item)

        self.thumb_plot = image_view("hover a dot")
        self.thumb = image_item(greys())
        self.thumb_plot.addItem(self.thumb)
        self.legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-6, horSpacing=4,
                                    colCount=2)

        g = self.graphics.ci
        g.addItem(self.plot, 0, 0, 2, 1)
        g.addItem(self.thumb_plot, 0, 1)
        g.addItem(self.legend, 1, 1)
        g.layout.setColumnStretchFactor(0, 5)
        g.layout.setColumnStretchFactor(1, 1)
        g.layout.setColumnMaximumWidth(1, 110)
        g.layout.setRowStretchFactor(0, 2)
        g.layout.setRowStretchFactor(1, 3)

        self.status = QtWidgets.QLabel(HINT)
        self.status.setToolTip("The digit under the mouse or chosen")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bottom = QtWidgets.QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.refresh_button)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(bottom)

        self.refresh_button.clicked.connect(self.sigRefreshRequested)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # -- public ---------------------------------------------------------------------------

    def set_test_images(self, images: np.ndarray) -> None:
        """The test set, uint8 (N, H, W) grey or (N, H, W, 3) colour, which ev.indices refer
        to (for the thumbnail, in colour for colour images)."""
        self._images = np.asarray(images)

    def set_embedding(self, ev: Embedding, class_names) -> None:
        """Show `ev` (see Embedding). The chosen digit stays outlined when it is in it."""
        chosen = None if self._chosen is None or self._ev is None else \
            int(self._ev.indices[self._chosen])
        self._ev = ev
        labels = np.asarray(ev.labels, np.int64)
        preds = np.asarray(ev.predictions, np.int64)
        k = max(int(labels.max(initial=-1)), int(preds.max(initial=-1))) + 1
        names = tuple(str(n) for n in class_names)
        self._names = names if len(names) >= k else tuple(str(i) for i in range(k))
        self._coords = np.asarray(ev.coords, np.float64).reshape(-1, 2)
        colours = class_colours(len(self._names))
        palette = [pg.mkBrush(c) for c in colours]
        self._brushes = [palette[c] for c in labels]
        x, y = self._coords[:, 0], self._coords[:, 1]
        self.scatter.setData(x=x, y=y, brush=self._brushes)
        wrong = labels != preds
        self.rings.setData(x=x[wrong], y=y[wrong])
        self._sync_legend(colours)

        explained = np.ravel(ev.explained)
        pc = [f"PC{i + 1} ({explained[i]:.0%} var)" if i < explained.size else f"PC{i + 1}"
              for i in range(2)]
        self.plot.setLabel("bottom", pc[0])
        self.plot.setLabel("left", pc[1])
        self.plot.enableAutoRange()
        n = len(labels)
        self.title.setText(
            f"PCA of {ev.layer} outputs, {n} test digits, step {ev.step}: "
            f"{wrong.mean() if n else 0:.0%} wrong (ringed)")
        matches = np.flatnonzero(np.asarray(ev.indices) == chosen) if chosen is not None else []
        self._chosen = int(matches[0]) if len(matches) else None
        self._hovered = None
        self.hover_mark.setData([], [])
        self._draw_highlight()

    def click_point(self, i: int) -> None:
        """Choose point i of the embedding (as clicking it): outline it, show its digit and
        emit sigDigitChosen(ev.indices[i])."""
        if self._ev is None:
            raise RuntimeError("no embedding yet")
        if not 0 <= i < len(self._coords):
            raise IndexError(f"{len(self._coords)} points, not point {i}")
        self._chosen = int(i)
        self._draw_highlight()
        self._show_digit(i)
        self.sigDigitChosen.emit(int(self._ev.indices[i]))

    def hover_point(self, i: int | None) -> None:
        """Show point i's digit as when the mouse is over it (None: nothing hovered)."""
        self._hovered = i
        if i is None:
            self.hover_mark.setData([], [])
            return
        self.hover_mark.setData(self._coords[i : i + 1, 0], self._coords[i : i + 1, 1])
        self._show_digit(i)

    @property
    def num_points(self) -> int:
        """How many digits are plotted."""
        return len(self._coords)

    def chosen(self) -> int | None:
        """The chosen point (position in the embedding), or None."""
        return self._chosen

    def point_at(self, scene_pos) -> int | None:
        """The point within HOVER_PX screen pixels of a scene position (the nearest), or None."""
        vb = self.plot.getViewBox()
        if not len(self._coords) or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        pw, ph = vb.viewPixelSize()
        if not (pw > 0 and ph > 0):
            return None
        d2 = ((self._coords[:, 0] - p.x()) / pw) ** 2 + ((self._coords[:, 1] - p.y()) / ph) ** 2
        i = int(np.argmin(d2))
        return i if d2[i] <= HOVER_PX**2 else None

    # -- drawing --------------------------------------------------------------------------

    def _sync_legend(self, colours):
        if self._legend_names == self._names:
            return
        self._legend_names = self._names
        self.legend.clear()
        for name, colour in zip(self._names, colours):
            sample = pg.ScatterPlotItem(size=8, pen=None, brush=pg.mkBrush(colour))
            self.legend.addItem(sample, name)
        ring = pg.ScatterPlotItem(size=9, symbol="o", brush=None, pen=pg.mkPen(WRONG, width=1))
        self.legend.addItem(ring, "wrong")

    def _draw_highlight(self):
        i = self._chosen
        if i is None:
            self.highlight.setData([], [])
        else:
            self.highlight.setData(self._coords[i : i + 1, 0], self._coords[i : i + 1, 1])

    def _name(self, k: int) -> str:
        return self._names[k] if 0 <= k < len(self._names) else str(k)

    def _show_digit(self, i: int):
        ev = self._ev
        idx, label, pred = int(ev.indices[i]), int(ev.labels[i]), int(ev.predictions[i])
        if self._images is not None and 0 <= idx < len(self._images):
            img = np.asarray(self._images[idx], np.float32)
            self.thumb.setImage(img, autoLevels=False, levels=(0, 255))
            fit_view(self.thumb_plot, img.shape[1], img.shape[0])
        colour = GOOD if label == pred else BAD
        self.thumb_plot.setTitle(
            f"<span style='color:{colour}'>{self._name(label)} → {self._name(pred)}</span>",
            size="9pt")
        verdict = "right" if label == pred else "wrong"
        x, y = self._coords[i]
        self.status.setText(f"test #{idx}: label {self._name(label)}, predicted "
                            f"{self._name(pred)} ({verdict}) at ({x:.3g}, {y:.3g})")

    # -- events ---------------------------------------------------------------------------

    def _on_mouse_moved(self, pos):
        i = self.point_at(pos)
        if i is not None and i != self._hovered:
            self.hover_point(i)
        elif i is None and self._hovered is not None:
            self.hover_point(None)

    def _on_mouse_clicked(self, ev):
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        i = self.point_at(ev.scenePos())
        if i is not None:
            self.click_point(i)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(560, 420)
