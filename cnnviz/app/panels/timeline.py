"""Scrub through the recorded moments of the run, go back to live, or branch from a moment."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import ACCENT, BAR, GOOD

__all__ = ["TimelinePanel", "BRANCH_TIP"]

BRANCH_TIP = (
    "Go back to step {step}: restore the weights and optimizer state saved there and train\n"
    "on from it with the current hyperparameters (change them first to try another path).\n"
    "The new loss and accuracy curves are drawn over the old ones; snapshots after step\n"
    "{step} are dropped.")
LIVE_TIP = "Show the network as it trains now (leaves the recorded moment)"
SCRUB_HINT = ("Drag the slider or click a tick to see a recorded moment in the other panels: "
              "filters, activations and confusion matrix as they were then.")


class TimelinePanel(QtWidgets.QWidget):
    """The recorded moments of the run (see cnnviz.training.timeline) on a slider.

    Moving the slider (or clicking a tick on the strip above it) emits `sigScrub(step)`:
    the rest of the app shows that moment until "Live" is pressed, which emits `sigLive()`.
    "Branch from here" (only while a past moment is shown) emits `sigBranch(step)` and then
    returns to live view, emitting `sigLive()` after it: training goes on from that
    moment. `set_moments` updates the list (moments come and go as the timeline thins
    itself); it never emits. The recording settings (every how many steps, and the memory
    budget) emit `sigSettingsChanged(every, budget_mb)` when the user changes them.
    """

    sigScrub = Signal(int)
    sigLive = Signal()
    sigBranch = Signal(int)
    sigSettingsChanged = Signal(int, float)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._steps: list[int] = []
        self._memory = (0.0, 0.0)
        self._disk: float | None = None
        self._live = True
        self._selected: int | None = None  # step shown while scrubbing
        self._emitted = (200, 64.0)  # the recording settings last announced

        self.info = QtWidgets.QLabel("No snapshots yet: they are recorded while training.")
        self.info.setWordWrap(True)
        font = self.info.font()
        font.setBold(True)
        self.info.setFont(font)
        self.info.setToolTip("The moment shown, and the memory the recorded moments use "
                             "(older ones are thinned out to stay within the budget)")

        # a strip with one tick per moment, on a step axis
        self.strip = pg.PlotWidget()
        self.strip.setFixedHeight(58)
        p = self.strip.getPlotItem()
        p.hideAxis("left")
        p.setMouseEnabled(x=False, y=False)
        p.setMenuEnabled(False)
        p.hideButtons()
        p.setYRange(-1, 1, padding=0)
        p.getAxis("bottom").setHeight(22)
        p.layout.setContentsMargins(6, 2, 10, 0)
        self.ticks = pg.ScatterPlotItem(symbol="|", size=18, pen=None, brush=pg.mkBrush(BAR))
        self.marker = pg.ScatterPlotItem(symbol="t1", size=13, pen=None,
                                         brush=pg.mkBrush(ACCENT))
        p.addItem(self.ticks)
        p.addItem(self.marker)
        self.strip.setToolTip("One tick per recorded moment; click one to show it")

        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.setTickPosition(QtWidgets.QSlider.TickPosition.TicksBelow)
        self.slider.setPageStep(1)
        self.slider.setToolTip(SCRUB_HINT + "\n(arrow keys step through the moments)")

        self.live_button = QtWidgets.QPushButton("● Live")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.setToolTip(LIVE_TIP)
        self.branch_button = QtWidgets.QPushButton("Branch from here")
        self.branch_button.setEnabled(False)
        self.branch_button.setToolTip(BRANCH_TIP.format(step="N") +
                                      "\n(choose a past moment first)")
        self.every_spin = QtWidgets.QSpinBox()
        self.every_spin.setRange(1, 100000)
        self.every_spin.setSingleStep(50)
        self.every_spin.setValue(200)
        self.every_spin.setSuffix(" steps")
        self.every_spin.setToolTip("A snapshot (kernels, the chosen digit's activations, the "
                                   "confusion matrix of 1000 test digits, and a checkpoint on "
                                   "disk) is taken every this many training steps")
        self.budget_spin = QtWidgets.QSpinBox()
        self.budget_spin.setRange(1, 4096)
        self.budget_spin.setValue(64)
        self.budget_spin.setSuffix(" MB")
        self.budget_spin.setToolTip("Memory the snapshots may use; beyond it every second "
                                    "snapshot is dropped, so they stay spread over the run")
        buttons = QtWidgets.QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.live_button)
        buttons.addWidget(self.branch_button)
        buttons.addStretch(1)
        buttons.addWidget(QtWidgets.QLabel("Snapshot every"))
        buttons.addWidget(self.every_spin)
        buttons.addWidget(QtWidgets.QLabel("≤"))
        buttons.addWidget(self.budget_spin)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.info)
        layout.addWidget(self.strip)
        layout.addWidget(self.slider)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.slider.valueChanged.connect(self._on_slider)
        self.live_button.clicked.connect(self._on_live_clicked)
        self.branch_button.clicked.connect(self._on_branch)
        self.strip.scene().sigMouseClicked.connect(self._on_strip_clicked)
        self.every_spin.editingFinished.connect(self._on_settings)
        self.budget_spin.editingFinished.connect(self._on_settings)
        self._update()

    # -- public ---------------------------------------------------------------------------

    def set_moments(self, steps: list[int], memory_mb: float, budget_mb: float,
                    disk_mb: float | None = None) -> None:
        """The steps of the recorded moments, the memory they use of the budget and the size
        of their checkpoints on disk (MB; None: not shown).
        While scrubbing, the shown moment stays chosen (or the one before it, as
        Timeline.at picks, when it was thinned out)."""
        self._steps = sorted(int(s) for s in steps)
        self._memory = (float(memory_mb), float(budget_mb))
        self._disk = disk_mb
        if not self._steps:
            self._live, self._selected = True, None
        elif not self._live:
            self._selected = self._steps[self._index_at(self._selected)]
        self._update()

    def set_settings(self, every: int, budget_mb: float) -> None:
        """Show the recording settings (does not emit)."""
        for spin, value in ((self.every_spin, every), (self.budget_spin, budget_mb)):
            spin.blockSignals(True)
            spin.setValue(int(round(value)))
            spin.blockSignals(False)
        self._emitted = self.settings()

    def settings(self) -> tuple[int, float]:
        """(every how many steps a moment is recorded, memory budget in MB)."""
        return self.every_spin.value(), float(self.budget_spin.value())

    def steps(self) -> list[int]:
        return list(self._steps)

    def is_live(self) -> bool:
        return self._live

    def selected_step(self) -> int | None:
        """The moment shown while scrubbing; None in live view."""
        return None if self._live else self._selected

    def select_step(self, step: int) -> None:
        """Show the latest moment at or before `step` (as moving the slider there)."""
        if not self._steps:
            raise LookupError("no recorded moments yet")
        i = self._index_at(step)
        if self._live or self.slider.value() != i:
            self._scrub_to(i)

    def go_live(self) -> None:
        """Return to live view (as pressing Live): emits sigLive."""
        self.live_button.setChecked(True)
        self._on_live_clicked(True)

    def branch(self) -> None:
        """Press "Branch from here"."""
        if not self.branch_button.isEnabled():
            raise RuntimeError("choose a past moment first")
        self._on_branch()

    # -- drawing --------------------------------------------------------------------------

    def _index_at(self, step: int | None) -> int:
        """Index of the latest moment at or before `step` (the first when it precedes all)."""
        if step is None:
            return len(self._steps) - 1
        return max(int(np.searchsorted(self._steps, step, side="right")) - 1, 0)

    def _update(self):
        n = len(self._steps)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.setEnabled(n > 0)
        self.slider.setTickInterval(max(1, n // 20))
        if n:
            self.slider.setValue(n - 1 if self._live else self._index_at(self._selected))
        self.slider.blockSignals(False)
        self.live_button.blockSignals(True)
        self.live_button.setChecked(self._live)
        self.live_button.setText("● Live" if self._live else "Back to live")
        self.live_button.blockSignals(False)
        past = not self._live and self._selected is not None
        self.branch_button.setEnabled(past)
        if past:
            self.branch_button.setToolTip(BRANCH_TIP.format(step=self._selected))
        mem, budget = self._memory
        if not n:
            self.info.setText("No snapshots yet: they are recorded while training. Then drag "
                              "the slider to see the network as it was.")
        else:
            where = (f"live (newest snapshot: step {self._steps[-1]})" if self._live
                     else f"step {self._selected} of {self._steps[-1]}")
            disk = "" if self._disk is None else f", {self._disk:.0f} MB on disk"
            self.info.setText(f"{where} | {n} snapshot"
                              f"{'s' if n != 1 else ''}, {mem:.1f} of {budget:.0f} MB{disk}")
        self._draw_strip()

    def _draw_strip(self):
        steps = np.asarray(self._steps, np.float64)
        self.ticks.setData(steps, np.zeros_like(steps))
        self.strip.getPlotItem().getAxis("bottom").setStyle(showValues=len(steps) > 0)
        if not len(steps):
            self.marker.setData([], [])
            return
        shown = steps[-1] if self._live else float(self._selected)
        self.marker.setData([shown], [0.55])
        self.marker.setBrush(pg.mkBrush(GOOD if self._live else ACCENT))
        lo, hi = float(steps[0]), float(steps[-1])
        pad = max((hi - lo) * 0.03, 1.0)
        self.strip.getPlotItem().setXRange(lo - pad, hi + pad, padding=0)

    # -- events ---------------------------------------------------------------------------

    def _scrub_to(self, i: int):
        self._live = False
        self._selected = self._steps[i]
        self._update()
        self.sigScrub.emit(self._selected)

    def _on_slider(self, value: int):
        if self._steps:
            self._scrub_to(int(value))

    def _on_live_clicked(self, checked: bool):
        if checked or not self._steps:
            self._live, self._selected = True, None
            self._update()
            self.sigLive.emit()
        else:  # leaving live view: start at the newest moment
            self._scrub_to(len(self._steps) - 1)

    def _on_branch(self):
        step = self._selected
        self.sigBranch.emit(step)
        self._live, self._selected = True, None
        self._update()
        self.sigLive.emit()

    def _on_settings(self):
        if self.settings() != self._emitted:
            self._emitted = self.settings()
            self.sigSettingsChanged.emit(*self._emitted)

    def _on_strip_clicked(self, ev):
        if ev.button() != QtCore.Qt.MouseButton.LeftButton or not self._steps:
            return
        vb = self.strip.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        x = vb.mapSceneToView(ev.scenePos()).x()
        i = int(np.argmin(np.abs(np.asarray(self._steps) - x)))
        self._scrub_to(i)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, 170)
