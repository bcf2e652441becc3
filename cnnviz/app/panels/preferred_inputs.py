"""What the network wants to see: for each channel of a layer (or each class), the input
synthesized to drive it hardest, next to the test image that drives it hardest."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import greys
from cnnviz.app.widgets.forms import control_row, panel_column, refill_combo, title_label
from cnnviz.app.widgets.gallery import FIT, CellShape, Gallery
from cnnviz.app.widgets.images import square_images
from cnnviz.training.events import PreferredInputs

__all__ = ["CLASSES", "PreferredInputsPanel", "display_images"]

CLASSES = "classes"  # the layer combo's choice for one input per class score
CELL = CellShape(images=2, side=28, pair_gap=2, gap=8, label=20, lines=2, row_gap=2)
COMPUTING = "computing…"
NOT_RECORDED = ("Nothing synthesized at this moment: keep this dock open while training, and "
                "each recorded moment keeps what it wanted then.")


def display_images(images: np.ndarray) -> np.ndarray:
    """Normalised inputs (K, C, H, W) as gallery thumbnails, each min-max scaled to 0..255:
    (K, H, W) grey or (K, H, W, 3) colour. (Each scaled to its own range: synthesized inputs
    often fill only part of the pixel range, and the pattern is what matters.)"""
    x = np.asarray(images, np.float32)
    x = x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)
    if not len(x):
        return x
    axes = tuple(range(1, x.ndim))
    lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0) * 255


class PreferredInputsPanel(QtWidgets.QWidget):
    """Each channel's synthesized input for a chosen conv-shaped layer, or with "classes" one
    input per class, each min-max scaled for display, beside the test image that reaches the
    most of the same objective; captioned with the channel ("ch k") or class name and the
    objective each reaches (synthesized vs real).

    "Compute" emits `sigRequest(layer, classes)` (the owner computes on the training thread
    and calls `set_preferred`); the panel says "computing…" until then. With `state`, a
    scrubbed timeline moment shows the inputs it recorded; back live, the newest again.
    """

    sigRequest = Signal(str, bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None, state=None):
        super().__init__(parent)
        self._ev: PreferredInputs | None = None  # the newest live one
        self._test_images: np.ndarray | None = None
        self._pending: str | None = None  # the layer (or CLASSES) asked for, until it comes
        self._class_names: tuple = tuple("0123456789")
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip("The layer whose channels to synthesize inputs for, or\n"
                                    "\"classes\" for one input per class score")
        self.layer_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(8)
        self.layer_combo.addItem(CLASSES)
        self.compute_button = QtWidgets.QPushButton("Compute")
        self.compute_button.setToolTip("Synthesize the inputs with the current weights\n"
                                       "(gradient ascent on the input, on the training thread)")
        controls = control_row(("Layer", self.layer_combo), self.compute_button,
                               grow=self.layer_combo)
        self.title = title_label(
            "Nothing synthesized yet: choose a layer and press Compute.",
            "Left of each pair: the input synthesized to drive one channel (its mean) or one\n"
            "class score hardest, scaled to its own darkest and brightest pixel. Right: the\n"
            "test image that drives it hardest. Under them: the value each reaches.")
        self.gallery = Gallery([greys(), greys()], CELL, columns=FIT)
        self.gallery.setMinimumHeight(64)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        panel_column(self, controls, self.title, self.gallery, self.status, grow=self.gallery)
        self.compute_button.clicked.connect(self.compute)
        if state is not None:
            state.sigMomentChanged.connect(self._on_moment)

    # -- public ---------------------------------------------------------------------------

    def set_layers(self, names: list[str]) -> None:
        """The conv-shaped layers to offer (and "classes" last). Keeps the choice."""
        refill_combo(self.layer_combo, [*names, CLASSES])

    def set_class_names(self, names) -> None:
        self._class_names = tuple(str(n) for n in names)

    def set_test_images(self, images: np.ndarray | None) -> None:
        """uint8 (N, H, W) or (N, H, W, 3) test images, to show the strongest real ones; a
        new session's: what was shown belongs to the old one."""
        self._test_images = images
        self._ev = None
        self.gallery.set_items([np.zeros((0, CELL.side, CELL.side))] * 2, [])
        self.title.setText("Nothing synthesized yet: choose a layer and press Compute.")
        self.status.setText("")

    def choose_layer(self, name: str) -> None:
        i = self.layer_combo.findText(name)
        if i < 0:
            raise KeyError(f"no layer {name!r}")
        self.layer_combo.setCurrentIndex(i)

    def layer(self) -> str:
        return self.layer_combo.currentText()

    def compute(self) -> None:
        """Ask for the inputs of the chosen layer (as pressing Compute)."""
        name = self.layer()
        if not name:
            return
        self.status.setText(COMPUTING)
        self.compute_button.setEnabled(False)
        self._pending = name
        classes = name == CLASSES
        self.sigRequest.emit("" if classes else name, classes)

    def failed(self, message: str = "") -> None:
        """The request ended without a result."""
        if not self.compute_button.isEnabled():
            self.compute_button.setEnabled(True)
            self._pending = None
            self.status.setText(f"failed: {message}" if message else "")

    def busy(self) -> bool:
        return not self.compute_button.isEnabled()

    def set_preferred(self, ev: PreferredInputs, class_names=None) -> None:
        """Show `ev` (see PreferredInputs), the live network's newest."""
        if class_names is not None:
            self.set_class_names(class_names)
        self._ev = ev
        self._show(ev)
        if self._pending in (None, ev.layer):  # else an older request's answer: still busy
            self._pending = None
            self.compute_button.setEnabled(True)
        else:
            self.status.setText(COMPUTING)

    def _show(self, ev: PreferredInputs) -> None:
        thumbs = square_images(display_images(ev.images))
        side = int(thumbs.shape[1]) if len(thumbs) else CELL.side
        if side != self.gallery.cell.side:
            self.gallery.cell = dataclasses.replace(self.gallery.cell, side=side)
        real = np.full_like(thumbs, np.nan)
        if self._test_images is not None and len(thumbs):
            best = square_images(np.asarray(self._test_images)[ev.best_index])
            if best.shape == thumbs.shape:
                real = best
        classes = ev.layer == CLASSES
        names = self._class_names
        labels = [f"{(names[k] if k < len(names) else k) if classes else f'ch {k}'}\n"
                  f"{o:.3g} vs {b:.3g}"
                  for k, (o, b) in enumerate(zip(np.asarray(ev.objective, np.float32),
                                                 np.asarray(ev.best_objective, np.float32)))]
        self.gallery.set_items([thumbs, real], labels, levels=[(0, 255), (0, 255)])
        beats = int((np.asarray(ev.objective) > np.asarray(ev.best_objective)).sum())
        what = "each class" if classes else f"each channel of {ev.layer}"
        self.title.setText(f"What {what} wants to see ({len(labels)} inputs), beside the test "
                           "image it likes best")
        self.status.setText(f"step {ev.step}: the synthesized input beats the best test image "
                            f"for {beats} of {len(labels)}; computed in {ev.seconds:.1f} s")

    @QtCore.Slot(object)
    def _on_moment(self, moment) -> None:
        """A scrubbed moment's inputs (when it has some), or the newest live ones."""
        ev = self._ev if moment is None else moment.preferred
        if ev is not None:
            self._show(ev)
        elif moment is not None:
            self.gallery.set_items([np.zeros((0, CELL.side, CELL.side))] * 2, [])
            self.status.setText(NOT_RECORDED)

    def shown(self) -> PreferredInputs | None:
        """The live network's newest inputs (None before the first)."""
        return self._ev

    def shown_labels(self) -> list[str]:
        return self.gallery.labels()

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, 420)
