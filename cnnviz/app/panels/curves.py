"""Training curves: batch loss (raw and smoothed), validation per epoch, test points, lr.

Three PlotItems in one GraphicsLayoutWidget share the x axis (training step). Plot items are
created once; new points go into preallocated numpy arrays that double when full, and the
items get `setData` with views of them. Hovering shows a crosshair and the values there.
An earlier run can be drawn underneath in grey (`set_overlay`, after branching) and a
recorded step marked with a vertical line (`set_marker`, when scrubbing the timeline).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from cnnviz.training.metrics import Smoother

__all__ = ["CurvesPanel", "GrowingArray", "ema"]

REDRAW_MS = 200  # new points reach the plots at most 5 times a second
RAW = (120, 160, 220, 90)  # faint blue: raw batch values
SMOOTH = "#ff9f1c"  # orange: smoothed batch values (the panels' accent colour)
VAL = "#4caf50"  # green: validation per epoch
TEST = "#4dd0e1"  # cyan: test evaluations
LR = "#d4a5ff"  # violet: learning rate
OLD = "#b0b0b0"  # grey, dashed: the earlier run of `set_overlay`
MARK = "#f06292"  # pink: the step marker of `set_marker`


class GrowingArray:
    """Rows of `ncols` float64 in a preallocated array that doubles when full."""

    def __init__(self, ncols: int, capacity: int = 1024):
        self._data = np.full((capacity, ncols), np.nan, np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, rows) -> None:
        rows = np.asarray(rows, np.float64).reshape(-1, self._data.shape[1])
        need = self._n + len(rows)
        if need > len(self._data):
            cap = max(need, 2 * len(self._data))
            grown = np.full((cap, self._data.shape[1]), np.nan, np.float64)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = rows
        self._n = need

    def col(self, i: int) -> np.ndarray:
        """A view of column i of the filled rows."""
        return self._data[: self._n, i]

    def rows(self) -> np.ndarray:
        return self._data[: self._n]

    def clear(self) -> None:
        self._n = 0


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style debiased exponential moving average (as metrics.Smoother)."""
    s = Smoother(weight)
    return np.fromiter((s.update(v) for v in np.asarray(values, np.float64)), np.float64,
                       count=len(values))


class CurvesPanel(QtWidgets.QWidget):
    """Loss, accuracy and learning-rate curves against the training step.

    Feed it with `append_steps` ((n, 4): step, loss, accuracy, lr), `append_epochs`
    ((n, 8): session.history["epochs"] rows), `add_evaluation` (test points) or
    `set_history(session.history)`. `set_overlay(old_history)` draws an earlier run under the
    current one; `set_marker(step)` marks a step on every plot.
    """

    sigSettingsChanged = QtCore.Signal()

    # step columns: step, loss, accuracy, lr, smoothed loss, smoothed accuracy
    S_STEP, S_LOSS, S_ACC, S_LR, S_SLOSS, S_SACC = range(6)
    # epoch columns (session.history["epochs"] order)
    E_EPOCH, E_STEP, E_TLOSS, E_TACC, E_VLOSS, E_VACC, E_LR, E_SECS = range(8)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._steps = GrowingArray(6)
        self._epochs = GrowingArray(8, 64)
        self._tests = GrowingArray(3, 64)  # step, loss, accuracy
        self._overlay = np.empty((0, 4))  # step, loss, accuracy (0..1), lr
        self._overlay_epochs = np.empty((0, 8))
        self._overlay_sloss = np.empty(0)  # smoothed loss of the overlay, for the hover text
        self._overlay_label = ""
        self._marker_step: int | None = None
        self._weight = 0.9
        self._loss_smoother = Smoother(self._weight)
        self._acc_smoother = Smoother(self._weight)
        self._dirty: set[str] = set()
        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self.flush)

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
        top.addWidget(label)
        top.addWidget(self.smoothing)
        top.addWidget(self.smoothing_label)
        top.addSpacing(12)
        top.addWidget(self.log_scale)
        top.addStretch(1)
        self.hover = QtWidgets.QLabel()
        self.hover.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.hover.setWordWrap(True)
        self.hover.setFixedHeight(2 * self.hover.fontMetrics().lineSpacing() + 4)
        self.hover.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft
                                | QtCore.Qt.AlignmentFlag.AlignTop)
        self._set_hover_hint()

        # plots
        self.graphics = pg.GraphicsLayoutWidget()
        self.loss_plot = self.graphics.addPlot(row=0, col=0)
        self.acc_plot = self.graphics.addPlot(row=1, col=0)
        self.lr_plot = self.graphics.addPlot(row=2, col=0)
        layout = self.graphics.ci.layout
        for row, factor in ((0, 5), (1, 4), (2, 2)):
            layout.setRowStretchFactor(row, factor)
        for plot, ylabel in ((self.loss_plot, "loss"), (self.acc_plot, "accuracy %"),
                             (self.lr_plot, "learning rate")):
            # no grid: pyqtgraph draws it as alpha-blended axis ticks, ~4 ms per plot per frame
            plot.setLabel("left", ylabel)
            plot.setMenuEnabled(False)
            axis = plot.getAxis("left")
            axis.enableAutoSIPrefix(False)
            axis.setWidth(62)
            plot.setDefaultPadding(0.02)
        self.lr_plot.setLabel("bottom", "step")
        for plot in (self.loss_plot, self.acc_plot):  # x-linked: only the lowest shows steps
            plot.hideAxis("bottom")
        # The step axis grows in jumps (see _update_x_range) rather than with every point, so
        # the axes are not regenerated at every frame; y follows the data.
        self._x_max = 0.0
        self._x_managed = True
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            plot.enableAutoRange(x=False)
        self.loss_plot.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        self.loss_plot.getViewBox().sigStateChanged.connect(self._on_view_state)
        self.acc_plot.setXLink(self.loss_plot)
        self.lr_plot.setXLink(self.loss_plot)
        self.acc_plot.setLimits(yMin=-2, yMax=102)

        self.raw_loss = self._line(self.loss_plot, RAW, 1, None, fast=True)
        self.smooth_loss = self._line(self.loss_plot, SMOOTH, 2, None)
        self.val_loss = self._points(self.loss_plot, VAL, None, "o")
        self.test_loss = self._points(self.loss_plot, TEST, None, "t", line=False)
        self.raw_acc = self._line(self.acc_plot, RAW, 1, None, fast=True)
        self.smooth_acc = self._line(self.acc_plot, SMOOTH, 2, None)
        self.val_acc = self._points(self.acc_plot, VAL, None, "o")
        self.test_acc = self._points(self.acc_plot, TEST, None, "t", line=False)
        self.lr_line = self._line(self.lr_plot, LR, 2, None)

        # the earlier run (set_overlay): dashed grey, under the current run; its smoothed
        # lines lose nothing when downsampled to a few points per pixel
        old_pen = pg.mkPen(OLD, width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.old_loss, self.old_acc, self.old_lr = (
            plot.plot(pen=old_pen, skipFiniteCheck=True)
            for plot in (self.loss_plot, self.acc_plot, self.lr_plot))
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

        self.crosshairs = []
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(200, 200, 200, 120))
            line.setVisible(False)
            line.setZValue(10)
            plot.addItem(line, ignoreBounds=True)
            self.crosshairs.append(line)
        # the step marker (set_marker); only the top one carries the label
        self.markers = []
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            label = "step {value:.0f}" if plot is self.loss_plot else None
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(MARK, width=1.5),
                                   label=label, labelOpts={"position": 0.92, "color": MARK,
                                                           "anchors": [(-0.05, 0.5)] * 2,
                                                           "fill": (0, 0, 0, 170)})
            line.setVisible(False)
            line.setZValue(9)
            plot.addItem(line, ignoreBounds=True)
            self.markers.append(line)

        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.setSpacing(2)
        box.addLayout(top)
        box.addWidget(self.hover)
        box.addWidget(self.graphics, 1)

        self.smoothing.valueChanged.connect(self._on_smoothing_changed)
        self.log_scale.toggled.connect(self._on_log_toggled)
        self._proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30,
                                     slot=self._on_mouse_moved)

    # -- construction helpers -------------------------------------------------------------

    @staticmethod
    def _line(plot, colour, width, name, fast=False):
        item = plot.plot(pen=pg.mkPen(colour, width=width), name=name, skipFiniteCheck=True)
        if fast:
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        return item

    @staticmethod
    def _points(plot, colour, name, symbol, line=True):
        return plot.plot(pen=pg.mkPen(colour, width=1.5) if line else None, name=name,
                         symbol=symbol, symbolSize=8 if line else 10, symbolPen=colour,
                         symbolBrush=colour)

    # -- feeding ----------------------------------------------------------------------------

    def clear(self) -> None:
        self._x_max, self._x_managed = 0.0, True
        self._steps.clear()
        self._epochs.clear()
        self._tests.clear()
        self._loss_smoother = Smoother(self._weight)
        self._acc_smoother = Smoother(self._weight)
        self._redraw_all()
        self._set_hover_hint()

    def set_history(self, history: dict) -> None:
        """Replace everything with a session's history (after reset or opening a checkpoint)."""
        self._x_max, self._x_managed = 0.0, True
        self._steps.clear()
        self._epochs.clear()
        self._tests.clear()
        self._loss_smoother = Smoother(self._weight)
        self._acc_smoother = Smoother(self._weight)
        steps = np.asarray(history.get("steps", []), np.float64).reshape(-1, 4)
        epochs = np.asarray(history.get("epochs", []), np.float64).reshape(-1, 8)
        self.append_steps(steps, redraw=False)
        self._epochs.append(epochs)
        self._redraw_all()

    def set_overlay(self, history: dict | None, label: str = "before branch") -> None:
        """Draw an earlier run in dashed grey under the current one: smoothed loss and
        accuracy, lr, and validation points. `history` is as `set_history` takes it
        ({"steps": (n, 4), "epochs": (m, 8)}); `label` names it in the legend and the hover
        text; None removes it. `set_history` and `clear` keep it, so a branch is shown with
        set_history(new) then set_overlay(old)."""
        history = history or {}
        self._overlay = np.asarray(history.get("steps", []), np.float64).reshape(-1, 4)
        self._overlay_epochs = np.asarray(history.get("epochs", []),
                                          np.float64).reshape(-1, 8)
        self._overlay_label = label
        self._redraw_overlay()
        self._x_max = 0.0  # fit the step axis to both runs
        self._update_x_range(self._last_step())
        self._set_hover_hint()

    def set_marker(self, step: int | None) -> None:
        """Mark training step `step` with a labelled vertical line on every plot (None: hide)."""
        self._marker_step = None if step is None else int(step)
        for line in self.markers:
            line.setVisible(step is not None)  # first: a hidden line's label is not updated
            if step is not None:
                line.setPos(step)

    def append_steps(self, steps, redraw: bool = True) -> None:
        """steps: (n, 4) step, loss, accuracy (0..1), lr; rows at or before the last step
        already shown are ignored."""
        steps = np.asarray(steps, np.float64).reshape(-1, 4)
        if len(self._steps):
            steps = steps[steps[:, 0] > self._steps.col(self.S_STEP)[-1]]
        if not len(steps):
            return
        rows = np.empty((len(steps), 6), np.float64)
        rows[:, :4] = steps
        rows[:, self.S_ACC] *= 100.0
        rows[:, self.S_SLOSS] = [self._loss_smoother.update(v) for v in steps[:, 1]]
        rows[:, self.S_SACC] = [self._acc_smoother.update(v) for v in rows[:, self.S_ACC]]
        self._steps.append(rows)
        if redraw:
            self._request("steps")

    def append_epochs(self, epochs) -> None:
        """epochs: (n, 8) rows as in session.history["epochs"]."""
        epochs = np.asarray(epochs, np.float64).reshape(-1, 8)
        if len(epochs):
            self._epochs.append(epochs)
            self._request("epochs")

    def add_evaluation(self, step: int, loss: float, accuracy: float) -> None:
        """A test-set evaluation (accuracy in 0..1) as a point at `step`."""
        if len(self._tests) and self._tests.col(0)[-1] == step:
            return
        self._tests.append([[step, loss, accuracy * 100.0]])
        self._request("tests")

    # -- reading ----------------------------------------------------------------------------

    @property
    def num_steps(self) -> int:
        return len(self._steps)

    @property
    def num_epochs(self) -> int:
        return len(self._epochs)

    def steps_array(self) -> np.ndarray:
        """(n, 4) copy: step, loss, accuracy (0..1), lr, as received."""
        rows = self._steps.rows()[:, :4].copy()
        rows[:, self.S_ACC] /= 100.0
        return rows

    def epochs_array(self) -> np.ndarray:
        return self._epochs.rows().copy()

    def overlay_steps(self) -> np.ndarray:
        """(n, 4) copy of the overlay's step rows: step, loss, accuracy (0..1), lr; (0, 4)
        when there is no overlay."""
        return self._overlay.copy()

    def marker_step(self) -> int | None:
        return self._marker_step

    def smoothing_weight(self) -> float:
        return self._weight

    def set_smoothing(self, weight: float) -> None:
        self.smoothing.setValue(round(min(max(weight, 0.0), 0.99) * 100))

    def set_log_scale(self, on: bool) -> None:
        self.log_scale.setChecked(bool(on))

    def write_csv(self, path) -> Path:
        """One row per training step (plus rows for evaluations at other steps); epoch-end
        and test columns are filled at the step where they happened."""
        path = Path(path)
        by_step: dict[int, dict] = {}
        for r in self._steps.rows():
            by_step[int(r[0])] = {"step": int(r[0]), "batch_loss": r[1],
                                  "batch_accuracy": r[2] / 100, "lr": r[3],
                                  "smoothed_loss": r[4]}
        for r in self._epochs.rows():
            row = by_step.setdefault(int(r[1]), {"step": int(r[1])})
            row.update(epoch=int(r[0]) + 1, train_loss=r[2], train_accuracy=r[3],
                       val_loss=r[4], val_accuracy=r[5], epoch_seconds=r[7])
        for r in self._tests.rows():
            row = by_step.setdefault(int(r[0]), {"step": int(r[0])})
            row.update(test_loss=r[1], test_accuracy=r[2] / 100)
        fields = ["step", "batch_loss", "batch_accuracy", "lr", "smoothed_loss", "epoch",
                  "train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds",
                  "test_loss", "test_accuracy"]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fields)
            w.writeheader()
            for step in sorted(by_step):
                w.writerow({k: (_fmt(v) if isinstance(v, float) else v)
                            for k, v in by_step[step].items()})
        return path

    # -- drawing ----------------------------------------------------------------------------

    def _request(self, part: str) -> None:
        """Redraw `part` soon: at most every REDRAW_MS, so a fast run costs few repaints."""
        self._dirty.add(part)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def flush(self) -> None:
        """Draw every pending change now."""
        self._redraw_timer.stop()
        dirty, self._dirty = self._dirty, set()
        if "steps" in dirty:
            self._redraw_steps()
        if "epochs" in dirty:
            self._redraw_epochs()
        if "tests" in dirty:
            self._redraw_tests()

    def _redraw_all(self) -> None:
        self._dirty.clear()
        self._redraw_timer.stop()
        self._redraw_steps()
        self._redraw_epochs()
        self._redraw_tests()

    def _last_step(self) -> float:
        """The last step of the current run or of the overlay, whichever is later."""
        last = self._steps.col(self.S_STEP)[-1] if len(self._steps) else 0.0
        return float(max(last, self._overlay[-1, 0] if len(self._overlay) else 0.0))

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

    def _redraw_steps(self) -> None:
        s = self._steps
        x = s.col(self.S_STEP)
        self._update_x_range(self._last_step())
        self.raw_loss.setData(x, s.col(self.S_LOSS))
        self.smooth_loss.setData(x, s.col(self.S_SLOSS))
        self.raw_acc.setData(x, s.col(self.S_ACC))
        self.smooth_acc.setData(x, s.col(self.S_SACC))
        self.lr_line.setData(x, s.col(self.S_LR))

    def _redraw_epochs(self) -> None:
        e = self._epochs
        x = e.col(self.E_STEP)
        vloss, vacc = e.col(self.E_VLOSS), e.col(self.E_VACC) * 100.0
        ok = np.isfinite(vloss)
        self.val_loss.setData(x[ok], vloss[ok])
        self.val_acc.setData(x[ok], vacc[ok])

    def _redraw_tests(self) -> None:
        t = self._tests
        self.test_loss.setData(t.col(0), t.col(1))
        self.test_acc.setData(t.col(0), t.col(2))

    def _redraw_overlay(self) -> None:
        """Smooth the overlay with the current weight and draw it."""
        o, e = self._overlay, self._overlay_epochs
        x = o[:, 0]
        self._overlay_sloss = ema(o[:, 1], self._weight)
        self.old_loss.setData(x, self._overlay_sloss)
        self.old_acc.setData(x, ema(o[:, 2] * 100.0, self._weight))
        self.old_lr.setData(x, o[:, 3])
        ok = np.isfinite(e[:, self.E_VLOSS])
        self.old_val_loss.setData(e[ok, self.E_STEP], e[ok, self.E_VLOSS])
        self.old_val_acc.setData(e[ok, self.E_STEP], e[ok, self.E_VACC] * 100.0)

    # -- slots ------------------------------------------------------------------------------

    @QtCore.Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self._weight = value / 100.0
        self.smoothing_label.setText(f"{self._weight:.2f}")
        self._loss_smoother = Smoother(self._weight)
        self._acc_smoother = Smoother(self._weight)
        n = len(self._steps)
        if n:
            rows = self._steps.rows()
            # Feed the new smoothers the whole history so appends continue seamlessly.
            rows[:, self.S_SLOSS] = [self._loss_smoother.update(v) for v in rows[:, 1]]
            rows[:, self.S_SACC] = [self._acc_smoother.update(v) for v in rows[:, 2]]
            self._redraw_steps()
        if len(self._overlay):
            self._redraw_overlay()
        self.sigSettingsChanged.emit()

    @QtCore.Slot(bool)
    def _on_log_toggled(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self.lr_plot.setLogMode(y=on)
        self.sigSettingsChanged.emit()

    def _set_hover_hint(self) -> None:
        """The legend (a label: a pyqtgraph LegendItem would cost repaints) and a hint."""
        raw = "#{:02x}{:02x}{:02x}".format(*RAW[:3])
        old = ""
        if len(self._overlay) or len(self._overlay_epochs):
            old = f"<span style='color:{OLD}'>╌ loss, accuracy, lr ({self._overlay_label})</span>"
            if np.isfinite(self._overlay_epochs[:, self.E_VLOSS]).any():
                old += (f" &nbsp;<span style='color:{OLD}'>○ validation "
                        f"({self._overlay_label})</span>")
            old += " &nbsp;"
        self.hover.setText(
            f"<span style='color:{raw}'>━ batch</span> &nbsp;"
            f"<span style='color:{SMOOTH}'>━ smoothed</span> &nbsp;"
            f"<span style='color:{VAL}'>●━ validation (epoch end)</span> &nbsp;"
            f"<span style='color:{TEST}'>▼ test</span> &nbsp;"
            f"<span style='color:{LR}'>━ learning rate</span><br>"
            f"{old}<span style='color:gray'>Hover over the plots to read the values.</span>")

    def _on_mouse_moved(self, args) -> None:
        pos = args[0]
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            vb = plot.getViewBox()
            if vb.sceneBoundingRect().contains(pos):
                self.show_values_at(vb.mapSceneToView(pos).x())
                return
        self._leave()

    def _leave(self) -> None:
        for line in self.crosshairs:
            line.setVisible(False)
        self._set_hover_hint()

    def leaveEvent(self, event) -> None:
        self._leave()
        super().leaveEvent(event)

    def show_values_at(self, x: float) -> str:
        """Move the crosshair to step `x` and describe the values there (also returned)."""
        if not len(self._steps) and not len(self._epochs) and not len(self._overlay):
            return ""
        parts = []
        steps = self._steps.col(self.S_STEP)
        if len(steps):
            r = self._steps.rows()[_nearest(steps, x)]
            x = float(r[0])
            parts.append(f"<b>step {int(r[0])}</b>")
            parts.append(f"loss {r[1]:.4f} (<span style='color:{SMOOTH}'>smoothed "
                         f"{r[4]:.4f}</span>)")
            parts.append(f"accuracy {r[2]:.1f}% (<span style='color:{SMOOTH}'>{r[5]:.1f}%"
                         "</span>)")
            parts.append(f"<span style='color:{LR}'>lr {r[3]:.3g}</span>")
        e = self._epochs
        if len(e):
            done = np.nonzero(e.col(self.E_STEP) <= x)[0]
            if len(done):
                r = e.rows()[done[-1]]
                if math.isfinite(r[self.E_VLOSS]):
                    parts.append(f"<span style='color:{VAL}'>epoch {int(r[0]) + 1}: val loss "
                                 f"{r[4]:.4f}, val accuracy {100 * r[5]:.2f}%</span>")
        t = self._tests
        if len(t):
            done = np.nonzero(t.col(0) <= x)[0]
            if len(done):
                r = t.rows()[done[-1]]
                parts.append(f"<span style='color:{TEST}'>test {r[2]:.2f}% "
                             f"(step {int(r[0])})</span>")
        o = self._overlay
        if len(o) and o[0, 0] <= x <= o[-1, 0]:
            sloss = self._overlay_sloss[_nearest(o[:, 0], x)]
            parts.append(f"<span style='color:{OLD}'>{self._overlay_label}: smoothed loss "
                         f"{sloss:.4f}</span>")
        text = " · ".join(parts)
        self.hover.setText(text)
        for line in self.crosshairs:
            line.setPos(x)
            line.setVisible(True)
        return text

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(640, 480)


def _nearest(xs: np.ndarray, x: float) -> int:
    """The index of the value of sorted, non-empty `xs` (n,) nearest to x."""
    i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
    return i - 1 if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x) else i


def _nice_ceil(v: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k that is >= v."""
    k = 10 ** math.floor(math.log10(max(v, 1e-12)))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * k >= v:
            return m * k
    return 10 * k


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.6g}"
