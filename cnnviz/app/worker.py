"""The training thread: a QObject moved to a QThread that runs the RunDriver.

Its loop takes commands, (driver method, args) pairs, from a queue between training steps,
trains while the driver is running, and stops when the exit event is set. The driver's notices
leave through one signal, `sigNotice(kind, value)`; `sigFinished` is emitted in a `finally`.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback

from PySide6.QtCore import QObject, Signal, Slot

from cnnviz.app.messages import Mailbox
from cnnviz.training.driver import RunDriver

__all__ = ["TrainingWorker"]


class TrainingWorker(QObject):
    """Owns the RunDriver (and through it the session) on its own thread. Created without a
    parent, then moved to a QThread whose `started` runs `run()`; talk to it only through
    `commands`. yield_seconds: a sleep after each step that hands the GIL to the GUI."""

    sigNotice = Signal(str, object)  # one of training.driver.NOTICES, and its value
    sigFinished = Signal()

    def __init__(self, commands: queue.Queue, mailbox: Mailbox, exit_event: threading.Event,
                 yield_seconds: float = 0.0, **driver_options):
        super().__init__()  # no parent: it is moved to its thread
        self.commands = commands
        self.exit_event = exit_event
        self.yield_seconds = yield_seconds
        self.driver = RunDriver(mailbox, self.sigNotice.emit, exit_event, **driver_options)

    @Slot()
    def run(self) -> None:
        driver = self.driver
        try:
            while not self.exit_event.is_set():
                self._drain_commands(block=not driver.running)
                if self.exit_event.is_set():
                    break
                if driver.running:
                    driver.run_safely(driver.step_once, training=True)
                    time.sleep(self.yield_seconds)  # releases the GIL to the GUI thread
        except Exception as exc:  # a bug: report it rather than dying silently
            traceback.print_exc()
            self.sigNotice.emit("error", f"the training thread stopped: "
                                         f"{exc.__class__.__name__}: {exc}")
        finally:
            driver.close()
            self.sigFinished.emit()

    def _drain_commands(self, block: bool) -> None:
        """Run every queued command; wait up to 0.1 s for the first when `block`."""
        while not self.exit_event.is_set():
            try:
                fn, args = self.commands.get(timeout=0.1) if block else self.commands.get_nowait()
            except queue.Empty:
                return
            block = False
            if fn is None:  # a wake-up from shutdown
                continue
            self.driver.run_safely(fn, *args)
            self.sigNotice.emit("done", fn.__name__)
