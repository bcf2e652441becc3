"""Which inspection views the training thread computes: those whose docks are on screen, and
only those. A dock that comes into view with data older than the current step is refilled
at once (those in ONCE only the first time); the panels' own requests (another class, layer,
a refresh) go straight through."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from cnnviz.app.controller import TrainingController
from cnnviz.app.docks import DOCKS
from cnnviz.app.state import AppState

__all__ = ["Inspections"]

_WATCHED = {row.key: row.watch for row in DOCKS if row.watch}
#: Docks filled only the first time they come into view in a session (synthesis takes
#: seconds); afterwards their own requests and the epoch ends refresh them.
ONCE = {"preferred"}


class Inspections(QObject):
    """Tells `controller` what to watch as `state.visible` changes; `panels`: key -> panel."""

    def __init__(self, controller: TrainingController, state: AppState, panels: dict):
        super().__init__(controller)
        self.controller, self.state, self.p = controller, state, panels
        self.watched: set[str] = set()  # dock keys the training thread was told to watch
        self._filled: dict[str, int] = {}  # dock key -> the step it was filled at
        state.sigVisibleChanged.connect(self.sync)
        state.sigSessionChanged.connect(self._on_session)
        attribution = panels["attribution"]
        attribution.sigRequest.connect(
            lambda target, layer: controller.attribution(target, layer or None))
        panels["top_digits"].sigLayerChosen.connect(
            lambda layer: controller.top_activations(layer or None))
        panels["embedding"].sigRefreshRequested.connect(controller.embedding)
        panels["preferred"].sigRequest.connect(
            lambda layer, classes: controller.preferred_inputs(layer or None, classes))
        controller.sigError.connect(panels["preferred"].failed)
        panels["attack"].sigRequest.connect(controller.attack)
        panels["attack"].sigAttackAll.connect(controller.attack_all)
        controller.sigError.connect(panels["attack"].failed)

    @Slot()
    def sync(self, *_) -> None:
        info, c = self.state.info, self.controller
        if c.exit_event.is_set():
            return
        step = c.last_step.step if c.last_step is not None else (info.step if info else 0)
        for key, view in _WATCHED.items():
            seen = key in self.state.visible
            if seen != (key in self.watched):
                (self.watched.add if seen else self.watched.discard)(key)
                c.watch(view, seen)
            stale = self._filled.get(key) != step and (key not in ONCE or key not in self._filled)
            if seen and info is not None and stale:
                self._fill(key, step)

    def _fill(self, key: str, step: int) -> None:
        self._filled[key] = step
        p, c = self.p, self.controller
        if key == "attribution":
            c.attribution(p["attribution"].target(), p["attribution"].layer() or None)
        elif key == "top_digits":
            c.top_activations(p["top_digits"].layer() or None)
        elif key == "embedding":
            c.embedding()
        elif key == "preferred":
            p["preferred"].compute()
        elif key == "attack":
            c.attack(p["attack"].target())

    @Slot(object)
    def _on_session(self, _info) -> None:
        self._filled.clear()
        self.sync()
