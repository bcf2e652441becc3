"""The run driver: owns a TrainingSession and the policy of a live run, with no Qt.

It decides when to step, when to take snapshots, which inspections to compute, when to record
a timeline moment, and which digit is chosen. The app's worker thread calls its commands and
`step_once()`; tests call them directly.

What it produces goes two ways: the session's events (and TimelineState) go to a mailbox
(`put(event)`, `clear()`: the app's keeps only what the GUI draws); everything else goes to
`notify(kind, value)`, one of NOTICES.
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager

from cnnviz.backend import gpu_status
from cnnviz.training.checkpoint import read_checkpoint
from cnnviz.training.config import LIVE, ON_RESET, ON_RESUME, TrainConfig, changed
from cnnviz.training.driver_views import WATCHABLE, DriverViews, quiet
from cnnviz.training.events import SessionInfo
from cnnviz.training.inspect import check_digit
from cnnviz.training.lr_find import find_and_notify
from cnnviz.training.session import DivergenceError, TrainingSession
from cnnviz.training.timeline import Moment, Timeline

__all__ = ["NOTICES", "PAUSED", "RUNNING", "STOPPED", "WATCHABLE", "RunDriver", "check_digit"]

RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
#: What `notify(kind, value)` reports: the run state (str), a divergence or an error message,
#: a status note, a new SessionInfo, the config now in effect (TrainConfig), a saved path, what
#: takes long ("" when done), a timeline Moment, the name of each command handled, an LRFind.
NOTICES = ("state", "diverged", "error", "message", "session", "applied", "saved", "busy",
           "moment", "done", "lr_find")
TIMELINE_EVERY, TIMELINE_MB = 200, 64.0
TIMELINE_TEST = 1000  # test digits evaluated for each recorded moment's confusion matrix


class RunDriver(DriverViews):
    """Drives one session at a time for a live view.

    mailbox: `put(event)` receives the session's events and TimelineState, `clear()` drops
    what a replaced session left. notify(kind, value): one of NOTICES. stop_event: a
    threading.Event that, once set, stops long evaluations.
    """

    def __init__(self, mailbox, notify: Callable, stop_event,
                 snapshot_interval: float = 0.5, timeline_every: int = TIMELINE_EVERY,
                 timeline_mb: float = TIMELINE_MB):
        self.mailbox, self.notify, self.stop_event = mailbox, notify, stop_event
        self.snapshot_interval = snapshot_interval
        self.session: TrainingSession | None = None
        self.dataset = None
        self.state = STOPPED
        self.timeline = Timeline(timeline_every, timeline_mb)
        self._timeline_failed = False  # a snapshot could not be written: none until asked
        self._until_epoch: int | None = None
        self._init_views()

    @property
    def running(self) -> bool:
        return self.state == RUNNING and self.session is not None

    # -- the step -----------------------------------------------------------------------------

    def step_once(self, snapshots: bool = False) -> None:
        """One training step and what follows it: a timeline moment when due, the epoch end
        (test set, watched inspections), the end of the run or of a Step epoch, and the
        snapshots when their interval has passed (or `snapshots` asks)."""
        s = self.session
        if s.finished:
            self._complete()
            return
        epoch = s.epoch
        s.step()
        self._record_moment()
        snapshots = snapshots or time.monotonic() - self._last_snapshot >= self.snapshot_interval
        if s.epoch != epoch:
            self._epoch_end()
            snapshots = True
        if s.finished:
            self._complete(snapshots=False)
            snapshots = True
        elif self._until_epoch is not None and s.epoch >= self._until_epoch:
            self._until_epoch = None
            self._set_state(PAUSED)
            snapshots = True
        if snapshots:
            self._snapshots()

    def run_safely(self, fn: Callable, *args, training: bool = False) -> None:
        """Run a command (or, with training=True, a step): a divergence pauses and is
        reported with its advice; any other failure is reported and the run goes on (a
        failed step pauses it)."""
        try:
            fn(*args)
        except DivergenceError as exc:
            self._diverged(exc)
        except Exception as exc:
            if training or not isinstance(exc, (ValueError, OSError, KeyError, RuntimeError)):
                traceback.print_exc()
            self.notify("busy", "")
            text = str(exc) or exc.__class__.__name__
            if training:
                self._until_epoch = None
                self._set_state(PAUSED)
                text = f"training stopped: {exc.__class__.__name__}: {exc}"
            self.notify("error", text)

    def close(self) -> None:
        """Delete the timeline's checkpoints."""
        self.timeline.close()

    # -- commands: the session ---------------------------------------------------------------

    def new_session(self, config: TrainConfig, dataset) -> None:
        self._build(config, dataset, "new")

    def reset(self, config: TrainConfig | None = None) -> None:
        if self.dataset is None:
            raise RuntimeError("no data loaded yet")
        self._build(config or self.session.config, self.dataset, "reset")

    def open(self, path: str) -> None:
        """A saved run on the current dataset (numpy when its GPU backend is unusable here)."""
        if self.dataset is None:
            raise RuntimeError("load a dataset before opening a checkpoint")
        with self._busy(f"opening {path}"):
            meta, _ = read_checkpoint(path)
            overrides = {}
            if meta["config"].get("backend") in ("cupy", "auto") and not gpu_status()[0]:
                overrides["backend"] = "numpy"
            session = TrainingSession.from_checkpoint(path, dataset=self.dataset, **overrides)
        self._install(session, f"opened {path}")
        self._evaluate()

    def save(self, path: str) -> None:
        self._need_session().save(path)
        self.notify("saved", str(path))

    def export_onnx(self, path: str) -> None:
        """The network as an ONNX graph (training.onnx_export); notified as "saved"."""
        from cnnviz.training.onnx_export import export_onnx

        s = self._need_session()
        with self._busy(f"exporting {path}"):
            export_onnx(s.model, s.norm, path, s.class_names)
        self.notify("saved", str(path))

    # -- commands: running ---------------------------------------------------------------------

    def start(self, config: TrainConfig | None = None) -> None:
        """Start or resume. `config` holds the panel's settings: before the first step all of
        them apply (a new session when any differs); after it, the LIVE and ON_RESUME ones."""
        s = self._need_session()
        if config is not None:
            if s.step_count == 0 and changed(config, s.config, ON_RESUME + ON_RESET):
                self._build(config, self.dataset, "reset")
                s = self.session
            else:
                self.apply(config, LIVE + ON_RESUME)
        if s.finished:
            self._complete()
            return
        self._until_epoch = None
        self._set_state(RUNNING)

    def apply(self, config: TrainConfig, fields: tuple = LIVE) -> None:
        """Take `fields` of `config` into the running session (LIVE at any time, ON_RESUME
        between steps); the config now in effect is notified as "applied"."""
        s = self._need_session()
        note = s.apply(config, fields)  # a sentence when a finished run was extended
        self.notify("applied", copy.deepcopy(s.config))
        if note:
            self.notify("message", note)

    def pause(self) -> None:
        self._until_epoch = None
        if self.state == RUNNING:
            self._set_state(PAUSED)
            self._snapshots()

    def stop(self) -> None:
        self._until_epoch = None
        if self.state != STOPPED:
            self._set_state(STOPPED)
            self._snapshots()

    def step_batch(self) -> None:
        """Exactly one step, then paused."""
        if self.session is None:
            return
        self._until_epoch = None
        self._set_state(PAUSED)
        self.step_once(snapshots=True)

    def step_epoch(self) -> None:
        """Train to the end of the current epoch, then pause."""
        s = self.session
        if s is None:
            return
        if s.finished:
            self._complete()
            return
        self._until_epoch = s.epoch + 1
        self._set_state(RUNNING)

    def evaluate(self) -> None:
        if self.session is not None:
            self._evaluate()

    def lr_find(self, options: dict | None = None) -> None:
        """The learning-rate range test on a copy of the run (lr_find.find_and_notify)."""
        find_and_notify(self._need_session(), self.notify, self.stop_event, **(options or {}))

    # -- commands: the timeline -----------------------------------------------------------------

    def moment(self, step: int) -> None:
        """The recorded moment at or before `step`, notified as "moment"."""
        self.notify("moment", self.timeline.at(step))  # LookupError when nothing is recorded

    def set_timeline(self, every: int, max_mb: float) -> None:
        self.timeline.configure(every, max_mb)
        self._timeline_failed = False
        self.mailbox.put(self.timeline.state())

    def branch(self, step: int, config: TrainConfig | None = None) -> None:
        """Go back to the moment at `step` and train on from it with `config`'s LIVE and
        ON_RESUME settings; the run's history before the branch goes with the SessionInfo."""
        s = self._need_session()
        moment: Moment = self.timeline.at(step)
        with self._busy(f"going back to step {moment.step}"):
            old = self.timeline.branch(s, moment)
            if config is not None:
                self.apply(config, LIVE + ON_RESUME)
        self._until_epoch = None
        self.mailbox.clear()  # nothing of the abandoned future may reach the panels
        self.notify("session", SessionInfo.of(s, f"branched from step {moment.step}", old))
        self.mailbox.put(self.timeline.state())
        self._evaluate()
        self.snapshots()
        self._set_state(STOPPED if s.finished else RUNNING)

    # -- the policy ------------------------------------------------------------------------------

    @contextmanager
    def _busy(self, what: str):
        """Tell the GUI what takes long (`what`), and when it is done."""
        self.notify("busy", what)
        try:
            yield
        finally:
            self.notify("busy", "")

    def _need_session(self) -> TrainingSession:
        if self.session is None:
            raise RuntimeError("no session: load a dataset first")
        return self.session

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.notify("state", state)

    def _build(self, config: TrainConfig, dataset, reason: str) -> None:
        with self._busy("building the model"):
            session = TrainingSession(copy.deepcopy(config), dataset)
        self._install(session, reason)

    def _install(self, session: TrainingSession, reason: str) -> None:
        """Make `session` the one driven: a fresh timeline, test digit 0, stopped."""
        if self.session is not None:
            self.session.listeners.clear()
        self.session, self.dataset = session, session.dataset
        session.stop_event = self.stop_event  # closing stops an evaluation between batches
        session.collect_layer_stats = "stats" in self.watched
        session.listeners.append(self.mailbox.put)
        self._until_epoch = None
        self.digit, self.preferred = 0, None
        old = self.timeline
        old.close()
        self.timeline = Timeline(old.every, old.max_bytes / 2**20)
        self._timeline_failed = False
        self.mailbox.clear()  # nothing of the old session may reach the new panels
        self._set_state(STOPPED)
        self.notify("applied", copy.deepcopy(session.config))
        self.notify("session", SessionInfo.of(session, reason))
        self.mailbox.put(self.timeline.state())
        self._snapshots()

    def _complete(self, snapshots: bool = True) -> None:
        self._until_epoch = None
        self._set_state(STOPPED)
        if snapshots:
            self._snapshots()
        self.notify("message", f"run complete: {self.session.config.epochs} epochs, "
                               f"{self.session.step_count} steps; raise Epochs and Start to "
                               "go on, or Reset")

    def _diverged(self, exc: DivergenceError) -> None:
        self._until_epoch = None
        self._set_state(PAUSED)
        self._snapshots()
        self.notify("diverged", str(exc))

    @quiet
    def _evaluate(self):
        """The test split (to the mailbox); None when closing stopped it."""
        s = self.session
        with self._busy(f"evaluating {len(s.splits['test'][1])} test images"):
            return s.evaluate("test")

    def _epoch_end(self) -> None:
        """The test set, then the watched inspections that refresh once per epoch."""
        if self._evaluate() is not None:
            self._views_at_epoch_end()

    @quiet
    def _record_moment(self) -> None:
        """A timeline moment when one is due: kernels, the chosen digit's activations and the
        confusion matrix of the first TIMELINE_TEST test digits, and the preferred inputs
        while watched (_preferred_for_moment), with a checkpoint. A snapshot that cannot be
        written is reported once and training goes on."""
        s = self.session
        if self._timeline_failed or not self.timeline.due(s.step_count):
            return
        ev = s.evaluate("test", limit=TIMELINE_TEST, emit=False)
        if ev is None:  # closing
            return
        try:
            self.timeline.record(s, s.activations(self.digit), ev,
                                 self._preferred_for_moment())
        except OSError as exc:  # a full disk must not stop training
            self._timeline_failed = True
            self.notify("error", (
                f"The timeline could not save its snapshot of step {s.step_count} in "
                f"{self.timeline.folder}: {exc}. Training goes on, without new snapshots; "
                "free some disk space (or point TMPDIR to a larger disk and restart), then "
                "change a timeline setting to record again."))
            return
        self.mailbox.put(self.timeline.state())
