"""A bar chart of a network's class probabilities for one digit."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from cnnviz.app.panels.colormaps import ACCENT, BAD, BAR, GOOD

__all__ = ["ProbabilityBars", "axis_names"]


def axis_names(names) -> list[str]:
    """Tick labels for ten bars: the names when they are short (digits), else numbers."""
    names = [str(n) for n in names]
    return names if all(len(n) <= 3 for n in names) else [str(i) for i in range(len(names))]


class ProbabilityBars(pg.PlotItem):
    """One bar per class on a 0..1 axis: the top class in orange, the true class outlined in
    green; the title names the prediction and the true label (green when they agree)."""

    def __init__(self):
        super().__init__()
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setYRange(0, 1.0, padding=0.02)
        self.getAxis("left").setTicks([[(0, "0"), (0.5, ".5"), (1, "1")], []])
        self.getAxis("left").setWidth(22)
        self.getAxis("bottom").setStyle(tickLength=0)
        self.setTitle("probabilities", size="9pt")
        self.bars = pg.BarGraphItem(x=np.arange(1), height=np.zeros(1), width=0.7, brush=BAR)
        self.addItem(self.bars)
        self._names: list[str] = []

    def set_probs(self, probs: np.ndarray, names: list[str], label: int | None) -> None:
        """probs: (K,) probabilities; names: (K,) class names; label: the true class, if known."""
        probs = np.asarray(probs, np.float64).ravel()
        k = probs.size
        if names != self._names:
            self._names = list(names)
            self.getAxis("bottom").setTicks([list(enumerate(axis_names(names))), []])
            self.setXRange(-0.6, k - 0.4, padding=0)
        top = int(probs.argmax()) if k else 0
        brushes = [pg.mkBrush(ACCENT if i == top else BAR) for i in range(k)]
        pens = [pg.mkPen(GOOD, width=3) if i == label else pg.mkPen(None) for i in range(k)]
        self.bars.setOpts(x=np.arange(k), height=probs, width=0.7, brushes=brushes, pens=pens)
        title = f"<span style='color:{ACCENT}'>pred {names[top]} {probs[top]:.0%}</span>"
        if label is not None:
            colour = GOOD if label == top else BAD
            title += f" · <span style='color:{colour}'>true {names[label]}</span>"
        self.setTitle(title, size="9pt")
