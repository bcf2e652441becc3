"""The status bar: what the training thread is doing, the dataset, the backend, the epoch,
the step, the speed and the learning rate. It subscribes to the controller and the state."""

from __future__ import annotations

from PySide6 import QtWidgets
from PySide6.QtCore import QObject, Slot

from cnnviz.app.controller import TrainingController
from cnnviz.app.state import AppState
from cnnviz.training.driver import PAUSED, RUNNING, STOPPED
from cnnviz.training.events import SessionInfo

__all__ = ["StatusBar"]

#: key, tooltip, the widest text it shows (labels have fixed sizes: a label whose size hint
#: changes with its text would re-layout the whole window at every step)
LABELS = (
    ("state", "What the training thread is doing", "evaluating 10000 test images…"),
    ("dataset", "Dataset and where it came from", "fashion-mnist"),
    ("backend", "Array backend and device", "numpy (CPU)"),
    ("epoch", "Epoch being trained", "epoch 100/100"),
    ("step", "Training steps (batches) taken", "step 100,000 (batch 1000/1000)"),
    ("speed", "Training images per second (recent batches)", "100,000 img/s"),
    ("lr", "Learning rate of the last step", "lr 0.000123"),
)
STATE_TEXT = {RUNNING: "training", PAUSED: "paused", STOPPED: "stopped"}


class StatusBar(QObject):
    """Fills `bar`'s permanent labels (`labels[key]`, keys as in LABELS)."""

    def __init__(self, bar: QtWidgets.QStatusBar, controller: TrainingController,
                 state: AppState):
        super().__init__(bar)
        self.bar, self.controller, self.state = bar, controller, state
        self.labels: dict[str, QtWidgets.QLabel] = {}
        fm = bar.fontMetrics()
        for key, tip, sample in LABELS:
            label = QtWidgets.QLabel("")
            label.setToolTip(tip)
            label.setFixedSize(fm.horizontalAdvance(sample) + 16, fm.height() + 6)
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
            self.labels[key] = label
        self.labels["state"].setText("starting")
        controller.sigUpdates.connect(self.show_progress)
        controller.sigApplied.connect(self.show_progress)  # e.g. more epochs on Resume
        controller.sigStateChanged.connect(self._on_state)
        controller.sigBusy.connect(self._on_busy)
        controller.sigMessage.connect(lambda text: bar.showMessage(text, 15000))
        controller.sigSaved.connect(lambda path: bar.showMessage(f"saved {path}", 8000))
        state.sigSessionChanged.connect(self._on_session)

    def say(self, key: str, text: str, tip: str | None = None) -> None:
        self.labels[key].setText(text)
        if tip is not None:
            self.labels[key].setToolTip(tip)

    @Slot()
    def show_progress(self, *_) -> None:
        m, info, cfg = self.controller.last_step, self.state.info, self.controller.config
        if m is None or info is None or cfg is None:
            return
        self.say("epoch", f"epoch {min(m.epoch + 1, cfg.epochs)}/{cfg.epochs}")
        self.say("step", f"step {m.step:,} (batch {m.position}/{info.steps_per_epoch})")
        self.say("speed", f"{m.images_per_second:,.0f} img/s")
        self.say("lr", f"lr {m.lr:.3g}")

    @Slot(str)
    def _on_state(self, state: str) -> None:
        if not self.controller.busy:
            self.say("state", STATE_TEXT.get(state, state))

    @Slot(str)
    def _on_busy(self, what: str) -> None:
        if what:
            self.say("state", f"{what}…")
        else:
            self._on_state(self.controller.state)

    @Slot(object)
    def _on_session(self, info: SessionInfo) -> None:
        cfg = self.controller.config
        device = "GPU" if info.backend == "cupy" else "CPU"
        self.say("backend", f"{info.backend} ({device})")
        self.say("dataset", info.dataset_name, f"{info.dataset_name} from {info.dataset_source}")
        self.say("epoch", f"epoch {min(info.epoch + 1, cfg.epochs)}/{cfg.epochs}")
        self.say("step", f"step {info.step:,}")
        self.say("speed", "")
        self.say("lr", f"lr {cfg.lr:.3g}")
        self.say("state", "ready: press Start" if info.step == 0 else "stopped")
        if info.reason.startswith("opened"):
            self.bar.showMessage(f"{info.reason} (step {info.step})", 8000)
