"""The attack lab: the smallest change of the chosen digit's pixels that makes the network call
it another class, and how often that works over many test digits."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import BAD, BAR, GOOD, diverging, greys
from cnnviz.app.widgets.forms import control_row, panel_column, title_label
from cnnviz.app.widgets.images import fit_view, image_item, image_view, input_pixels, is_colour
from cnnviz.app.widgets.probabilities import ProbabilityBars
from cnnviz.training.attack import EPS_MAX
from cnnviz.training.driver_views import ATTACK_DIGITS
from cnnviz.training.events import AttackResult, AttackSummary

__all__ = ["AttackPanel"]

BIN = 0.02  # width of the histogram's bins of attack sizes (pixel units)

#: (key, title, tooltip) of the three pictures, left to right.
VIEWS = (
    ("digit", "the digit", "The chosen digit as the network sees it"),
    ("delta", "the change (amplified)",
     "What the attack added to each pixel, on a blue-white-red scale from minus to plus\n"
     "its largest change: a change of 0.1 of the pixel range looks as strong as one of 1"),
    ("perturbed", "the digit + the change", "What the network was shown instead"),
)


class AttackPanel(QtWidgets.QWidget):
    """A targeted attack on the chosen digit: the digit, the change (on a diverging scale
    centred on 0), the changed digit, the class probabilities before and after, and the
    change's L-infinity size; "Attack all" attacks the first ATTACK_DIGITS test digits of
    other classes and shows the success rate, the median size and a histogram of sizes.

    Choosing a target or pressing Attack emits `sigRequest(target)`, Attack all
    `sigAttackAll(target)`; the owner answers with `set_attack` / `set_summary`.
    """

    sigRequest = Signal(int)
    sigAttackAll = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self._ev: AttackResult | None = None
        self.target_combo = QtWidgets.QComboBox()
        self.target_combo.setToolTip("The class the attack tries to make the network say")
        self.attack_button = QtWidgets.QPushButton("Attack")
        self.attack_button.setToolTip("Attack the chosen digit again with the current weights")
        self.all_button = QtWidgets.QPushButton(f"Attack all ({ATTACK_DIGITS})")
        self.all_button.setToolTip(
            f"Attack the first {ATTACK_DIGITS} test digits of other classes toward the target:\n"
            "how often it works within the budget, and how large the change has to be")
        controls = control_row(("Target", self.target_combo), self.attack_button,
                               self.all_button, None)
        self.title = title_label(
            "No attack yet: choose a target class.",
            "Targeted attack: signed-gradient steps on the pixels inside an L-infinity ball\n"
            "that grows until the network says the target (at most 0.3 of the pixel range)")

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(120)
        self.plots: dict[str, pg.PlotItem] = {}
        self.images: dict[str, pg.ImageItem] = {}
        for col, (key, title, tip) in enumerate(VIEWS):
            plot = image_view(title)
            item = image_item(diverging() if key == "delta" else greys())
            plot.addItem(item)
            plot.setToolTip(tip)
            self.graphics.ci.addItem(plot, 0, col)
            self.plots[key], self.images[key] = plot, item
        self.before, self.after = ProbabilityBars(), ProbabilityBars()
        self.graphics.ci.addItem(self.before, 1, 0)
        self.graphics.ci.addItem(self.after, 1, 1)
        self.sizes = pg.PlotItem()
        self.sizes.setMouseEnabled(x=False, y=False)
        self.sizes.setMenuEnabled(False)
        self.sizes.hideButtons()
        self.sizes.setTitle("sizes (attack all)", size="9pt")
        self.sizes.getAxis("left").setWidth(26)
        self.sizes.setToolTip("How many digits needed a change of each L-infinity size\n"
                              "(failed attacks in red at the right)")
        self.size_bars = pg.BarGraphItem(x=[0], height=[0], width=BIN * 0.85, brush=BAR)
        self.sizes.addItem(self.size_bars)
        self.sizes.setXRange(0, EPS_MAX + 2 * BIN, padding=0)  # empty until Attack all
        self.sizes.setYRange(0, 1, padding=0.05)
        self.graphics.ci.addItem(self.sizes, 1, 2)
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)  # the pictures get the most room
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        self.summary = QtWidgets.QLabel(f"Attack all: not run yet ({ATTACK_DIGITS} digits).")
        self.summary.setWordWrap(True)
        panel_column(self, controls, self.title, self.graphics, self.summary,
                     grow=self.graphics)
        self.target_combo.activated.connect(lambda _i: self.attack())
        self.attack_button.clicked.connect(self.attack)
        self.all_button.clicked.connect(self.attack_all)

    # -- public ---------------------------------------------------------------------------

    def set_class_names(self, names) -> None:
        """The classes to target; keeps the chosen one when it is still there."""
        names = tuple(str(n) for n in names)
        if names == self._names:
            return
        self._names, keep = names, self.target_combo.currentIndex()
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        self.target_combo.addItems(list(names))
        self.target_combo.setCurrentIndex(keep if 0 <= keep < len(names) else 0)
        self.target_combo.blockSignals(False)

    def target(self) -> int:
        return max(self.target_combo.currentIndex(), 0)

    def choose_target(self, target: int) -> None:
        """Choose a target as the user would (emits sigRequest)."""
        if not 0 <= target < self.target_combo.count():
            raise IndexError(f"no class {target}; have {self.target_combo.count()}")
        self.target_combo.setCurrentIndex(target)
        self.attack()

    def attack(self) -> None:
        self.sigRequest.emit(self.target())

    def attack_all(self) -> None:
        self.all_button.setEnabled(False)
        self.summary.setText(f"Attacking {ATTACK_DIGITS} test digits toward "
                             f"{self._name(self.target())}…")
        self.sigAttackAll.emit(self.target())

    def failed(self, message: str = "") -> None:
        """A request ended without a result."""
        if not self.all_button.isEnabled():
            self.all_button.setEnabled(True)
            self.summary.setText(f"Attack all failed: {message}" if message else "")

    def set_attack(self, ev: AttackResult, norm=None) -> None:
        """Show `ev`; norm: the session's (mean, std) (None: MNIST's)."""
        self._ev = ev
        digit = input_pixels(ev.image, norm)
        changed = np.clip(digit + ev.delta, 0, 1)
        m = max(float(np.abs(ev.delta).max()), 1e-6)
        shown = {"digit": (digit, (0, 1)), "perturbed": (changed, (0, 1))}
        shown["delta"] = ((0.5 + ev.delta / (2 * m)).clip(0, 1), (0, 1)) if is_colour(
            ev.delta) else (ev.delta, (-m, m))
        h, w = digit.shape[:2]
        for key, (image, levels) in shown.items():
            self.images[key].setImage(image, autoLevels=False, levels=levels)
            fit_view(self.plots[key], w, h)
        self.plots["delta"].setTitle(f"the change (±{m:.2g} shown full strength)", size="9pt")
        names = [self._name(i) for i in range(len(ev.probs_before))]
        self.before.set_probs(ev.probs_before, names, ev.label)
        self.after.set_probs(ev.probs_after, names, ev.label)
        self.before.setTitle(f"before: {self.before.titleLabel.text}", size="9pt")
        self.after.setTitle(f"after: {self.after.titleLabel.text}", size="9pt")
        was = int(np.argmax(ev.probs_before))
        colour = GOOD if ev.success else BAD
        what = "now says" if ev.success else "still says"
        self.title.setText(
            f"{self._name(was)} → target {self._name(ev.target)}: "
            f"<span style='color:{colour}'>{what} {self._name(ev.predicted)} "
            f"({float(ev.probs_after[ev.predicted]):.0%})</span> with no pixel changed by "
            f"more than {ev.linf:.3f} <span style='font-weight:normal'>· step {ev.step}</span>")

    def set_summary(self, ev: AttackSummary) -> None:
        """Show the result of Attack all."""
        self.all_button.setEnabled(True)
        n, won = len(ev.success), int(ev.success.sum())
        median = "-" if not won else f"{ev.median_linf:.3f}"
        self.summary.setText(
            f"Attack all → {self._name(ev.target)}: {won} of {n} digits ({ev.success_rate:.0%})"
            f" within {ev.eps_max:g}, median size {median} · step {ev.step}, {ev.seconds:.1f} s")
        self.summary.setToolTip(f"{won} of the first {n} test digits of other classes were "
                                f"called {self._name(ev.target)} after a change of at most "
                                f"{ev.eps_max:g} of the pixel range; the median is over them")
        edges = np.arange(0, ev.eps_max + BIN, BIN)
        counts = np.histogram(ev.linf[ev.success], bins=edges)[0]
        x = np.append(edges[:-1] + BIN / 2, ev.eps_max + BIN)
        heights = np.append(counts, n - won)
        brushes = [pg.mkBrush(BAR)] * len(counts) + [pg.mkBrush(BAD)]
        self.size_bars.setOpts(x=x, height=heights, width=BIN * 0.85, brushes=brushes)
        self.sizes.setXRange(0, ev.eps_max + 2 * BIN, padding=0)
        self.sizes.setYRange(0, max(int(heights.max()), 1), padding=0.05)

    def shown(self) -> AttackResult | None:
        return self._ev

    # -- helpers ----------------------------------------------------------------------------

    def _name(self, k: int) -> str:
        return self._names[k] if 0 <= k < len(self._names) else str(k)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(600, 420)
