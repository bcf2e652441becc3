"""The window's docks as one table, and what belongs to docks: building them, the default
arrangement, titles that follow the timeline, and which ones are on screen.

Adding a panel: write its module in panels/ and add a row to DOCKS (where it goes, what it
follows); route its data in router.py when it shows what the training thread sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtWidgets
from PySide6.QtCore import QObject, Qt, QTimer

from cnnviz.app.panels.activations import ActivationsPanel
from cnnviz.app.panels.architecture import ArchitecturePanel
from cnnviz.app.panels.attack import AttackPanel
from cnnviz.app.panels.attribution import AttributionPanel
from cnnviz.app.panels.confusion import ConfusionPanel
from cnnviz.app.panels.controls import ControlsPanel
from cnnviz.app.panels.curves import CurvesPanel
from cnnviz.app.panels.debugger import DebuggerPanel
from cnnviz.app.panels.digits import DigitsPanel
from cnnviz.app.panels.embedding import EmbeddingPanel
from cnnviz.app.panels.filters import FiltersPanel
from cnnviz.app.panels.preferred_inputs import PreferredInputsPanel
from cnnviz.app.panels.timeline import TimelinePanel
from cnnviz.app.panels.top_digits import TopDigitsPanel
from cnnviz.app.panels.training_batch import TrainingBatchPanel
from cnnviz.app.state import AppState

__all__ = ["DOCKS", "Dock", "Docks"]


@dataclass(frozen=True)
class Dock:
    """key: the name code uses; title: what the user reads; panel: its widget class;
    place: where the default layout puts it, after the rows above it: ("left",) or
    ("right",) in that dock area, ("below", key) or ("right of", key) of another dock, or
    ("tab", key) behind another; watch: the inspection view (training.driver.WATCHABLE)
    computed only while the dock is on screen; timeline: it shows the scrubbed moment, and
    its title says so; state: its panel takes the AppState (`panel(state=...)`) and
    subscribes to what it shows of it; scroll: a tall form that scrolls rather than force
    a tall window."""

    key: str
    title: str
    panel: type
    place: tuple
    watch: str | None = None
    timeline: bool = False
    state: bool = False
    scroll: bool = False


#: Settings left; curves, timeline and confusion (tabs: embedding, step debugger) in the
#: middle; activations, filters (tabs: top digits, what it wants) and digits (tabs: where it
#: looks, attack, training batch) right.
DOCKS = (
    Dock("controls", "Controls", ControlsPanel, ("left",), scroll=True),
    Dock("architecture", "Architecture", ArchitecturePanel, ("tab", "controls")),
    Dock("curves", "Curves", CurvesPanel, ("right",), state=True),
    Dock("activations", "Activations", ActivationsPanel, ("right of", "curves"), timeline=True,
         state=True),
    Dock("confusion", "Confusion matrix", ConfusionPanel, ("below", "curves"), timeline=True,
         state=True),
    Dock("filters", "Filters", FiltersPanel, ("below", "activations"), timeline=True,
         state=True),
    Dock("digits", "Digits", DigitsPanel, ("below", "filters"), state=True),
    Dock("timeline", "Timeline", TimelinePanel, ("below", "curves")),
    Dock("embedding", "Embedding", EmbeddingPanel, ("tab", "confusion"), watch="embedding"),
    Dock("debugger", "Step debugger", DebuggerPanel, ("tab", "confusion"), watch="stats"),
    Dock("attribution", "Where it looks", AttributionPanel, ("tab", "digits"),
         watch="attribution"),
    Dock("top_digits", "Top digits", TopDigitsPanel, ("tab", "filters"), watch="top"),
    Dock("preferred", "What it wants", PreferredInputsPanel, ("tab", "filters"),
         watch="preferred", timeline=True, state=True),
    Dock("attack", "Attack", AttackPanel, ("tab", "digits"), watch="attack"),
    Dock("training_batch", "Training batch", TrainingBatchPanel, ("tab", "digits")),
)
_AREAS = {"left": Qt.DockWidgetArea.LeftDockWidgetArea,
          "right": Qt.DockWidgetArea.RightDockWidgetArea}
_SPLITS = {"below": Qt.Orientation.Vertical, "right of": Qt.Orientation.Horizontal}
_FEATURES = (QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)


class Docks(QObject):
    """The panels (`panels[key]`) and their QDockWidgets (`docks[key]`) of `window`.

    Tells `state` which docks are on screen (a dock tabbed behind another, closed or
    minimised is not; Qt's isVisible() says True for a hidden tab, so the visible region
    decides), and titles the timeline docks with the scrubbed step.
    """

    def __init__(self, window: QtWidgets.QMainWindow, state: AppState):
        super().__init__(window)
        self.window, self.state = window, state
        self.panels: dict[str, QtWidgets.QWidget] = {}
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for row in DOCKS:
            panel = self.panels[row.key] = row.panel(state=state) if row.state else row.panel()
            dock = self.docks[row.key] = QtWidgets.QDockWidget(row.title, window)
            dock.setObjectName(f"dock-{row.key}")
            dock.setFeatures(_FEATURES)
            dock.setWidget(_scrolling(panel) if row.scroll else panel)
            # checked once the dock area has settled (tabs switch in steps)
            dock.visibilityChanged.connect(lambda _v: QTimer.singleShot(0, self.check_visible))
        state.sigMomentChanged.connect(self._on_moment)

    def check_visible(self) -> None:
        self.state.set_visible(k for k, d in self.docks.items() if not d.visibleRegion().isEmpty())

    def _on_moment(self, moment) -> None:
        for row in DOCKS:
            if row.timeline:
                self.docks[row.key].setWindowTitle(
                    row.title if moment is None else f"{row.title} at step {moment.step} "
                                                     "(timeline)")

    def default_layout(self) -> None:
        """Every dock where DOCKS places it, the first of each group of tabs in front."""
        w, d = self.window, self.docks
        for dock in d.values():
            dock.setFloating(False)
            w.removeDockWidget(dock)
        for row in DOCKS:
            how, *where = row.place
            if how in _AREAS:
                w.addDockWidget(_AREAS[how], d[row.key])
            elif how == "tab":
                w.tabifyDockWidget(d[where[0]], d[row.key])
            else:
                w.splitDockWidget(d[where[0]], d[row.key], _SPLITS[how])
        for dock in d.values():
            dock.show()
        for row in DOCKS:
            if row.place[0] == "tab":
                d[row.place[1]].raise_()
        self._size()
        QTimer.singleShot(0, self._size)  # again once the window has its real size

    def _size(self) -> None:
        w, d = self.window, self.docks
        width, height = w.width(), w.height()
        left = 330 if width >= 1400 else max(260, int(width * 0.24))
        rest = width - left
        w.resizeDocks([d["controls"], d["curves"], d["activations"]],
                      [left, rest // 2, rest - rest // 2], Qt.Orientation.Horizontal)
        avail, strip = height - 110, 150
        curves = int((avail - strip) * 0.5)
        w.resizeDocks([d["curves"], d["timeline"], d["confusion"]],
                      [curves, strip, avail - strip - curves], Qt.Orientation.Vertical)
        w.resizeDocks([d["activations"], d["filters"], d["digits"]],
                      [int(avail * 0.40), int(avail * 0.28), avail - int(avail * 0.68)],
                      Qt.Orientation.Vertical)


def _scrolling(panel: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    scroll = QtWidgets.QScrollArea()
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll
