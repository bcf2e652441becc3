"""What a channel looks for: the test digits that drive it hardest, with its map for each."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import (
    ACCENT,
    diverging,
    fit_view,
    greys,
    image_item,
    image_view,
    refill_combo,
    symmetric_limit,
)
from cnnviz.training.events import TopActivations

__all__ = ["TopDigitsPanel", "upsample_nearest"]

COLUMNS = 3  # digits per row of the grid
SIDE = 28  # digit and enlarged map side, image pixels
PAIR_GAP = 1  # between a digit and its map
CELL_GAP = 6  # between cells, horizontally
LABEL = 10  # label band under each cell
ROW_GAP = 2
HINT = "Click a digit to inspect it."


def upsample_nearest(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour enlargement of maps (..., h, w) to (..., *shape): each map cell
    covers the part of the input it stands for."""
    h, w = m.shape[-2:]
    rows = np.minimum((np.arange(shape[0]) * h) // shape[0], h - 1)
    cols = np.minimum((np.arange(shape[1]) * w) // shape[1], w - 1)
    return m[..., rows[:, None], cols[None, :]]


class TopDigitsPanel(QtWidgets.QWidget):
    """The nine test digits that make one channel of a layer fire hardest, best first, each
    beside that channel's map for it (enlarged, blue-white-red centred on zero, one scale
    for the nine) with its test index and score (the map's maximum).

    Choosing a layer emits `sigLayerChosen(name)` (the owner computes and calls `set_top`;
    "Recompute" asks again for the current weights). The channel spin box only changes
    what is shown. Clicking a digit emits `sigDigitChosen(test index)`.
    """

    sigLayerChosen = Signal(str)
    sigDigitChosen = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._ev: TopActivations | None = None
        self._images: np.ndarray | None = None
        self._indices: list[int] = []
        self._scores: list[float] = []
        self._chosen: int | None = None  # grid position
        self._cells: list[tuple[int, int]] = []  # top-left (x, y) of each cell

        # controls
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip("The layer whose channels to explain")
        self.layer_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(8)
        self.channel_spin = QtWidgets.QSpinBox()
        self.channel_spin.setRange(0, 0)
        self.channel_spin.setToolTip("The channel (feature map) of that layer")
        self.channel_count = QtWidgets.QLabel("of –")
        self.recompute_button = QtWidgets.QPushButton("Recompute")
        self.recompute_button.setToolTip(
            "Search the test set again with the current weights (one pass over all test\n"
            "digits; the result shown is from the step named below)")
        controls = QtWidgets.QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        label = QtWidgets.QLabel("Layer")
        label.setBuddy(self.layer_combo)
        controls.addWidget(label)
        controls.addWidget(self.layer_combo, 1)
        label = QtWidgets.QLabel("channel")
        label.setBuddy(self.channel_spin)
        controls.addWidget(label)
        controls.addWidget(self.channel_spin)
        controls.addWidget(self.channel_count)
        controls.addWidget(self.recompute_button)

        self.title = QtWidgets.QLabel("No top digits yet: choose a layer.")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setToolTip(
            "Each digit is followed by this channel's map for it: where in the digit the\n"
            "channel fires (red: positive, blue: negative; one scale for all nine)")

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(64)
        self.plot = image_view()
        self.graphics.ci.addItem(self.plot)
        self.digit_image = image_item(greys())
        self.map_image = image_item(diverging())
        self.plot.addItem(self.digit_image)
        self.plot.addItem(self.map_image)
        self.outline = pg.PlotCurveItem(pen=pg.mkPen(ACCENT, width=2))
        self.outline.setZValue(10)
        self.plot.addItem(self.outline)
        self._font = QtGui.QFont()
        self._font.setPixelSize(11)
        self.texts: list[pg.TextItem] = []

        self.status = QtWidgets.QLabel(HINT)
        self.status.setToolTip("The digit under the mouse or chosen")
        self.status.setWordWrap(True)
        self.info = QtWidgets.QLabel("")
        self.info.setToolTip("How long the search over the test set took, and the training "
                             "step of the weights it used")
        bottom = QtWidgets.QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.info)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(bottom)

        self.layer_combo.activated.connect(self._on_layer_activated)
        self.recompute_button.clicked.connect(self._on_recompute)
        self.channel_spin.valueChanged.connect(self._on_channel_changed)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.getViewBox().sigResized.connect(self._fit_font)

    # -- public ---------------------------------------------------------------------------

    def set_test_images(self, images: np.ndarray) -> None:
        """The test set, uint8 (N, 28, 28), which the events' indices refer to."""
        self._images = np.asarray(images)
        if self._ev is not None:
            self._draw()

    def set_layers(self, names: list[str]) -> None:
        """The layers to offer (conv-shaped outputs). Keeps the choice; emits nothing."""
        refill_combo(self.layer_combo, names)

    def set_top(self, ev: TopActivations) -> None:
        """Show `ev` (see TopActivations), keeping the channel when the layer has it."""
        self._ev = ev
        i = self.layer_combo.findText(ev.layer)
        if i >= 0 and i != self.layer_combo.currentIndex():
            self.layer_combo.blockSignals(True)
            self.layer_combo.setCurrentIndex(i)
            self.layer_combo.blockSignals(False)
        channels = int(ev.indices.shape[0])
        self.channel_spin.blockSignals(True)
        self.channel_spin.setRange(0, max(channels - 1, 0))
        self.channel_spin.blockSignals(False)
        self.channel_count.setText(f"of {channels}")
        self._chosen = None
        self._draw()

    def layer(self) -> str:
        return self.layer_combo.currentText()

    def channel(self) -> int:
        return self.channel_spin.value()

    def set_channel(self, c: int) -> None:
        """Show channel `c` of the current result."""
        if self._ev is None:
            raise RuntimeError("no top activations yet")
        if not 0 <= c < self._ev.indices.shape[0]:
            raise IndexError(f"{self._ev.layer} has {self._ev.indices.shape[0]} channels, not {c}")
        self.channel_spin.setValue(int(c))
        self._draw()

    def choose_layer(self, name: str) -> None:
        """Choose a layer as the user would (emits sigLayerChosen)."""
        i = self.layer_combo.findText(name)
        if i < 0:
            raise KeyError(f"no layer {name!r}")
        self.layer_combo.setCurrentIndex(i)
        self._on_layer_activated(i)

    def shown_indices(self) -> list[int]:
        """Test indices of the digits shown, best first."""
        return list(self._indices)

    def shown_scores(self) -> list[float]:
        return list(self._scores)

    def choose(self, i: int) -> None:
        """Choose the i-th digit shown (as clicking it): outline it, emit sigDigitChosen."""
        if not 0 <= i < len(self._indices):
            raise IndexError(f"{len(self._indices)} digits shown, not digit {i}")
        self._chosen = int(i)
        self._draw_outline()
        self.status.setText(self._describe(i) + " · chosen")
        self.sigDigitChosen.emit(self._indices[i])

    # -- drawing --------------------------------------------------------------------------

    def _draw(self):
        ev, c = self._ev, self.channel_spin.value()
        idx = np.asarray(ev.indices[c], np.int64)
        scores = np.asarray(ev.scores[c], np.float32)
        maps = np.asarray(ev.maps[c], np.float32)
        k = len(idx)
        self._indices = [int(i) for i in idx]
        self._scores = [float(s) for s in scores]
        rows = max(1, math.ceil(k / COLUMNS))
        cw, ch = 2 * SIDE + PAIR_GAP + CELL_GAP, SIDE + LABEL + ROW_GAP
        width, height = COLUMNS * cw - CELL_GAP, rows * ch - ROW_GAP
        digits = np.full((height, width), np.nan, np.float32)
        big = np.full((height, width), np.nan, np.float32)
        enlarged = upsample_nearest(maps, (SIDE, SIDE)) if k else maps
        n_images = 0 if self._images is None else len(self._images)
        self._cells = []
        for j in range(k):
            r, col = divmod(j, COLUMNS)
            x, y = col * cw, r * ch
            self._cells.append((x, y))
            if 0 <= idx[j] < n_images:
                img = np.asarray(self._images[idx[j]], np.float32)
                digits[y : y + SIDE, x : x + SIDE] = img[:SIDE, :SIDE]
            big[y : y + SIDE, x + SIDE + PAIR_GAP : x + 2 * SIDE + PAIR_GAP] = enlarged[j]
        m = symmetric_limit(maps)
        self.digit_image.setImage(digits, autoLevels=False, levels=(0, 255))
        self.map_image.setImage(big, autoLevels=False, levels=(-m, m))
        self._draw_texts(k)
        fit_view(self.plot, width, height)
        self._fit_font()
        self._draw_outline()
        self.title.setText(
            f"{ev.layer}, channel {c}: top {k} test digits, each with its map")
        self.info.setText(f"computed in {ev.seconds:.1f} s at step {ev.step}")
        self.status.setText(HINT)

    def _draw_texts(self, k: int):
        while len(self.texts) < k:
            t = pg.TextItem(color=pg.getConfigOption("foreground"), anchor=(0.5, 0))
            t.setFont(self._font)
            self.plot.addItem(t)
            self.texts.append(t)
        for j, t in enumerate(self.texts):
            if j < k:
                x, y = self._cells[j]
                t.setText(f"#{self._indices[j]}  {self._scores[j]:.3g}")
                t.setPos(x + SIDE + PAIR_GAP / 2, y + SIDE - 0.5)
            t.setVisible(j < k)

    def _fit_font(self):
        """Labels as large as the label band allows (7 to 12 px)."""
        if not self._cells:
            return
        vb = self.plot.getViewBox()
        px_per_unit = 1.0 / max(vb.viewPixelSize()[1], 1e-6)
        px = int(np.clip(LABEL * px_per_unit * 0.95, 7, 12))
        if px != self._font.pixelSize():
            self._font.setPixelSize(px)
            for t in self.texts:
                t.setFont(self._font)

    def _draw_outline(self):
        if self._chosen is None or self._chosen >= len(self._cells):
            self.outline.setData([], [])
            return
        x, y = self._cells[self._chosen]
        x0, y0, x1, y1 = x - 0.5, y - 0.5, x + 2 * SIDE + PAIR_GAP + 0.5, y + SIDE + 0.5
        self.outline.setData([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])

    def _describe(self, j: int) -> str:
        return f"test #{self._indices[j]}: rank {j + 1}, peak {self._scores[j]:.4g}"

    # -- events ---------------------------------------------------------------------------

    def _hit(self, scene_pos) -> int | None:
        vb = self.plot.getViewBox()
        if not self._cells or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        for j, (x, y) in enumerate(self._cells):
            if x <= p.x() < x + 2 * SIDE + PAIR_GAP and y <= p.y() < y + SIDE + LABEL:
                return j
        return None

    def _on_layer_activated(self, _index: int):
        name = self.layer_combo.currentText()
        if name:
            self.status.setText(f"asked for the top digits of {name}…")
            self.sigLayerChosen.emit(name)

    def _on_recompute(self):
        self._on_layer_activated(self.layer_combo.currentIndex())

    def _on_channel_changed(self, _value: int):
        if self._ev is not None:
            self._chosen = None
            self._draw()

    def _on_mouse_clicked(self, ev):
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        j = self._hit(ev.scenePos())
        if j is not None:
            self.choose(j)

    def _on_mouse_moved(self, pos):
        j = self._hit(pos)
        if j is not None:
            self.status.setText(self._describe(j))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, 420)
