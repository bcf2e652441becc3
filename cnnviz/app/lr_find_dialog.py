"""The learning-rate range test's window: the loss against the learning rate (log axis), raw
and smoothed, the suggested rate marked, and a button that puts it in the Controls panel.

It shows an LRFind (training/lr_find.py) that the training thread measured on a copy of the
run; it is not modal, so training and the other panels go on being drawn behind it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from cnnviz.app.panels.colormaps import ACCENT, BAR
from cnnviz.training.lr_find import METHODS, LRFind

__all__ = ["LrFindDialog", "format_lr", "usable_lr"]

RAW_PEN = (170, 174, 180, 90)  # the batch losses: faint
NOTE_STYLE = "color: #ff9f1c;"


def usable_lr(lr: float, lo: float = 1e-6, hi: float = 10.0, decimals: int = 6) -> float:
    """`lr` as the learning-rate field can hold it: two significant digits (the test is not
    more precise than that), within [lo, hi], rounded to the field's decimals."""
    two = float(f"{lr:.2g}")
    return round(min(max(two, lo), hi), decimals)


def format_lr(lr: float, decimals: int = 6) -> str:
    """0.0012 rather than 1.2e-03: as the learning-rate field shows it, without its trailing
    zeros."""
    return f"{lr:.{decimals}f}".rstrip("0").rstrip(".") or "0"


class LrFindDialog(QtWidgets.QDialog):
    """Shows `result`. context: a sentence on what was tested (the run's step, optimizer...).
    lr_range, decimals: what the learning-rate field takes (for the value "Use" offers).
    sigUse(lr) when the user takes the suggestion; the dialog then closes."""

    sigUse = QtCore.Signal(float)

    def __init__(self, result: LRFind, context: str = "", lr_range=(1e-6, 10.0),
                 decimals: int = 6, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.result = result
        self.setWindowTitle("Learning-rate range test")
        self.setModal(False)
        lrs, losses, smoothed = result.lrs, result.losses, result.smoothed
        suggestion = result.suggestion
        self.value = usable_lr(suggestion, *lr_range, decimals)
        self.value_text = format_lr(self.value, decimals)

        self.context = QtWidgets.QLabel(context)
        self.context.setWordWrap(True)

        self.plot_widget = pg.PlotWidget()
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setLogMode(x=True, y=False)
        plot.setLabel("bottom", "learning rate")
        plot.setLabel("left", "loss")
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.showGrid(x=True, y=True, alpha=0.15)
        legend = plot.addLegend(offset=(10, -10))  # bottom left: high loss is on the left
        self.raw_curve = plot.plot(lrs, losses, pen=pg.mkPen(RAW_PEN, width=1),
                                   name="batch loss")
        self.smooth_curve = plot.plot(lrs, smoothed, pen=pg.mkPen(BAR, width=3),
                                      name="smoothed")
        legend.setLabelTextColor((222, 224, 228))
        legend.setBrush(pg.mkBrush(0, 0, 0, 170))

        method = METHODS.get(result.method, result.method)
        shown = format_lr(float(f"{suggestion:.2g}"), 12) if math.isfinite(suggestion) else "none"
        self.line = self.point = None
        if math.isfinite(suggestion) and suggestion > 0:
            x = math.log10(suggestion)  # an InfiniteLine lives in the view's (log) coordinates
            self.line = pg.InfiniteLine(
                x, angle=90, movable=False,
                pen=pg.mkPen(ACCENT, width=2, style=QtCore.Qt.PenStyle.DashLine),
                label=f"suggested {shown}",
                labelOpts={"position": 0.93, "color": ACCENT, "fill": (0, 0, 0, 170),
                           "anchors": [(-0.05, 0.5), (-0.05, 0.5)]})
            plot.addItem(self.line)
            if lrs[0] <= suggestion <= lrs[-1]:
                y = float(np.interp(x, np.log10(lrs), smoothed))
                self.point = plot.plot([suggestion], [y], pen=None, symbol="o", symbolSize=9,
                                       symbolBrush=ACCENT, symbolPen=pg.mkPen("k"))
        self._set_range(lrs, losses, smoothed, suggestion)

        self.summary = QtWidgets.QLabel(f"Suggested learning rate: <b>{shown}</b> ({method})")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QtWidgets.QLabel(self._note())
        self.note.setWordWrap(True)
        self.note.setStyleSheet(NOTE_STYLE)
        self.note.setVisible(bool(self.note.text()))

        buttons = QtWidgets.QDialogButtonBox()
        self.use = buttons.addButton(f"Use {self.value_text}",
                                     QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.use.setToolTip(f"Put {self.value_text} in the Controls panel's learning-rate "
                            "field: the run applies it at its next step")
        self.use.setEnabled(self.line is not None)
        self.use.setDefault(True)
        self.close_button = buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.use.clicked.connect(self._on_use)
        self.close_button.clicked.connect(self.reject)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.context)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.resize(640, 520)

    def _note(self) -> str:
        r, k = self.result, len(self.result.lrs)
        notes = []
        if r.stopped_early:
            notes.append(f"The loss blew up, so the test stopped early: after {k} steps, at a "
                         f"rate of {r.lrs[-1]:.2g}.")
        if int(np.argmin(r.smoothed)) < k // 10:
            notes.append("The loss was lowest after only a few steps, so the suggestion is a "
                         "rough one.")
        return " ".join(notes)

    def _set_range(self, lrs, losses, smoothed, suggestion) -> None:
        """The whole rate range and the suggestion; the losses from the lowest up to a little
        above the highest before the smoothed minimum (usually the first), so that a blow-up
        at the end does not flatten the fall. Zooming out (right click, View All) shows it."""
        xs = [float(lrs[0]), float(lrs[-1])]
        if math.isfinite(suggestion) and suggestion > 0:
            xs.append(suggestion)
        self.plot.setXRange(math.log10(min(xs)), math.log10(max(xs)), padding=0.03)
        lo = float(min(losses.min(), smoothed.min()))
        top = float(smoothed[: int(np.argmin(smoothed)) + 1].max())  # before the minimum
        hi = min(float(max(smoothed.max(), np.quantile(losses, 0.9))), top + 0.6 * (top - lo))
        if not hi > lo:
            hi = lo + 1.0
        self.plot.setYRange(lo, hi, padding=0.06)

    @QtCore.Slot()
    def _on_use(self) -> None:
        self.sigUse.emit(self.value)
        self.accept()
