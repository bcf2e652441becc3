"""The step debugger: per-layer health of the latest training steps, with a diagnosis."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from cnnviz.app.panels.colormaps import BAD, BAR
from cnnviz.app.widgets.coalescer import Coalescer
from cnnviz.training.events import LayerStats
from cnnviz.training.inspect import explain_layer

__all__ = ["DebuggerPanel", "HISTORY", "COLUMNS"]

HISTORY = 200  # updates kept per layer for the sparklines
REDRAW_MS = 200  # at most 5 redraws a second, whatever the step rate
HEALTHY_RATIO = 1e-3
RATIO_RANGE = (-5.0, -1.0)  # log10 range of the ratio sparklines (values beyond are clipped)
SPARK_WIDTH, ROW_HEIGHT = 60, 28
NAME, GRAD, RATIO, DEAD, FWD, BWD, SPARK = range(7)
COLUMNS = ("layer", "|grad|", "ΔW/W", "dead", "fwd ms", "bwd ms", "last steps")
HEADER_TIPS = (
    "Layers with weights, and ReLUs. ⚠ marks a layer that looks unhealthy (hover it)",
    "Norm of the weight gradient |dW| in the last step",
    "Update/weight ratio |W after - W before| / |W before| in the last step: about 1e-3\n"
    "is healthy; above 1e-2 the learning rate is probably too high, below 1e-4 too low",
    "Share of the ReLU's units that output zero for every sample of the batch (dead units)",
    "Time of the layer's forward pass in the last step, milliseconds",
    "Time of the layer's backward pass in the last step, milliseconds",
    "History over the last 200 steps: update/weight on a log scale (dashed: 1e-3) for\n"
    "layers with weights, the dead share (0 to 1, dashed: 50%) for ReLUs",
)
HEALTHY_TEXT = ("All layers look healthy: updates near 1e-3 of the weights, few dead units. "
                "Hover a row for details.")
MAX_STATUS_LINES = 3


def _fmt(value: float, kind: str) -> str:
    if not math.isfinite(value):
        return "–"
    if kind == "ratio":
        return f"{value:.1e}"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "ms":
        return f"{value:.1f}" if value >= 1 else f"{value:.2f}"
    return f"{value:.3g}"


def _is_relu(name: str) -> bool:
    return "relu" in name.split(".", 1)[-1].lower()


class _Sparkline(pg.PlotWidget):
    """A tiny history plot for one table cell: no axes, no mouse, transparent background."""

    def __init__(self, log_ratio: bool):
        super().__init__(background=None)
        self.setFixedHeight(ROW_HEIGHT - 2)
        self.setMinimumWidth(SPARK_WIDTH)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        p = self.getPlotItem()
        p.hideAxis("left")
        p.hideAxis("bottom")
        p.setMouseEnabled(x=False, y=False)
        p.setMenuEnabled(False)
        p.hideButtons()
        p.layout.setContentsMargins(0, 1, 0, 1)
        ref = math.log10(HEALTHY_RATIO) if log_ratio else 0.5
        dashed = pg.mkPen("#888888", style=QtCore.Qt.PenStyle.DashLine)
        p.addItem(pg.InfiniteLine(ref, angle=0, pen=dashed))
        self.curve = pg.PlotCurveItem(pen=pg.mkPen(BAR, width=1.5))
        p.addItem(self.curve)
        p.disableAutoRange()  # fixed y; x set with the data (auto-range costs a lot per paint)
        p.setYRange(*(RATIO_RANGE if log_ratio else (0.0, 1.0)), padding=0.08)

    def set_values(self, x: np.ndarray, y: np.ndarray) -> None:
        self.curve.setData(x, y)
        lo, hi = float(x[0]), float(x[-1])
        self.setXRange(lo, hi if hi > lo else lo + 1, padding=0.02)


class DebuggerPanel(QtWidgets.QWidget):
    """Per-layer health while training: one row per layer with weights or ReLU, showing the
    gradient norm, the update/weight ratio (healthy near 1e-3), the share of dead ReLU
    units and the forward/backward time of the last step, with a sparkline of the last
    200 steps. Unhealthy rows are tinted red and explained (tooltip and status line) by
    `explain_layer`. Feed it LayerStats with `set_stats`; it redraws at most 5 times a
    second.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._ev: LayerStats | None = None
        self._names: tuple = ()
        self._rows: list[int] = []  # layer index of each table row
        self._history: dict[str, deque] = {}
        self._steps: deque = deque(maxlen=HISTORY)
        self._flagged: dict[str, str] = {}
        self._sparks: list[_Sparkline] = []
        self._bad = QtGui.QColor(BAD)
        self._bad.setAlpha(70)

        self.title = QtWidgets.QLabel("No layer statistics yet: train a few steps.")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setToolTip("The step shown and the time of the whole forward/backward pass")

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for c, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(SPARK, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)

        self.status = QtWidgets.QLabel("Layer health appears here while training runs.")
        self.status.setWordWrap(True)
        self.status.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.status.setToolTip("Diagnosis of the layers that look unhealthy")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self._coalesce = Coalescer(self._redraw, REDRAW_MS, self)

    # -- public ---------------------------------------------------------------------------

    def set_stats(self, ev: LayerStats) -> None:
        """Record one step's LayerStats; the table redraws at most every REDRAW_MS ms."""
        if tuple(ev.names) != self._names or (self._steps and ev.step <= self._steps[-1]):
            self._reset(ev)  # another network, or the run went back (reset, branch)
        self._ev = ev
        self._steps.append(int(ev.step))
        for i in self._rows:
            name = self._names[i]
            value = ev.dead_fraction[i] if _is_relu(name) else ev.update_ratio[i]
            self._history[name].append(float(value))
        self._coalesce.request()

    def flagged(self) -> dict[str, str]:
        """Layer name -> one-line explanation, for the layers that look unhealthy now."""
        self._coalesce.flush()
        return dict(self._flagged)

    def rows(self) -> list[str]:
        """The layer names in the table, top to bottom."""
        return [self._names[i] for i in self._rows]

    def history(self, name: str) -> list[float]:
        """The values behind a row's sparkline (at most HISTORY)."""
        return list(self._history[name])

    def cell_text(self, name: str, column: int) -> str:
        self._coalesce.flush()
        return self.table.item(self.rows().index(name), column).text()

    # -- drawing --------------------------------------------------------------------------

    def _reset(self, ev: LayerStats):
        """Start afresh: rows for the layers with weights (a finite gradient norm or update
        ratio) and the ReLUs, in network order; empty histories."""
        names = self._names = tuple(ev.names)
        self._steps.clear()
        self._flagged = {}
        self._rows = [i for i, n in enumerate(names) if _is_relu(n)
                      or math.isfinite(ev.update_ratio[i]) or math.isfinite(ev.grad_norm[i])]
        self._history = {names[i]: deque(maxlen=HISTORY) for i in self._rows}
        self.table.setRowCount(0)  # drops the old cell widgets too
        self.table.setRowCount(len(self._rows))
        self._sparks = []
        for r, i in enumerate(self._rows):
            for c in range(SPARK):
                item = QtWidgets.QTableWidgetItem()
                item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignVCenter | (
                    QtCore.Qt.AlignmentFlag.AlignLeft if c == NAME
                    else QtCore.Qt.AlignmentFlag.AlignRight))
                self.table.setItem(r, c, item)
            self.table.item(r, NAME).setText(names[i])
            spark = _Sparkline(log_ratio=not _is_relu(names[i]))
            self.table.setCellWidget(r, SPARK, spark)
            self._sparks.append(spark)
            self._set_row_tip(r, f"{names[i]}: looks healthy")

    def _redraw(self):
        ev = self._ev
        if ev is None:
            return
        steps = np.asarray(self._steps, np.float64)
        flagged = {}
        for r, i in enumerate(self._rows):
            name = self._names[i]
            relu = _is_relu(name)
            ratio, dead = float(ev.update_ratio[i]), float(ev.dead_fraction[i])
            texts = {GRAD: _fmt(float(ev.grad_norm[i]), "num"), RATIO: _fmt(ratio, "ratio"),
                     DEAD: _fmt(dead, "share"), FWD: _fmt(float(ev.forward_ms[i]), "ms"),
                     BWD: _fmt(float(ev.backward_ms[i]), "ms")}
            why = explain_layer(math.nan if relu else ratio, dead if relu else math.nan)
            if why:
                flagged[name] = why
            for c, text in texts.items():
                self.table.item(r, c).setText(text)
            self._style_row(r, name, why)
            values = np.asarray(self._history[name], np.float64)
            x = steps[-len(values):]
            ok = np.isfinite(values) & ((values > 0) | relu)
            y = values[ok] if relu else np.clip(np.log10(values[ok]), RATIO_RANGE[0] - 0.3,
                                                RATIO_RANGE[1] + 0.3)
            if y.size:
                self._sparks[r].set_values(x[ok], y)
        self._flagged = flagged
        fwd, bwd = np.nansum(ev.forward_ms), np.nansum(ev.backward_ms)
        self.title.setText(f"step {ev.step} · forward {fwd:.1f} ms, backward {bwd:.1f} ms "
                           f"over all {len(self._names)} layers")
        self._draw_status()

    def _style_row(self, r: int, name: str, why: str | None):
        name_item = self.table.item(r, NAME)
        want = f"⚠ {name}" if why else name
        if name_item.text() == want:
            return  # unchanged state: nothing to restyle
        name_item.setText(want)
        brush = QtGui.QBrush(self._bad) if why else QtGui.QBrush()
        for c in range(SPARK):
            self.table.item(r, c).setBackground(brush)
        self._set_row_tip(r, f"{name}: {why or 'looks healthy'}")

    def _set_row_tip(self, r: int, tip: str):
        for c in range(SPARK):
            self.table.item(r, c).setToolTip(tip)
        self._sparks[r].setToolTip(tip)

    def _draw_status(self):
        if not self._flagged:
            self.status.setText(HEALTHY_TEXT)
            return
        items = list(self._flagged.items())
        lines = [f"<span style='color:{BAD}'>⚠ <b>{n}</b></span>: {w}"
                 for n, w in items[:MAX_STATUS_LINES]]
        if len(items) > MAX_STATUS_LINES:
            lines.append(f"… and {len(items) - MAX_STATUS_LINES} more (hover the red rows)")
        self.status.setText("<br>".join(lines))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(600, 360)
