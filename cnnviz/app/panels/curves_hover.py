"""Hovering over the training curves: crosshairs on every plot and a text line above them
with a legend of what is drawn, or the values of every curve at the hovered step."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from cnnviz.training.history import History, Table

RAW = (120, 160, 220, 90)  # faint blue: raw batch values
SMOOTH = "#ff9f1c"  # orange: smoothed batch values (the panels' accent colour)
VAL = "#4caf50"  # green: validation per epoch
TEST = "#4dd0e1"  # cyan: test evaluations
LR = "#d4a5ff"  # violet: learning rate
OLD = "#b0b0b0"  # grey, dashed: an earlier run drawn under the current one


def legend(overlay: History, label: str) -> str:
    """The legend (a label: a pyqtgraph LegendItem would cost repaints) and a hint; the
    earlier run `overlay`, named `label`, is listed when it has rows."""
    raw = "#{:02x}{:02x}{:02x}".format(*RAW[:3])
    old = ""
    if len(overlay.steps) or len(overlay.epochs):
        old = f"<span style='color:{OLD}'>╌ loss, accuracy, lr ({label})</span>"
        if np.isfinite(overlay.epochs["val_loss"]).any():
            old += f" &nbsp;<span style='color:{OLD}'>○ validation ({label})</span>"
        old += " &nbsp;"
    return (f"<span style='color:{raw}'>━ batch</span> &nbsp;"
            f"<span style='color:{SMOOTH}'>━ smoothed</span> &nbsp;"
            f"<span style='color:{VAL}'>●━ validation (epoch end)</span> &nbsp;"
            f"<span style='color:{TEST}'>▼ test</span> &nbsp;"
            f"<span style='color:{LR}'>━ learning rate</span><br>"
            f"{old}<span style='color:gray'>Hover over the plots to read the values.</span>")


def values_at(x: float, history: History, smoothed: Table, overlay: History,
              overlay_sloss: np.ndarray, label: str) -> tuple[float, str]:
    """(step, text): the step row of `history` nearest to step `x` (x itself when there are
    no step rows) and the values there, with `smoothed` (columns "loss", "accuracy", a row
    per step row), the last epoch end and test evaluation at or before it, and the smoothed
    loss `overlay_sloss` (one per overlay step row) of `overlay` within its steps."""
    parts = []
    steps = history.steps
    if len(steps):
        i = _nearest(steps["step"], x)
        x = float(steps["step"][i])
        parts.append(f"<b>step {int(x)}</b>")
        parts.append(f"loss {steps['loss'][i]:.4f} (<span style='color:{SMOOTH}'>smoothed "
                     f"{smoothed['loss'][i]:.4f}</span>)")
        parts.append(f"accuracy {100 * steps['accuracy'][i]:.1f}% (<span "
                     f"style='color:{SMOOTH}'>{100 * smoothed['accuracy'][i]:.1f}%</span>)")
        parts.append(f"<span style='color:{LR}'>lr {steps['lr'][i]:.3g}</span>")
    e = history.epochs
    j = _last_at(e["step"], x)
    if j >= 0 and math.isfinite(e["val_loss"][j]):
        parts.append(f"<span style='color:{VAL}'>epoch {int(e['epoch'][j]) + 1}: val loss "
                     f"{e['val_loss'][j]:.4f}, val accuracy {100 * e['val_accuracy'][j]:.2f}%"
                     "</span>")
    t = history.tests
    j = _last_at(t["step"], x)
    if j >= 0:
        parts.append(f"<span style='color:{TEST}'>test {100 * t['accuracy'][j]:.2f}% "
                     f"(step {int(t['step'][j])})</span>")
    o = overlay.steps["step"]
    if len(o) and o[0] <= x <= o[-1]:
        parts.append(f"<span style='color:{OLD}'>{label}: smoothed loss "
                     f"{overlay_sloss[_nearest(o, x)]:.4f}</span>")
    return x, " · ".join(parts)


class Readout(QtCore.QObject):
    """Crosshairs on `plots` and a text line `label` showing `legend()` (rich text) or, while
    the mouse is over a plot, `values(x)` at the step x under it: (step to put the
    crosshairs at, rich text), or None when there is nothing to describe."""

    def __init__(self, plots, legend, values, parent: QtCore.QObject):
        super().__init__(parent)
        self._plots, self._legend, self._values = plots, legend, values
        self.label = QtWidgets.QLabel()
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setFixedHeight(2 * self.label.fontMetrics().lineSpacing() + 4)
        self.label.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft
                                | QtCore.Qt.AlignmentFlag.AlignTop)
        self.crosshairs = [vline(plot, pg.mkPen(200, 200, 200, 120), 10) for plot in plots]
        self._proxy = pg.SignalProxy(plots[0].scene().sigMouseMoved, rateLimit=30,
                                     slot=self._on_mouse_moved)
        self.show_legend()

    def show_legend(self) -> None:
        for line in self.crosshairs:
            line.setVisible(False)
        self.label.setText(self._legend())

    def show_values_at(self, x: float) -> str:
        """Move the crosshairs to step `x` and describe the values there (also returned)."""
        found = self._values(x)
        if found is None:
            return ""
        x, text = found
        self.label.setText(text)
        for line in self.crosshairs:
            line.setPos(x)
            line.setVisible(True)
        return text

    def _on_mouse_moved(self, args) -> None:
        for plot in self._plots:
            vb = plot.getViewBox()
            if vb.sceneBoundingRect().contains(args[0]):
                self.show_values_at(vb.mapSceneToView(args[0]).x())
                return
        self.show_legend()


def vline(plot, pen, z: float, **kwargs) -> pg.InfiniteLine:
    """A hidden vertical line on `plot` at z-order `z` that does not widen the plot's range."""
    line = pg.InfiniteLine(angle=90, movable=False, pen=pen, **kwargs)
    line.setVisible(False)
    line.setZValue(z)
    plot.addItem(line, ignoreBounds=True)
    return line


def _nearest(xs: np.ndarray, x: float) -> int:
    """The index of the value of sorted, non-empty `xs` (n,) nearest to x."""
    i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
    return i - 1 if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x) else i


def _last_at(steps: np.ndarray, x: float) -> int:
    """The index of the last of `steps` (n,) at or before x, in the order they came; -1 when
    there is none."""
    done = np.flatnonzero(steps <= x)
    return int(done[-1]) if len(done) else -1
