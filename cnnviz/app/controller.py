"""The worker thread that drives a TrainingSession, and the GUI-side controller that talks to it.

Threads (DESIGN.md, conventions 6 and 7):

- `TrainingWorker` is a QObject moved to a QThread. It owns the TrainingSession: it builds it,
  steps it, evaluates it and saves/loads it; no other thread touches the session's arrays.
  Its loop drains a `queue.Queue` of commands between training steps and checks a
  `threading.Event` that asks it to exit; `sigFinished` is emitted in a `finally`.
- The session's listener (called on the worker thread) drops every event into a `Mailbox`:
  all new step/epoch metrics in lists, only the newest filter/activation snapshot and test
  evaluation. Events already hold numpy copies only.
- `TrainingController` lives in the GUI thread. Its methods put commands on the queue; a
  QTimer (10 Hz) takes the mailbox's contents and emits them as one `Updates` (`sigUpdates`),
  so the GUI redraws at a bounded rate however fast the worker trains.
- Heavy snapshots (kernels, the chosen digit's activations) are made on the worker on a time
  budget (every `snapshot_interval` s while running) and at once when paused, stepped, or a
  digit is chosen. The test set is evaluated at each epoch end and on request.
- Inspection (issue 4) runs on the worker too, only for the panels the user looks at
  (`watch`): attribution with the snapshots (at most every ATTRIBUTION_INTERVAL s while
  running), top digits and the embedding at each epoch end and on request, layer statistics
  every step. A `Timeline` records a moment every `timeline_every` steps; `moment(step)`
  sends one back (`sigMoment`) and `branch(step, config)` trains on from it.
"""

from __future__ import annotations

import copy
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from cnnviz.backend import gpu_status
from cnnviz.training import DivergenceError, TrainConfig, TrainingSession
from cnnviz.training.events import (
    ActivationSnapshot,
    Attribution,
    Embedding,
    EpochMetrics,
    Evaluation,
    FilterSnapshot,
    LayerStats,
    StepMetrics,
    TopActivations,
)
from cnnviz.training.timeline import Timeline

__all__ = ["Mailbox", "SessionInfo", "TimelineState", "TrainingController", "TrainingWorker",
           "Updates"]

RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
#: Inspection views the GUI can ask the worker to keep up to date (`TrainingController.watch`).
WATCHABLE = ("attribution", "top", "embedding", "stats")
ATTRIBUTION_INTERVAL = 2.0  # s between attributions while training runs (each costs ~0.1 s)
EMBEDDING_DIGITS = 2000
TIMELINE_EVERY, TIMELINE_MB = 200, 64.0
TIMELINE_TEST = 1000  # test digits evaluated for each recorded moment's confusion matrix


# -- what crosses from the worker to the GUI ------------------------------------------------


@dataclass(frozen=True)
class TimelineState:
    """What the timeline holds: the recorded steps, the memory they use of the budget, and
    the size of their checkpoints on disk."""

    steps: tuple
    memory_mb: float
    budget_mb: float
    every: int
    disk_mb: float = 0.0


@dataclass
class Updates:
    """Everything new since the last drain. steps/epochs/layer_stats: every one in order;
    the rest: only the newest (None when nothing new)."""

    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    layer_stats: list = field(default_factory=list)
    filters: FilterSnapshot | None = None
    activations: ActivationSnapshot | None = None
    evaluation: Evaluation | None = None
    attribution: Attribution | None = None
    top: TopActivations | None = None
    embedding: Embedding | None = None
    timeline: TimelineState | None = None

    def __bool__(self) -> bool:
        return bool(self.steps or self.epochs or self.layer_stats) or any(
            getattr(self, k) is not None for k in _NEWEST.values())

    def step_array(self) -> np.ndarray:
        """steps as (n, 4) float64: step, loss, accuracy, lr."""
        return np.array([(m.step, m.loss, m.accuracy, m.lr) for m in self.steps],
                        np.float64).reshape(-1, 4)

    def epoch_array(self) -> np.ndarray:
        """epochs as (n, 8) float64 in session.history["epochs"] column order."""
        return np.array([(m.epoch, m.step, m.train_loss, m.train_accuracy, m.val_loss,
                          m.val_accuracy, m.lr, m.seconds) for m in self.epochs],
                        np.float64).reshape(-1, 8)


#: Event type -> the Updates field that keeps only the newest / every one of that type.
_NEWEST = {FilterSnapshot: "filters", ActivationSnapshot: "activations",
           Evaluation: "evaluation", Attribution: "attribution", TopActivations: "top",
           Embedding: "embedding", TimelineState: "timeline"}
_LISTS = {StepMetrics: "steps", EpochMetrics: "epochs", LayerStats: "layer_stats"}


class Mailbox:
    """Thread-safe drop box: `put` on the worker (the session's listener), `take` on the GUI."""

    def __init__(self):
        self._lock = threading.Lock()
        self._box = Updates()

    def put(self, event) -> None:
        if isinstance(event, Evaluation) and event.split != "test":
            return  # the val pass at epoch end is in EpochMetrics already
        kind = type(event)
        with self._lock:
            if kind in _LISTS:
                getattr(self._box, _LISTS[kind]).append(event)
            elif kind in _NEWEST:
                setattr(self._box, _NEWEST[kind], event)

    def take(self) -> Updates:
        with self._lock:
            box, self._box = self._box, Updates()
        return box

    def clear(self) -> None:
        self.take()


@dataclass(frozen=True)
class SessionInfo:
    """A new or reset or reopened session, as the GUI needs it (numpy copies and plain data).

    test_images: uint8 (N, 28, 28) of the evaluated test split, in evaluation order.
    history: a copy of session.history ({"steps": [(step, loss, acc, lr)], "epochs": [...]}).
    summary: model.summary() rows. conv_layers: names of the layers with (C, H, W) outputs.
    reason: "new", "reset", "opened <path>" or "branched from step <n>"; previous_history:
    after a branch, the history the run had before it (to draw the old curves), else None.
    """

    config: TrainConfig
    dataset_name: str
    dataset_source: str
    class_names: tuple
    test_images: np.ndarray
    test_labels: np.ndarray
    spec: list
    input_shape: tuple
    summary: list
    history: dict
    step: int
    epoch: int
    steps_per_epoch: int
    total_steps: int
    backend: str
    conv_layers: tuple = ()
    reason: str = "new"
    previous_history: dict | None = None


def session_info(session: TrainingSession, reason: str,
                 previous_history: dict | None = None) -> SessionInfo:
    ds = session.dataset
    return SessionInfo(
        config=copy.deepcopy(session.config),
        dataset_name=str(getattr(ds, "name", "dataset")),
        dataset_source=str(getattr(ds, "source", "")),
        class_names=tuple(session.class_names),
        test_images=np.array(session.test_images, np.uint8, copy=True),
        test_labels=session.splits["test"][1].copy(),
        spec=copy.deepcopy(session.model.spec),
        input_shape=tuple(session.model.input_shape),
        summary=copy.deepcopy(session.model.summary()),
        history={"steps": list(session.history["steps"]),
                 "epochs": [list(r) for r in session.history["epochs"]]},
        step=session.step_count,
        epoch=session.epoch,
        steps_per_epoch=session.steps_per_epoch,
        total_steps=session.total_steps,
        backend=session.backend.name,
        conv_layers=tuple(session.conv_layers()),
        reason=reason,
        previous_history=previous_history,
    )


# -- the worker -----------------------------------------------------------------------------


class TrainingWorker(QObject):
    """Owns and drives the TrainingSession on its own thread. Created without a parent, then
    moved to a QThread whose `started` runs `run()`; talk to it only through `commands`."""

    sigStateChanged = Signal(str)  # running | paused | stopped
    sigDiverged = Signal(str)  # the DivergenceError message (step and advice)
    sigError = Signal(str)  # a user-facing message
    sigMessage = Signal(str)  # a status-bar note ("run complete", "saved ...")
    sigSessionReady = Signal(object)  # SessionInfo
    sigSaved = Signal(str)  # checkpoint path
    sigBusy = Signal(str)  # what the worker is doing that takes long ("" when done)
    sigCommandDone = Signal(str)  # name of each command after it was handled
    sigMoment = Signal(object)  # a timeline Moment asked for with the "moment" command
    sigFinished = Signal()

    def __init__(self, commands: queue.Queue, mailbox: Mailbox, exit_event: threading.Event,
                 snapshot_interval: float = 0.5, yield_seconds: float = 0.0,
                 timeline_every: int = TIMELINE_EVERY, timeline_mb: float = TIMELINE_MB):
        super().__init__()  # no parent: it is moved to its thread
        self.commands = commands
        self.mailbox = mailbox
        self.exit_event = exit_event
        self.snapshot_interval = snapshot_interval
        self.yield_seconds = yield_seconds
        self.session: TrainingSession | None = None
        self.dataset = None
        self.state = STOPPED
        self.digit: Any = 0  # int test index or a (28, 28) float image in [0, 1]
        self._until_epoch: int | None = None
        self._last_snapshot = 0.0
        self.watch: set[str] = set()  # inspection views kept up to date (WATCHABLE)
        self.attribution_request: tuple = (None, None)  # (target class or None, layer or None)
        self.top_layer: str | None = None
        self._last_attribution = 0.0
        self.timeline = Timeline(timeline_every, timeline_mb)
        self._timeline_failed = False  # a snapshot could not be written: no more until asked

    # -- the loop ---------------------------------------------------------------------------

    @Slot()
    def run(self) -> None:
        try:
            while not self.exit_event.is_set():
                self._drain_commands(block=self.state != RUNNING)
                if self.exit_event.is_set():
                    break
                if self.state == RUNNING and self.session is not None:
                    try:
                        self._train_step()
                    except Exception as exc:  # keep the thread alive; the user sees why
                        traceback.print_exc()
                        self._until_epoch = None
                        self._set_state(PAUSED)
                        self.sigError.emit(f"training stopped: {exc.__class__.__name__}: {exc}")
                    # sleep releases the GIL: a GUI thread waiting for it gets it now.
                    time.sleep(self.yield_seconds)
        except Exception as exc:  # a bug: report it rather than dying silently
            traceback.print_exc()
            self.sigError.emit(f"the training thread stopped: {exc.__class__.__name__}: {exc}")
        finally:
            self.timeline.close()
            self.sigFinished.emit()

    def _drain_commands(self, block: bool) -> None:
        first = True
        while not self.exit_event.is_set():
            try:
                if block and first:
                    cmd = self.commands.get(timeout=0.1)
                else:
                    cmd = self.commands.get_nowait()
            except queue.Empty:
                return
            first = False
            name, args = cmd
            if name == "wake":
                continue
            try:
                getattr(self, f"_cmd_{name}")(*args)
            except DivergenceError as exc:
                self._diverged(exc)
            except Exception as exc:
                if not isinstance(exc, (ValueError, OSError, KeyError, RuntimeError)):
                    traceback.print_exc()
                self.sigBusy.emit("")
                self.sigError.emit(str(exc) or exc.__class__.__name__)
            self.sigCommandDone.emit(name)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sigStateChanged.emit(state)

    # -- training ---------------------------------------------------------------------------

    def _train_step(self) -> None:
        s = self.session
        if s.finished:
            self._complete()
            return
        epoch = s.epoch
        try:
            s.step()
        except DivergenceError as exc:
            self._diverged(exc)
            return
        snap = time.monotonic() - self._last_snapshot >= self.snapshot_interval
        self._record_moment()
        if s.epoch != epoch:
            self._epoch_end()
            snap = True
        if s.finished:
            self._complete(snapshots=False)
            snap = True
        elif self._until_epoch is not None and s.epoch >= self._until_epoch:
            self._until_epoch = None
            self._set_state(PAUSED)
            snap = True
        if snap:
            self._snapshots()

    def _complete(self, snapshots: bool = True) -> None:
        self._until_epoch = None
        self._set_state(STOPPED)
        if snapshots:
            self._snapshots()
        self.sigMessage.emit(f"run complete: {self.session.config.epochs} epochs, "
                             f"{self.session.step_count} steps; raise Epochs and Start to go "
                             "on, or Reset")

    def _diverged(self, exc: DivergenceError) -> None:
        self._until_epoch = None
        self._set_state(PAUSED)
        self._snapshots()
        self.sigDiverged.emit(str(exc))

    def _snapshots(self) -> None:
        """Kernels and the chosen digit's activations, now (they reach the mailbox); the
        attribution too when it is watched (on a time budget while running)."""
        s = self.session
        if s is None:
            return
        with np.errstate(over="ignore", invalid="ignore"):  # after a divergence
            s.filters()
            self._activations()
            now = time.monotonic()
            if "attribution" in self.watch and (
                    self.state != RUNNING or now - self._last_attribution >= ATTRIBUTION_INTERVAL):
                self._attribution()
        self._last_snapshot = time.monotonic()

    def _digit(self):
        """The chosen digit as the session takes it: a test index, or a drawing in [0, 1]."""
        digit = self.digit
        if isinstance(digit, (int, np.integer)):
            return int(digit) % len(self.session.splits["test"][1])
        return digit

    def _activations(self) -> ActivationSnapshot:
        return self.session.activations(self._digit())

    def _attribution(self) -> None:
        s = self.session
        target, layer = self.attribution_request
        layers = s.conv_layers()
        if target is not None and not 0 <= target < s.model_classes():
            target = None
        if layers:
            s.attribution(self._digit(), target, layer if layer in layers else None)
        self._last_attribution = time.monotonic()

    def _evaluate(self) -> Evaluation | None:
        """The test split (emitted to the mailbox); None when the window is closing."""
        s = self.session
        self.sigBusy.emit(f"evaluating {len(s.splits['test'][1])} test images")
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # huge weights after divergence
                return s.evaluate("test")
        finally:
            self.sigBusy.emit("")

    def _epoch_end(self) -> None:
        """The test set, then the watched inspections that refresh once per epoch."""
        if self._evaluate() is None:
            return
        if "top" in self.watch:
            self._top()
        if "embedding" in self.watch:
            self._embedding()

    def _top(self) -> None:
        s = self.session
        layers = s.conv_layers()
        if not layers:
            return
        layer = self.top_layer if self.top_layer in layers else layers[0]
        self.sigBusy.emit(f"finding the top digits of {layer}")
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                s.top_activations(layer)
        finally:
            self.sigBusy.emit("")

    def _embedding(self) -> None:
        self.sigBusy.emit(f"projecting {EMBEDDING_DIGITS} test digits")
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                self.session.embedding(EMBEDDING_DIGITS)
        finally:
            self.sigBusy.emit("")

    def _record_moment(self) -> None:
        """A timeline moment when one is due: kernels, the chosen digit's activations and the
        confusion matrix of the first TIMELINE_TEST test digits, with a checkpoint."""
        s = self.session
        if self._timeline_failed or not self.timeline.due(s.step_count):
            return
        with np.errstate(over="ignore", invalid="ignore"):
            ev = s.evaluate("test", limit=TIMELINE_TEST, emit=False)
            if ev is None:  # closing
                return
            try:
                self.timeline.record(s, self._activations(), ev)
            except OSError as exc:  # a full disk must not stop training
                self._timeline_failed = True
                self.sigError.emit(
                    f"The timeline could not save its snapshot of step {s.step_count} in "
                    f"{self.timeline.folder}: {exc}. Training goes on, without new snapshots; "
                    "free some disk space (or point TMPDIR to a larger disk and restart), then "
                    "change a timeline setting to record again.")
                return
        self._timeline_state()

    def _timeline_state(self) -> None:
        tl = self.timeline
        self.mailbox.put(TimelineState(tuple(m.step for m in tl.moments), tl.nbytes / 2**20,
                                       tl.max_bytes / 2**20, tl.every, tl.disk_bytes / 2**20))

    # -- commands (each runs on the worker thread) -------------------------------------------

    def _install(self, session: TrainingSession, reason: str) -> None:
        if self.session is not None:
            self.session.listeners.clear()
        self.session = session
        self.dataset = session.dataset
        session.stop_event = self.exit_event  # a close stops an evaluation between batches
        session.collect_layer_stats = "stats" in self.watch
        session.listeners.append(self.mailbox.put)
        self._until_epoch = None
        self.digit = 0  # the digits panel shows test digit 0 of a new session
        old = self.timeline
        old.close()
        self.timeline = Timeline(old.every, old.max_bytes / 2**20)
        self._timeline_failed = False
        self.mailbox.clear()  # nothing of the old session may reach the new panels
        self._set_state(STOPPED)
        self.sigSessionReady.emit(session_info(session, reason))
        self._timeline_state()
        self._snapshots()

    def _build(self, config: TrainConfig, dataset, reason: str) -> None:
        self.sigBusy.emit("building the model")
        try:
            session = TrainingSession(copy.deepcopy(config), dataset)
        finally:
            self.sigBusy.emit("")
        self._install(session, reason)

    def _cmd_new(self, config: TrainConfig, dataset) -> None:
        self._build(config, dataset, "new")

    def _cmd_reset(self, config: TrainConfig | None) -> None:
        if self.dataset is None:
            raise RuntimeError("no data loaded yet")
        self._build(config or self.session.config, self.dataset, "reset")

    def _cmd_start(self, config: TrainConfig | None) -> None:
        s = self.session
        if s is None:
            raise RuntimeError("no session: load a dataset first")
        if config is not None:
            if s.step_count == 0 and _differs(config, s.config):
                self._build(config, self.dataset, "reset")  # nothing trained yet: apply all
                s = self.session
            else:
                self._apply_soft(config)
        if s.finished:
            self._complete()
            return
        self._until_epoch = None
        self._set_state(RUNNING)

    def _apply_soft(self, config: TrainConfig) -> None:
        """Settings that can change mid-run: lr, momentum, epochs, schedule, weight decay,
        backend."""
        s = self.session
        if config.backend != s.backend.name and hasattr(s, "set_backend"):
            s.set_backend(config.backend)  # BackendError (no GPU) reaches the user
        s.set_hyper(lr=config.lr, momentum=config.momentum)
        if config.epochs >= 1:
            s.config.epochs = int(config.epochs)
        s.config.schedule = config.schedule
        s.config.weight_decay = float(config.weight_decay)
        s.optimizer.weight_decay = float(config.weight_decay)

    def _cmd_pause(self) -> None:
        self._until_epoch = None
        if self.state == RUNNING:
            self._set_state(PAUSED)
            self._snapshots()

    def _cmd_stop(self) -> None:
        self._until_epoch = None
        if self.state != STOPPED:
            self._set_state(STOPPED)
            self._snapshots()

    def _cmd_step(self) -> None:
        s = self.session
        if s is None:
            return
        self._until_epoch = None
        self._set_state(PAUSED)
        if s.finished:
            self._complete()
            return
        epoch = s.epoch
        s.step()  # a DivergenceError is handled by _drain_commands
        self._record_moment()
        if s.epoch != epoch:
            self._epoch_end()
        if s.finished:
            self._complete(snapshots=False)
        self._snapshots()

    def _cmd_epoch(self) -> None:
        s = self.session
        if s is None:
            return
        if s.finished:
            self._complete()
            return
        self._until_epoch = s.epoch + 1
        self._set_state(RUNNING)

    def _cmd_evaluate(self) -> None:
        if self.session is not None:
            self._evaluate()

    def _cmd_hyper(self, lr: float | None, momentum: float | None) -> None:
        if self.session is not None:
            self.session.set_hyper(lr=lr, momentum=momentum)

    def _cmd_digit(self, digit) -> None:
        self.digit = digit
        if self.session is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                self._activations()
                if "attribution" in self.watch:
                    self._attribution()

    def _cmd_watch(self, name: str, on: bool) -> None:
        if name not in WATCHABLE:
            raise ValueError(f"cannot watch {name!r}; choose one of {', '.join(WATCHABLE)}")
        (self.watch.add if on else self.watch.discard)(name)
        if self.session is not None:
            self.session.collect_layer_stats = "stats" in self.watch

    def _cmd_attribution(self, target: int | None, layer: str | None) -> None:
        self.attribution_request = (target, layer)
        self.watch.add("attribution")
        if self.session is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                self._attribution()

    def _cmd_top(self, layer: str | None) -> None:
        self.top_layer = layer
        self.watch.add("top")
        if self.session is not None:
            self._top()

    def _cmd_embedding(self) -> None:
        self.watch.add("embedding")
        if self.session is not None:
            self._embedding()

    def _cmd_snapshots(self) -> None:
        self._last_attribution = 0.0
        self._snapshots()

    def _cmd_moment(self, step: int) -> None:
        self.sigMoment.emit(self.timeline.at(step))  # LookupError when nothing is recorded

    def _cmd_timeline(self, every: int, max_mb: float) -> None:
        self.timeline.configure(every, max_mb)
        self._timeline_failed = False
        self._timeline_state()

    def _cmd_branch(self, step: int, config: TrainConfig | None) -> None:
        """Go back to the moment at `step` and train on from it with `config`'s live settings;
        the old run's history goes to the GUI with the new SessionInfo."""
        s = self.session
        if s is None:
            raise RuntimeError("no session to branch")
        moment = self.timeline.at(step)
        self.sigBusy.emit(f"going back to step {moment.step}")
        try:
            old = self.timeline.branch(s, moment)
            if config is not None:
                self._apply_soft(config)
        finally:
            self.sigBusy.emit("")
        self._until_epoch = None
        self.mailbox.clear()
        self.sigSessionReady.emit(session_info(s, f"branched from step {moment.step}", old))
        self._timeline_state()
        self._evaluate()
        self._cmd_snapshots()
        self._set_state(STOPPED if s.finished else RUNNING)

    def _cmd_save(self, path: str) -> None:
        if self.session is None:
            raise RuntimeError("nothing to save: no session yet")
        self.session.save(path)
        self.sigSaved.emit(str(path))

    def _cmd_open(self, path: str) -> None:
        if self.dataset is None:
            raise RuntimeError("load a dataset before opening a checkpoint")
        self.sigBusy.emit(f"opening {path}")
        try:
            overrides = {}
            from cnnviz.training.checkpoint import read_checkpoint

            meta, _ = read_checkpoint(path)
            if meta["config"].get("backend") in ("cupy", "auto") and not gpu_status()[0]:
                overrides["backend"] = "numpy"
            session = TrainingSession.from_checkpoint(path, dataset=self.dataset, **overrides)
        finally:
            self.sigBusy.emit("")
        self._install(session, f"opened {path}")
        self._evaluate()


def _differs(a: TrainConfig, b: TrainConfig) -> bool:
    keys = ("arch", "spec", "optimizer", "weight_decay", "schedule", "batch_size", "epochs",
            "seed", "backend", "val_size", "limit_train", "limit_test")
    return any(getattr(a, k) != getattr(b, k) for k in keys)


# -- the GUI side ---------------------------------------------------------------------------


class TrainingController(QObject):
    """GUI-thread handle on the worker: commands in, signals and drained `Updates` out.

    Call `shutdown()` (the main window's closeEvent does) before the controller goes away.
    """

    sigStateChanged = Signal(str)
    sigDiverged = Signal(str)
    sigError = Signal(str)
    sigMessage = Signal(str)
    sigSessionReady = Signal(object)
    sigSaved = Signal(str)
    sigBusy = Signal(str)
    sigCommandDone = Signal(str)
    sigMoment = Signal(object)  # timeline Moment
    sigFinished = Signal()
    sigUpdates = Signal(object)  # Updates, at most every drain_interval_ms

    def __init__(self, parent: QObject | None = None, drain_interval_ms: int = 100,
                 snapshot_interval: float = 0.5, yield_seconds: float = 0.0,
                 timeline_every: int = TIMELINE_EVERY, timeline_mb: float = TIMELINE_MB):
        super().__init__(parent)
        self.commands: queue.Queue = queue.Queue()
        self.mailbox = Mailbox()
        self.exit_event = threading.Event()
        self.state = STOPPED
        self.info: SessionInfo | None = None
        self.busy = ""

        self._thread = QThread()
        self._thread.setObjectName("cnnviz-training")
        self.worker = TrainingWorker(self.commands, self.mailbox, self.exit_event,
                                     snapshot_interval, yield_seconds, timeline_every,
                                     timeline_mb)
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.run)
        w = self.worker
        w.sigStateChanged.connect(self._on_state_changed)
        w.sigDiverged.connect(self._on_diverged)
        w.sigError.connect(self._on_error)
        w.sigMessage.connect(self._on_message)
        w.sigSessionReady.connect(self._on_session_ready)
        w.sigSaved.connect(self._on_saved)
        w.sigBusy.connect(self._on_busy)
        w.sigCommandDone.connect(self._on_command_done)
        w.sigMoment.connect(self.sigMoment)
        w.sigFinished.connect(self._on_finished)

        self._timer = QTimer(self)
        self._timer.setInterval(drain_interval_ms)
        self._timer.timeout.connect(self._on_drain)
        self._thread.start()
        self._timer.start()

    # -- commands ----------------------------------------------------------------------------

    def _send(self, name: str, *args) -> None:
        if not self.exit_event.is_set():
            self.commands.put((name, args))

    def new_session(self, config: TrainConfig, dataset) -> None:
        """Build a session on `dataset` (a Dataset) with `config`."""
        self._send("new", copy.deepcopy(config), dataset)

    def start(self, config: TrainConfig | None = None) -> None:
        """Start or resume; `config` carries the settings that apply now (lr, momentum,
        epochs, schedule, weight decay, and everything while no step has been taken)."""
        self._send("start", copy.deepcopy(config) if config is not None else None)

    def pause(self) -> None:
        self._send("pause")

    def stop(self) -> None:
        self._send("stop")

    def step_batch(self) -> None:
        self._send("step")

    def step_epoch(self) -> None:
        self._send("epoch")

    def reset(self, config: TrainConfig | None = None) -> None:
        self._send("reset", copy.deepcopy(config) if config is not None else None)

    def evaluate(self) -> None:
        self._send("evaluate")

    def set_hyper(self, lr: float | None = None, momentum: float | None = None) -> None:
        self._send("hyper", lr, momentum)

    def choose_digit(self, digit) -> None:
        """An int test index, or a (28, 28) float image in [0, 1] (a drawing)."""
        if not isinstance(digit, (int, np.integer)):
            digit = np.array(digit, np.float32, copy=True)
        self._send("digit", digit)

    def watch(self, view: str, on: bool = True) -> None:
        """Keep an inspection view up to date while training (one of WATCHABLE): "attribution"
        with the snapshots, "top" and "embedding" at each epoch end, "stats" every step."""
        self._send("watch", view, bool(on))

    def attribution(self, target: int | None = None, layer: str | None = None) -> None:
        """Saliency, Grad-CAM of `layer` and occlusion of the chosen digit for class `target`
        (None: the predicted class; layer None: the last conv layer), now and from then on."""
        self._send("attribution", None if target is None else int(target), layer)

    def top_activations(self, layer: str | None = None) -> None:
        """The top test digits of each channel of `layer`, now and at each epoch end."""
        self._send("top", layer)

    def embedding(self) -> None:
        """The 2-D embedding of the first test digits, now and at each epoch end."""
        self._send("embedding")

    def snapshots(self) -> None:
        """Fresh kernels, activations (and attribution, when watched) of the live network."""
        self._send("snapshots")

    def moment(self, step: int) -> None:
        """Ask for the recorded moment at or before `step`; it arrives as sigMoment."""
        self._send("moment", int(step))

    def set_timeline(self, every: int, max_mb: float) -> None:
        """Record a moment every `every` steps, keeping at most `max_mb` MB of them."""
        self._send("timeline", int(every), float(max_mb))

    def branch(self, step: int, config: TrainConfig | None = None) -> None:
        """Restore the moment at `step` and train on from it with `config`'s live settings."""
        self._send("branch", int(step), copy.deepcopy(config) if config is not None else None)

    def save(self, path) -> None:
        self._send("save", str(path))

    def open(self, path) -> None:
        self._send("open", str(path))

    # -- lifetime ----------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Ask the worker to exit, quit its thread and join it. True when it has ended."""
        self._timer.stop()
        self.exit_event.set()
        self.commands.put(("wake", ()))
        self._thread.quit()  # exec() returns at once once run() is done
        ok = self._thread.wait(timeout_ms)
        if not ok:
            print(f"cnnviz: the training thread did not end within {timeout_ms} ms",
                  file=sys.stderr)
        return bool(ok)

    def drain(self) -> Updates:
        """Take what the mailbox holds now (the timer does this every drain interval)."""
        return self.mailbox.take()

    # -- slots (GUI thread) --------------------------------------------------------------------

    @Slot()
    def _on_drain(self) -> None:
        updates = self.mailbox.take()
        if updates:
            self.sigUpdates.emit(updates)

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        self.state = state
        self.sigStateChanged.emit(state)

    @Slot(str)
    def _on_diverged(self, message: str) -> None:
        self.sigDiverged.emit(message)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.sigError.emit(message)

    @Slot(str)
    def _on_message(self, message: str) -> None:
        self.sigMessage.emit(message)

    @Slot(object)
    def _on_session_ready(self, info: SessionInfo) -> None:
        self.info = info
        self.sigSessionReady.emit(info)

    @Slot(str)
    def _on_saved(self, path: str) -> None:
        self.sigSaved.emit(path)

    @Slot(str)
    def _on_busy(self, what: str) -> None:
        self.busy = what
        self.sigBusy.emit(what)

    @Slot(str)
    def _on_command_done(self, name: str) -> None:
        self.sigCommandDone.emit(name)

    @Slot()
    def _on_finished(self) -> None:
        self._thread.quit()
        self.sigFinished.emit()
