"""The GUI thread's handle on the training thread: commands in, signals and `Updates` out.

Each command puts a (RunDriver method, args) pair on the worker's queue. The worker's one
`sigNotice(kind, value)` becomes the matching signal here, after the controller has updated
the little it mirrors (run state, session info, the config in effect, what is busy). A
QTimer drains the mailbox and emits what it holds as one `Updates` (`sigUpdates`), so the GUI
redraws at a bounded rate however fast the worker trains.
"""

from __future__ import annotations

import copy
import queue
import sys
import threading

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from cnnviz.app.messages import Mailbox
from cnnviz.app.worker import TrainingWorker
from cnnviz.training.config import LIVE, TrainConfig
from cnnviz.training.driver import STOPPED
from cnnviz.training.events import SessionInfo

__all__ = ["TrainingController"]


class TrainingController(QObject):
    """Commands to the training thread, and what it reports as signals.

    Mirrors, for the GUI to read: `state` (running/paused/stopped), `info` (the last
    SessionInfo), `config` (the TrainConfig in effect, updated at every live change),
    `busy` (what takes long, "" when nothing), `last_step` (the newest StepMetrics drained).
    Call `shutdown()` (the main window's closeEvent does) before it goes away.
    """

    sigStateChanged = Signal(str)
    sigDiverged = Signal(str)  # the DivergenceError message (step and advice)
    sigError = Signal(str)  # a user-facing message
    sigMessage = Signal(str)  # a status-bar note ("run complete ...")
    sigSessionReady = Signal(object)  # SessionInfo
    sigApplied = Signal(object)  # the TrainConfig now in effect
    sigSaved = Signal(str)  # checkpoint path
    sigBusy = Signal(str)  # what the worker is doing that takes long ("" when done)
    sigMoment = Signal(object)  # a timeline Moment asked for with moment()
    sigCommandDone = Signal(str)  # the name of each command after it was handled
    sigLrFound = Signal(object)  # the LRFind of a learning-rate range test asked with lr_find()
    sigFinished = Signal()
    sigUpdates = Signal(object)  # Updates, at most every drain_interval_ms

    def __init__(self, parent: QObject | None = None, drain_interval_ms: int = 100,
                 yield_seconds: float = 0.0, **driver_options):
        super().__init__(parent)
        self.commands: queue.Queue = queue.Queue()
        self.mailbox = Mailbox()
        self.exit_event = threading.Event()
        self.state = STOPPED
        self.info: SessionInfo | None = None
        self.config: TrainConfig | None = None
        self.busy = ""
        self.last_step = None
        self._signals = {"state": self.sigStateChanged, "diverged": self.sigDiverged,
                         "error": self.sigError, "message": self.sigMessage,
                         "session": self.sigSessionReady, "applied": self.sigApplied,
                         "saved": self.sigSaved, "busy": self.sigBusy,
                         "moment": self.sigMoment, "done": self.sigCommandDone,
                         "lr_find": self.sigLrFound}

        self._thread = QThread()
        self._thread.setObjectName("cnnviz-training")
        self.worker = TrainingWorker(self.commands, self.mailbox, self.exit_event,
                                     yield_seconds, **driver_options)
        self._driver = self.worker.driver  # its methods are sent, never called, from here
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.run)
        self.worker.sigNotice.connect(self._on_notice)
        self.worker.sigFinished.connect(self._on_finished)

        self._timer = QTimer(self)
        self._timer.setInterval(drain_interval_ms)
        self._timer.timeout.connect(self._on_drain)
        self._thread.start()
        self._timer.start()

    # -- commands ----------------------------------------------------------------------------

    def _send(self, method, *args) -> None:
        if not self.exit_event.is_set():
            self.commands.put((method, args))

    def new_session(self, config: TrainConfig, dataset) -> None:
        """Build a session on `dataset` (a Dataset) with `config`."""
        self._send(self._driver.new_session, copy.deepcopy(config), dataset)

    def start(self, config: TrainConfig | None = None) -> None:
        """Start or resume with the settings in `config` that apply now (see RunDriver.start)."""
        self._send(self._driver.start, copy.deepcopy(config))

    def apply(self, config: TrainConfig, fields: tuple = LIVE) -> None:
        """Take `fields` of `config` into the running session at the next step."""
        self._send(self._driver.apply, copy.deepcopy(config), tuple(fields))

    def pause(self) -> None:
        self._send(self._driver.pause)

    def stop(self) -> None:
        self._send(self._driver.stop)

    def step_batch(self) -> None:
        self._send(self._driver.step_batch)

    def step_epoch(self) -> None:
        self._send(self._driver.step_epoch)

    def reset(self, config: TrainConfig | None = None) -> None:
        self._send(self._driver.reset, copy.deepcopy(config))

    def evaluate(self) -> None:
        self._send(self._driver.evaluate)

    def lr_find(self, **options) -> None:
        """The learning-rate range test on a copy of the run (options: lr_find's steps, start,
        end, ...): progress as sigBusy, the result as sigLrFound, a failure as sigError;
        sigCommandDone("lr_find") either way."""
        self._send(self._driver.lr_find, dict(options))

    def choose_digit(self, digit) -> None:
        """An int test index, or a (28, 28) float image in [0, 1] (a drawing)."""
        if not isinstance(digit, (int, np.integer)):
            digit = np.array(digit, np.float32, copy=True)
        self._send(self._driver.choose_digit, digit)

    def watch(self, view: str, on: bool = True) -> None:
        """Keep an inspection view (one of training.driver.WATCHABLE) up to date."""
        self._send(self._driver.watch, view, bool(on))

    def attribution(self, target: int | None = None, layer: str | None = None) -> None:
        self._send(self._driver.attribution, None if target is None else int(target), layer)

    def top_activations(self, layer: str | None = None) -> None:
        self._send(self._driver.top_activations, layer)

    def preferred_inputs(self, layer: str | None = None, classes: bool = False) -> None:
        """Inputs synthesized for each channel of `layer` (or each class), as PreferredInputs."""
        self._send(self._driver.preferred_inputs, layer, classes)

    def attack(self, target: int) -> None:
        """A targeted attack on the chosen digit, as AttackResult."""
        self._send(self._driver.attack, int(target))

    def attack_all(self, target: int) -> None:
        """Targeted attacks on the first test digits of other classes, as AttackSummary."""
        self._send(self._driver.attack_all, int(target))

    def embedding(self) -> None:
        self._send(self._driver.embedding)

    def snapshots(self) -> None:
        self._send(self._driver.snapshots)

    def moment(self, step: int) -> None:
        """Ask for the recorded moment at or before `step`; it arrives as sigMoment."""
        self._send(self._driver.moment, int(step))

    def set_timeline(self, every: int, max_mb: float) -> None:
        self._send(self._driver.set_timeline, int(every), float(max_mb))

    def branch(self, step: int, config: TrainConfig | None = None) -> None:
        self._send(self._driver.branch, int(step), copy.deepcopy(config))

    def save(self, path) -> None:
        self._send(self._driver.save, str(path))

    def export_onnx(self, path) -> None:
        """Write the network as ONNX; sigSaved(path) when written, sigError if not."""
        self._send(self._driver.export_onnx, str(path))

    def open(self, path) -> None:
        self._send(self._driver.open, str(path))

    # -- lifetime ----------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Ask the worker to exit, quit its thread and join it. True when it has ended."""
        self._timer.stop()
        self.exit_event.set()
        self.commands.put((None, ()))  # wakes a worker waiting for a command
        self._thread.quit()
        ok = self._thread.wait(timeout_ms)
        if not ok:
            print(f"cnnviz: the training thread did not end within {timeout_ms} ms",
                  file=sys.stderr)
        return bool(ok)

    # -- slots (GUI thread) --------------------------------------------------------------------

    @Slot()
    def _on_drain(self) -> None:
        updates = self.mailbox.take()
        if updates:
            if updates.steps:
                self.last_step = updates.steps[-1]
            self.sigUpdates.emit(updates)

    @Slot(str, object)
    def _on_notice(self, kind: str, value) -> None:
        if kind == "state":
            self.state = value
        elif kind == "session":
            self.info, self.last_step = value, None
        elif kind == "applied":
            self.config = value
        elif kind == "busy":
            self.busy = value
        self._signals[kind].emit(value)

    @Slot()
    def _on_finished(self) -> None:
        self._thread.quit()
        self.sigFinished.emit()
