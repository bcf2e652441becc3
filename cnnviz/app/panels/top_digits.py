"""What a channel looks for: the test digits that drive it hardest, with its map for each."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import diverging, greys, symmetric_limit
from cnnviz.app.widgets.forms import control_row, panel_column, refill_combo, title_label
from cnnviz.app.widgets.gallery import CellShape, Gallery
from cnnviz.app.widgets.images import square_images
from cnnviz.training.events import TopActivations

__all__ = ["TopDigitsPanel", "upsample_nearest"]

COLUMNS = 3  # digits per row of the grid
SIDE = 28  # digit and enlarged map side, image pixels
# a digit and its map 1 px apart, cells 6 px apart across and 2 down, a 10 px label band
CELL = CellShape(images=2, side=SIDE, pair_gap=1, gap=6, label=10, lines=1, row_gap=2)
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
        controls = control_row(("Layer", self.layer_combo), ("channel", self.channel_spin),
                               self.channel_count, self.recompute_button,
                               grow=self.layer_combo)

        self.title = title_label(
            "No top digits yet: choose a layer.",
            "Each digit is followed by this channel's map for it: where in the digit the\n"
            "channel fires (red: positive, blue: negative; one scale for all nine)")

        self.gallery = Gallery([greys(), diverging()], CELL, columns=COLUMNS)
        self.gallery.setMinimumHeight(64)

        self.status = QtWidgets.QLabel(HINT)
        self.status.setToolTip("The digit under the mouse or chosen")
        self.status.setWordWrap(True)
        self.info = QtWidgets.QLabel("")
        self.info.setToolTip("How long the search over the test set took, and the training "
                             "step of the weights it used")
        panel_column(self, controls, self.title, self.gallery,
                     control_row(self.status, self.info, grow=self.status), grow=self.gallery)

        self.layer_combo.activated.connect(self._on_layer_activated)
        self.recompute_button.clicked.connect(self._on_recompute)
        self.channel_spin.valueChanged.connect(self._on_channel_changed)
        self.gallery.sigChosen.connect(self.choose)
        self.gallery.sigHovered.connect(self._on_hover)

    # -- public ---------------------------------------------------------------------------

    def set_test_images(self, images: np.ndarray) -> None:
        """The test set, uint8 (N, H, W) grey or (N, H, W, 3) colour, which the events'
        indices refer to."""
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
        self.gallery.select(self._chosen)
        self.status.setText(self._describe(i) + " · chosen")
        self.sigDigitChosen.emit(self._indices[i])

    # -- drawing --------------------------------------------------------------------------

    def _draw(self):
        ev, c = self._ev, self.channel_spin.value()
        idx = np.asarray(ev.indices[c], np.int64)
        maps = np.asarray(ev.maps[c], np.float32)
        k = len(idx)
        self._indices = [int(i) for i in idx]
        self._scores = [float(s) for s in ev.scores[c]]
        images = self._images
        side, extra = SIDE, ()
        if images is not None and images.ndim in (3, 4):
            side, extra = max(images.shape[1:3]), images.shape[3:]
        digits = np.full((k, side, side, *extra), np.nan, np.float32)  # unknown: background
        known = (idx >= 0) & (idx < (0 if images is None else len(images)))
        if known.any():
            digits[known] = square_images(images[idx[known]])
        if side != self.gallery.cell.side:  # the data's size: 28 for MNIST, 32 for CIFAR-10
            self.gallery.cell = dataclasses.replace(self.gallery.cell, side=side)
        enlarged = upsample_nearest(maps, (side, side)) if k else maps
        m = symmetric_limit(maps)
        labels = [f"#{i}  {s:.3g}" for i, s in zip(self._indices, self._scores)]
        self.gallery.set_items([digits, enlarged], labels, levels=[(0, 255), (-m, m)],
                               selected=self._chosen)
        self.title.setText(
            f"{ev.layer}, channel {c}: top {k} test digits, each with its map")
        self.info.setText(f"computed in {ev.seconds:.1f} s at step {ev.step}")
        self.status.setText(HINT)

    def _describe(self, j: int) -> str:
        return f"test #{self._indices[j]}: rank {j + 1}, peak {self._scores[j]:.4g}"

    # -- events ---------------------------------------------------------------------------

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

    def _on_hover(self, j: int):
        self.status.setText(self._describe(j))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, 420)
