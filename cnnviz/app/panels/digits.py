"""Choose the digit to inspect: browse the test set, or draw one with the mouse."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import ACCENT, BAD, GOOD, greys
from cnnviz.app.state import AppState
from cnnviz.app.widgets.drawing_pad import DrawingPad
from cnnviz.app.widgets.forms import STRETCH, control_row, panel_column
from cnnviz.app.widgets.images import fit_view, image_item, image_view
from cnnviz.data.drawing import preprocess_drawing
from cnnviz.training.driver import check_digit

__all__ = ["DigitsPanel", "CANVAS"]

CANVAS = 280  # drawing canvas side, pixels
EMIT_INTERVAL_MS = 50  # at most ~20 drawings a second go to the network while drawing
ANY = "any"
DRAW_HINT = "Draw a digit with the left mouse button."
DRAW_SHAPE = (28, 28)  # what preprocess_drawing makes: MNIST-like grey digits


def drawing_refusal(images: np.ndarray) -> str:
    """Why the pad cannot draw for a test set of `images` (N, H, W) grey or (N, H, W, 3)
    colour, or "" when it can (28x28 grey, what a drawing becomes)."""
    shape = np.shape(images)[1:]
    if tuple(shape) == DRAW_SHAPE:
        return ""
    colour = len(shape) == 3 and shape[-1] == 3
    size = "x".join(str(d) for d in shape[:2]) or "no"
    return (f"drawing is for {DRAW_SHAPE[0]}x{DRAW_SHAPE[1]} grey digits; this data set has "
            f"{size} {'colour' if colour else 'grey'} images")


class DigitsPanel(QtWidgets.QWidget):
    """Pick the digit the other panels inspect.

    Browse the test set (index, class filter, Random, Next misclassified after an
    evaluation), or draw on the pad: white ink on black, as MNIST. While drawing, the
    canvas goes through `preprocess_drawing` (shown as "network input") at most ~20 times
    a second. `sigDigitChosen` carries an int test index, or a float32 (28, 28) array in
    [0, 1] for a drawing. `set_prediction(probs)` shows the network's answer.
    """

    sigDigitChosen = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None, state: AppState | None = None):
        super().__init__(parent)
        self._images = np.zeros((0, 28, 28), np.uint8)
        self._labels = np.zeros(0, np.int64)
        self._names: tuple[str, ...] = ()
        self._preds: np.ndarray | None = None
        self._index = 0
        self._test_title = "test digit"
        self._source = None  # "test" or "drawing": what the prediction refers to
        self._rng = np.random.default_rng()
        self._drawn = np.zeros((28, 28), np.float32)
        self._refusal = ""  # why the pad does not draw ("": it does)

        # prediction
        self.prediction = QtWidgets.QLabel("predicted: –")
        font = self.prediction.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.prediction.setFont(font)
        self.prediction.setToolTip("The network's answer for the chosen or drawn digit")

        # browse
        self.index_spin = QtWidgets.QSpinBox()
        self.index_spin.setToolTip("Index of the test digit to inspect")
        self.index_spin.setKeyboardTracking(False)
        self.class_combo = QtWidgets.QComboBox()
        self.class_combo.addItem(ANY)
        self.class_combo.setToolTip(
            "Only step through, pick at random or find mistakes among digits of this class")
        self.random_button = QtWidgets.QPushButton("Random")
        self.random_button.setToolTip("A random test digit (of the chosen class)")
        self.wrong_button = QtWidgets.QPushButton("Next wrong")
        self.wrong_button.setToolTip(
            "The next test digit the network got wrong in the last evaluation\n"
            "(available after an evaluation)")
        self.wrong_button.setEnabled(False)
        browse = control_row(("Test #", self.index_spin), ("class", self.class_combo),
                             self.random_button, self.wrong_button, STRETCH)

        # images
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(150)
        self.test_plot = image_view("test digit")
        self.test_image = image_item(greys())
        self.test_plot.addItem(self.test_image)
        self.pad_plot = image_view("draw here")
        self.pad_image = DrawingPad(CANVAS, EMIT_INTERVAL_MS)
        self.pad_image.setColorMap(greys())
        self.pad_plot.addItem(self.pad_image)
        frame = pg.PlotCurveItem([0, CANVAS, CANVAS, 0, 0], [0, 0, CANVAS, CANVAS, 0],
                                 pen=pg.mkPen("#808080"))
        self.pad_plot.addItem(frame)
        self.seen_plot = image_view("network input")
        self.seen_image = image_item(greys())
        self.seen_plot.addItem(self.seen_image)
        g = self.graphics.ci
        g.addItem(self.test_plot, 0, 0)
        g.addItem(self.pad_plot, 0, 1)
        g.addItem(self.seen_plot, 0, 2)
        g.layout.setColumnStretchFactor(0, 2)
        g.layout.setColumnStretchFactor(1, 4)
        g.layout.setColumnStretchFactor(2, 2)

        # drawing controls
        self.clear_button = QtWidgets.QPushButton("Clear")
        self.clear_button.setToolTip("Wipe the drawing pad")
        self.brush_spin = QtWidgets.QSpinBox()
        self.brush_spin.setRange(4, 80)
        self.brush_spin.setValue(24)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip(
            f"Brush diameter on the {CANVAS}x{CANVAS} pad (24 px gives MNIST-like strokes)")
        self.hint = QtWidgets.QLabel(DRAW_HINT)
        self.hint.setWordWrap(True)
        pad_row = control_row(self.clear_button, ("Brush", self.brush_spin), self.hint,
                              grow=self.hint)

        panel_column(self, self.prediction, browse, self.graphics, pad_row, grow=self.graphics)

        self.index_spin.valueChanged.connect(self._on_spin)
        self.class_combo.currentIndexChanged.connect(self._on_class_filter)
        self.random_button.clicked.connect(self._on_random)
        self.wrong_button.clicked.connect(self._on_next_wrong)
        self.clear_button.clicked.connect(self.clear_drawing)
        self.brush_spin.valueChanged.connect(self._on_brush)
        self._on_brush(self.brush_spin.value())
        self.pad_image.sigDrawn.connect(self._on_drawn)
        if state is not None:  # a digit chosen elsewhere (confusion, top digits) shows here
            state.sigDigitChanged.connect(self._on_digit_changed)

        fit_view(self.pad_plot, CANVAS, CANVAS)
        self.seen_image.setImage(self._drawn, autoLevels=False, levels=(0, 1))
        fit_view(self.seen_plot, 28, 28)
        self._set_enabled(False)

    # -- public ---------------------------------------------------------------------------

    def set_test_set(self, images: np.ndarray, labels: np.ndarray,
                     class_names: tuple[str, ...]) -> None:
        """images: (N, H, W) grey or (N, H, W, 3) colour uint8; labels: (N,). Shows digit 0
        without emitting. The pad draws only for 28x28 grey images (drawing_allowed)."""
        self._images = np.asarray(images)
        self._labels = np.asarray(labels, np.int64)
        self._names = tuple(class_names)
        self._preds = None
        n = len(self._labels)
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem(ANY)
        self.class_combo.addItems([str(c) for c in self._names])
        self.class_combo.blockSignals(False)
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(0, max(n - 1, 0))
        self.index_spin.setValue(0)
        self.index_spin.blockSignals(False)
        self._set_enabled(n > 0)
        self._set_drawing(drawing_refusal(self._images) if n else "")
        self._update_wrong_button()
        if n:
            self._show_test(0)

    def set_predictions(self, preds: np.ndarray | None) -> None:
        """The test set's predicted classes (N,) from the latest evaluation, or None."""
        preds = None if preds is None else np.asarray(preds, np.int64)
        self._preds = preds if preds is not None and len(preds) == len(self._labels) else None
        self._update_wrong_button()

    def set_prediction(self, probs: np.ndarray) -> None:
        """The network's class probabilities (K,) for the chosen/drawn digit."""
        probs = np.asarray(probs, np.float64).ravel()
        if probs.size == 0:
            self.prediction.setText("predicted: –")
            return
        top = int(probs.argmax())
        text = f"predicted: <span style='color:{ACCENT}'>{self._name(top)}</span> " \
               f"({probs[top]:.0%})"
        if self._source == "test" and len(self._labels):
            label = int(self._labels[self._index])
            colour = GOOD if label == top else BAD
            text += f" · <span style='color:{colour}'>true {self._name(label)}</span>"
        self.prediction.setText(text)

    def choose_index(self, i: int) -> None:
        """Choose test digit i: show it and emit sigDigitChosen(i)."""
        i = check_digit(i, len(self._labels))  # ValueError naming the range
        self.index_spin.blockSignals(True)
        self.index_spin.setValue(int(i))
        self.index_spin.blockSignals(False)
        self._choose(int(i))

    @QtCore.Slot(object)
    def _on_digit_changed(self, digit) -> None:
        if isinstance(digit, int) and (digit != self._index or self._source != "test"):
            self.index_spin.blockSignals(True)
            self.index_spin.setValue(digit)
            self.index_spin.blockSignals(False)
            self._show_test(digit)
            self._set_source("test")

    def current_index(self) -> int:
        return self._index

    def drawing_allowed(self) -> bool:
        """Whether the pad draws: only for 28x28 grey test sets (and before any)."""
        return self.pad_image.isEnabled()

    def drawing_reason(self) -> str:
        """Why drawing is off ("" when it is on)."""
        return self._refusal

    def draw_stroke(self, points) -> None:
        """Draw through points [(x, y), ...] in canvas pixels as one mouse drag (press at the
        first, move through the rest, release), then emit the preprocessed drawing. Does
        nothing while drawing is off (see drawing_allowed)."""
        points = [(float(x), float(y)) for x, y in points]
        if not points or not self.drawing_allowed():
            return
        self.pad_image.stroke_begin(points[0])
        for p in points[1:]:
            self.pad_image.stroke_to(p)
        self.pad_image.stroke_end()

    def clear_drawing(self) -> None:
        """Wipe the pad (emits nothing: an empty drawing is not a digit)."""
        self.pad_image.clear()
        self._drawn = np.zeros((28, 28), np.float32)
        self.seen_image.setImage(self._drawn, autoLevels=False, levels=(0, 1))

    def canvas(self) -> np.ndarray:
        """A copy of the (CANVAS, CANVAS) float canvas in [0, 1]."""
        return self.pad_image.canvas.copy()

    def network_input(self) -> np.ndarray:
        """The last preprocessed drawing, float32 (28, 28)."""
        return self._drawn.copy()

    # -- test set -------------------------------------------------------------------------

    def _name(self, k: int) -> str:
        return self._names[k] if 0 <= k < len(self._names) else str(k)

    def _set_enabled(self, on: bool):
        for w in (self.index_spin, self.class_combo, self.random_button):
            w.setEnabled(on)

    def _set_drawing(self, refusal: str):
        """Drawing on (refusal "") or off with the reason in the hint and tooltips."""
        on, self._refusal = not refusal, refusal
        if not on and self.drawing_allowed():
            self.clear_drawing()
            if self._source == "drawing":
                self._source = None
        self.pad_image.setEnabled(on)
        self.pad_image.setOpacity(1.0 if on else 0.35)
        self.seen_plot.setOpacity(1.0 if on else 0.35)
        for w in (self.clear_button, self.brush_spin):
            w.setEnabled(on)
        self.hint.setText(DRAW_HINT if on else refusal[0].upper() + refusal[1:] + ".")
        tip = "" if on else refusal[0].upper() + refusal[1:]
        self.hint.setToolTip(tip)
        self.pad_plot.setToolTip(tip)
        self._update_titles()

    def _class_filter(self) -> int | None:
        i = self.class_combo.currentIndex()
        return None if i <= 0 else i - 1

    def _matches(self) -> np.ndarray:
        c = self._class_filter()
        return np.ones(len(self._labels), bool) if c is None else self._labels == c

    def _update_wrong_button(self):
        if self._preds is None:
            self.wrong_button.setEnabled(False)
            self.wrong_button.setToolTip(
                "The next test digit the network got wrong in the last evaluation\n"
                "(available after an evaluation of the test set)")
            return
        wrong = int((self._preds != self._labels).sum())
        self.wrong_button.setEnabled(wrong > 0)
        self.wrong_button.setToolTip(
            f"The next test digit the network got wrong: {wrong} in the last evaluation")

    def _show_test(self, i: int):
        self._index = i
        img = self._images[i]
        self.test_image.setImage(np.asarray(img, np.float32), autoLevels=False, levels=(0, 255))
        fit_view(self.test_plot, img.shape[1], img.shape[0])
        title = f"test #{i} · {self._name(int(self._labels[i]))}"
        if self._preds is not None and self._preds[i] != self._labels[i]:
            title += f" (pred {self._name(int(self._preds[i]))})"
        self._test_title = title
        self._update_titles()

    def _choose(self, i: int):
        self._show_test(i)
        self._set_source("test")
        self.sigDigitChosen.emit(int(i))

    def _set_source(self, source: str):
        """What the next prediction refers to. The old prediction is marked stale when a
        new test digit is chosen or a drawing is started, not on every drawing update."""
        if source == "test" or self._source != source:
            self.prediction.setText("predicted: …")
        self._source = source
        self._update_titles()

    def _update_titles(self):
        """The view whose digit the prediction refers to gets an orange title."""
        def title(text, active):
            return f"<span style='color:{ACCENT}'>▶ {text}</span>" if active else text

        pad = "draw here" if self.pad_image.isEnabled() else "drawing off"
        self.pad_plot.setTitle(title(pad, self._source == "drawing"), size="9pt")
        self.test_plot.setTitle(title(self._test_title, self._source == "test"), size="9pt")

    def _on_spin(self, value: int):
        if not len(self._labels):
            return
        matches = self._matches()
        if not matches[value]:
            step = 1 if value >= self._index else -1
            order = np.arange(value, len(matches) if step > 0 else -1, step)
            hits = order[matches[order]]
            if not len(hits):
                hits = np.flatnonzero(matches)
            if not len(hits):
                return
            value = int(hits[0])
            self.index_spin.blockSignals(True)
            self.index_spin.setValue(value)
            self.index_spin.blockSignals(False)
        self._choose(value)

    def _on_class_filter(self, _i: int):
        matches = self._matches()
        if len(matches) and not matches[self._index]:
            after = np.flatnonzero(matches[self._index :])
            hits = after + self._index if len(after) else np.flatnonzero(matches)
            if len(hits):
                self.choose_index(int(hits[0]))

    def _on_random(self):
        hits = np.flatnonzero(self._matches())
        if len(hits):
            self.choose_index(int(self._rng.choice(hits)))

    def _on_next_wrong(self):
        if self._preds is None:
            return
        wrong = (self._preds != self._labels) & self._matches()
        n = len(wrong)
        order = (np.arange(n) + self._index + 1) % n
        hits = order[wrong[order]]
        if len(hits):
            self.choose_index(int(hits[0]))
        else:
            self.hint.setText("No misclassified digit of this class in the last evaluation.")

    # -- drawing --------------------------------------------------------------------------

    def _on_brush(self, diameter: int):
        self.pad_image.radius = diameter / 2.0

    def _on_drawn(self, canvas: np.ndarray):
        x = preprocess_drawing(canvas)
        self._drawn = x
        self.seen_image.setImage(x, autoLevels=False, levels=(0, 1))
        self._set_source("drawing")
        self.sigDigitChosen.emit(x.copy())

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(480, 380)
