"""Training curves: batch loss (raw and smoothed), validation per epoch, test points, lr.

Three PlotItems in one GraphicsLayoutWidget share the x axis (training step). Plot items are
created once; new points go into a History (tables that grow in amortised O(1)), and the
items get `setData` with its columns at a bounded rate. Hovering shows a crosshair and the
values there (text from curves_hover). An earlier run can be drawn underneath in grey
(`set_overlay`, after branching) and a recorded step marked with a vertical line
(`set_marker`, when scrubbing the timeline).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from cnnviz.app.panels import curves_hover as hover
from cnnviz.app.panels.curves_hover import LR, OLD, RAW, SMOOTH, TEST, VAL
from cnnviz.app.state import AppState
from cnnviz.app.widgets.coalescer import Coalescer
from cnnviz.training.history import STEP_COLUMNS, History, Table, ema
from cnnviz.training.metrics import Smoother

__all__ = ["CurvesPanel"]

REDRAW_MS = 200  # new points reach the plots at most 5 times a second
MARK = "#f06292"  # pink: the step marker of `set_marker`

_COL = {name: i for i, name in enumerate(STEP_COLUMNS)}  # step row columns by name


class CurvesPanel(QtWidgets.QWidget):
    """Loss, accuracy and learning-rate curves against the training step.

    Feed it with `append_steps` ((n, 4) rows in STEP_COLUMNS order), `append_epochs` ((n, 8)
    rows in EPOCH_COLUMNS order), `add_evaluation` (test points) or
    `set_history(session.history)`. `set_overlay(old_history)` draws an earlier run under the
    current one; `set_marker(step)` marks a step on every plot.
    """

    sigSettingsChanged = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None, state: AppState | None = None):
        super().__init__(parent)
        self._history = History()
        # smoothed batch loss and accuracy, a row per step row; the smoothers go on from there
        self._smoothed = Table(("loss", "accuracy"), 1024)
        self._overlay = History()  # the earlier run of set_overlay; empty when none
        self._overlay_sloss = np.empty(0)  # smoothed loss of the overlay, for the hover text
        self._overlay_label = ""
        self._marker_step: int | None = None
        self._weight = 0.9
        self._smoothers = (Smoother(self._weight), Smoother(self._weight))
        self._redraw = Coalescer(self._draw, REDRAW_MS, self, leading=False)

        # controls
        self.smoothing = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(90)
        self.smoothing.setFixedWidth(160)
        self.smoothing.setToolTip("Exponential moving average of the batch loss and accuracy "
                                  "(0 = raw, 0.99 = very smooth), as TensorBoard does")
        self.smoothing_label = QtWidgets.QLabel("0.90")
        self.smoothing_label.setMinimumWidth(32)
        self.log_scale = QtWidgets.QCheckBox("Log scale")
        self.log_scale.setToolTip("Logarithmic y axis for the loss and the learning rate")
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        label = QtWidgets.QLabel("Smoothing")
        label.setBuddy(self.smoothing)
        for widget in (label, self.smoothing, self.smoothing_label):
            top.addWidget(widget)
        top.addSpacing(12)
        top.addWidget(self.log_scale)
        top.addStretch(1)

        # plots: loss, accuracy and lr share the step axis, which only the lowest shows
        self.graphics = pg.GraphicsLayoutWidget()
        plots = [self.graphics.addPlot(row=row, col=0) for row in range(3)]
        self.loss_plot, self.acc_plot, self.lr_plot = plots
        for row, (plot, ylabel) in enumerate(zip(plots, ("loss", "accuracy %", "learning rate"))):
            self.graphics.ci.layout.setRowStretchFactor(row, (5, 4, 2)[row])
            # no grid: pyqtgraph draws it as alpha-blended axis ticks, ~4 ms per plot per frame
            plot.setLabel("left", ylabel)
            plot.setMenuEnabled(False)
            axis = plot.getAxis("left")
            axis.enableAutoSIPrefix(False)
            axis.setWidth(62)
            plot.setDefaultPadding(0.02)
            # The step axis grows in jumps (see _update_x_range) rather than with every point,
            # so the axes are not regenerated at every frame; y follows the data.
            plot.enableAutoRange(x=False)
            if plot is not self.loss_plot:
                plot.setXLink(self.loss_plot)
        self.lr_plot.setLabel("bottom", "step")
        self.loss_plot.hideAxis("bottom")
        self.acc_plot.hideAxis("bottom")
        self._x_max = 0.0
        self._x_managed = True
        self.loss_plot.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        self.loss_plot.getViewBox().sigStateChanged.connect(self._on_view_state)
        self.acc_plot.setLimits(yMin=-2, yMax=102)

        self.raw_loss = self._line(self.loss_plot, RAW, 1, fast=True)
        self.smooth_loss = self._line(self.loss_plot, SMOOTH, 2)
        self.val_loss = self._points(self.loss_plot, VAL, "o")
        self.test_loss = self._points(self.loss_plot, TEST, "t", line=False)
        self.raw_acc = self._line(self.acc_plot, RAW, 1, fast=True)
        self.smooth_acc = self._line(self.acc_plot, SMOOTH, 2)
        self.val_acc = self._points(self.acc_plot, VAL, "o")
        self.test_acc = self._points(self.acc_plot, TEST, "t", line=False)
        self.lr_line = self._line(self.lr_plot, LR, 2)

        # the earlier run (set_overlay): dashed grey, under the current run; its smoothed
        # lines lose nothing when downsampled to a few points per pixel
        old_pen = pg.mkPen(OLD, width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.old_loss, self.old_acc, self.old_lr = (
            plot.plot(pen=old_pen, skipFiniteCheck=True) for plot in plots)
        self.old_val_loss, self.old_val_acc = (
            plot.plot(pen=None, symbol="o", symbolSize=7, symbolPen=pg.mkPen(OLD, width=1.5),
                      symbolBrush=None)
            for plot in (self.loss_plot, self.acc_plot))
        for item in (self.old_loss, self.old_acc, self.old_lr):
            item.setDownsampling(auto=True, method="subsample")
            item.setClipToView(True)
        for item in (self.old_loss, self.old_acc, self.old_lr, self.old_val_loss,
                     self.old_val_acc):
            item.setZValue(-1)

        self._readout = hover.Readout(
            plots, lambda: hover.legend(self._overlay, self._overlay_label), self._values_at,
            self)
        self.hover = self._readout.label
        # the step marker (set_marker); only the top one carries the label
        mark = {"position": 0.92, "color": MARK, "anchors": [(-0.05, 0.5)] * 2,
                "fill": (0, 0, 0, 170)}
        self.markers = [
            hover.vline(plot, pg.mkPen(MARK, width=1.5), 9, labelOpts=mark,
                        label="step {value:.0f}" if plot is self.loss_plot else None)
            for plot in plots]

        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.setSpacing(2)
        box.addLayout(top)
        box.addWidget(self.hover)
        box.addWidget(self.graphics, 1)

        self.smoothing.valueChanged.connect(self._on_smoothing_changed)
        self.log_scale.toggled.connect(self._on_log_toggled)
        if state is not None:  # mark the step of a scrubbed timeline moment
            state.sigMomentChanged.connect(
                lambda moment: self.set_marker(None if moment is None else moment.step))

    # -- construction helpers -------------------------------------------------------------

    @staticmethod
    def _line(plot, colour, width, fast=False):
        item = plot.plot(pen=pg.mkPen(colour, width=width), skipFiniteCheck=True)
        if fast:
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        return item

    @staticmethod
    def _points(plot, colour, symbol, line=True):
        return plot.plot(pen=pg.mkPen(colour, width=1.5) if line else None, symbol=symbol,
                         symbolSize=8 if line else 10, symbolPen=colour, symbolBrush=colour)

    # -- feeding ----------------------------------------------------------------------------

    def clear(self) -> None:
        self.set_history(History())

    def set_history(self, history: History) -> None:
        """Replace everything with (a copy of) `history`, after a reset or opening a
        checkpoint."""
        self._x_max, self._x_managed = 0.0, True
        self._history = history.copy()
        self._resmooth()
        self._draw()
        self._readout.show_legend()

    def set_overlay(self, history: History | None, label: str = "before branch") -> None:
        """Draw (a copy of) an earlier run in dashed grey under the current one: smoothed loss
        and accuracy, lr, and validation points. `label` names it in the legend and the hover
        text; None removes it. `set_history` and `clear` keep it, so a branch is shown with
        set_history(new) then set_overlay(old)."""
        self._overlay = History() if history is None else history.copy()
        self._overlay_label = label
        self._redraw_overlay()
        self._x_max = 0.0  # fit the step axis to both runs
        self._update_x_range(self._last_step())
        self._readout.show_legend()

    def set_marker(self, step: int | None) -> None:
        """Mark training step `step` with a labelled vertical line on every plot (None: hide)."""
        self._marker_step = None if step is None else int(step)
        for line in self.markers:
            line.setVisible(step is not None)  # first: a hidden line's label is not updated
            if step is not None:
                line.setPos(step)

    def append_steps(self, steps) -> None:
        """steps: (n, 4) rows in STEP_COLUMNS order (accuracy 0..1); rows at or before the
        last step already shown are ignored."""
        steps = np.asarray(steps, np.float64).reshape(-1, len(STEP_COLUMNS))
        steps = steps[steps[:, _COL["step"]] > self._history.steps.last("step", -math.inf)]
        if len(steps):
            self._history.steps.append(steps)
            self._smooth(steps)
            self._redraw.request()

    def append_epochs(self, epochs) -> None:
        """epochs: (n, 8) rows in EPOCH_COLUMNS order."""
        epochs = np.asarray(epochs, np.float64).reshape(-1, 8)
        if len(epochs):
            self._history.epochs.append(epochs)
            self._redraw.request()

    def add_evaluation(self, step: int, loss: float, accuracy: float) -> None:
        """A test-set evaluation (accuracy in 0..1) as a point at `step`."""
        if self._history.tests.last("step") != step:
            self._history.tests.append((step, loss, accuracy))
            self._redraw.request()

    # -- reading ----------------------------------------------------------------------------

    @property
    def num_steps(self) -> int:
        return len(self._history.steps)

    @property
    def num_epochs(self) -> int:
        return len(self._history.epochs)

    def steps_array(self) -> np.ndarray:
        """(n, 4) copy of the step rows, in STEP_COLUMNS order."""
        return self._history.steps.rows().copy()

    def overlay_steps(self) -> np.ndarray:
        """(n, 4) copy of the overlay's step rows in STEP_COLUMNS order; (0, 4) when there is
        no overlay."""
        return self._overlay.steps.rows().copy()

    def marker_step(self) -> int | None:
        return self._marker_step

    def smoothing_weight(self) -> float:
        return self._weight

    def set_smoothing(self, weight: float) -> None:
        self.smoothing.setValue(round(min(max(weight, 0.0), 0.99) * 100))

    def set_log_scale(self, on: bool) -> None:
        self.log_scale.setChecked(bool(on))

    def write_csv(self, path):
        """Export the history as CSV (History.write_csv) with the smoothing shown; returns the
        path."""
        return self._history.write_csv(path, self._weight)

    # -- drawing ----------------------------------------------------------------------------

    def _smooth(self, steps: np.ndarray) -> None:
        """Append the smoothed loss and accuracy of step rows (n, 4) to `_smoothed`."""
        loss, acc = self._smoothers
        self._smoothed.append(np.column_stack((
            [loss.update(v) for v in steps[:, _COL["loss"]].tolist()],
            [acc.update(v) for v in steps[:, _COL["accuracy"]].tolist()])))

    def _resmooth(self) -> None:
        """Smooth the whole history again with the current weight."""
        self._smoothers = (Smoother(self._weight), Smoother(self._weight))
        self._smoothed.clear()
        self._smooth(self._history.steps.rows())

    def flush(self) -> None:
        """Draw every pending change now."""
        self._redraw.flush()

    def _draw(self) -> None:
        """Give every curve of the current run its data (the Coalescer calls it at most every
        REDRAW_MS, so a fast run costs few repaints)."""
        s, t, x = self._history.steps, self._history.tests, self._history.steps["step"]
        self._update_x_range(self._last_step())
        self.raw_loss.setData(x, s["loss"])
        self.smooth_loss.setData(x, self._smoothed["loss"])
        self.raw_acc.setData(x, 100 * s["accuracy"])
        self.smooth_acc.setData(x, 100 * self._smoothed["accuracy"])
        self.lr_line.setData(x, s["lr"])
        self._fit_lr_range(s["lr"])
        x, loss, acc = _validation(self._history.epochs)
        self.val_loss.setData(x, loss)
        self.val_acc.setData(x, acc)
        self.test_loss.setData(t["step"], t["loss"])
        self.test_acc.setData(t["step"], 100 * t["accuracy"])

    def _fit_lr_range(self, lr) -> None:
        """A constant rate would get pyqtgraph's +-0.4 band around it (0.005 drawn between
        -0.4 and 0.4, its axis all minus signs): show it from 0 (linear) or one decade either
        side (log) instead; a changing rate keeps the automatic range."""
        if not len(lr) or lr.max() != lr.min() or not lr[0] > 0:
            self.lr_plot.enableAutoRange(axis="y")
        elif self.log_scale.isChecked():
            self.lr_plot.setYRange(np.log10(lr[0]) - 1, np.log10(lr[0]) + 1, padding=0)
        else:
            self.lr_plot.setYRange(0, 1.5 * lr[0], padding=0)

    def _last_step(self) -> float:
        """The last step of the current run or of the overlay, whichever is later."""
        return max(self._history.steps.last("step", 0.0), self._overlay.steps.last("step", 0.0))

    def _update_x_range(self, last: float) -> None:
        if not self._x_managed:
            return
        if last > self._x_max or self._x_max > 4 * max(last, 25):
            self._x_max = _nice_ceil(max(last, 20) * 1.08)
            self.loss_plot.setXRange(0, self._x_max, padding=0.01)

    def _on_manual_range(self, *_):
        self._x_managed = False  # the user zoomed or panned: leave x alone

    def _on_view_state(self, *_):
        if self.loss_plot.getViewBox().autoRangeEnabled()[0]:  # the "A" button
            self._x_managed = True
            self._x_max = 0.0
            self.loss_plot.enableAutoRange(x=False)
            self._update_x_range(self._last_step())

    def _redraw_overlay(self) -> None:
        """Smooth the overlay with the current weight and draw it."""
        o = self._overlay.steps
        self._overlay_sloss = ema(o["loss"], self._weight)
        self.old_loss.setData(o["step"], self._overlay_sloss)
        self.old_acc.setData(o["step"], ema(100 * o["accuracy"], self._weight))
        self.old_lr.setData(o["step"], o["lr"])
        x, loss, acc = _validation(self._overlay.epochs)
        self.old_val_loss.setData(x, loss)
        self.old_val_acc.setData(x, acc)

    # -- slots ------------------------------------------------------------------------------

    @QtCore.Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self._weight = value / 100.0
        self.smoothing_label.setText(f"{self._weight:.2f}")
        self._resmooth()
        if self.num_steps:
            self._draw()
        if len(self._overlay.steps):
            self._redraw_overlay()
        self.sigSettingsChanged.emit()

    @QtCore.Slot(bool)
    def _on_log_toggled(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self.lr_plot.setLogMode(y=on)
        self._fit_lr_range(self._history.steps["lr"])
        self.sigSettingsChanged.emit()

    def leaveEvent(self, event) -> None:
        self._readout.show_legend()
        super().leaveEvent(event)

    def show_values_at(self, x: float) -> str:
        """Move the crosshairs to step `x` and describe the values there (also returned)."""
        return self._readout.show_values_at(x)

    def _values_at(self, x: float) -> tuple[float, str] | None:
        if not (self.num_steps or self.num_epochs or len(self._overlay.steps)):
            return None
        return hover.values_at(x, self._history, self._smoothed, self._overlay,
                               self._overlay_sloss, self._overlay_label)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(640, 480)


def _validation(epochs: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step, val loss, val accuracy %) of the epoch rows that have a validation, each (m,)."""
    ok = np.isfinite(epochs["val_loss"])
    return epochs["step"][ok], epochs["val_loss"][ok], 100 * epochs["val_accuracy"][ok]


def _nice_ceil(v: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k that is >= v."""
    k = 10 ** math.floor(math.log10(max(v, 1e-12)))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * k >= v:
            return m * k
    return 10 * k
