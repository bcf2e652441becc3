"""Merge bursts of redraw requests into at most one redraw per interval."""

from __future__ import annotations

import math
import time

from PySide6 import QtCore

__all__ = ["Coalescer"]


class Coalescer(QtCore.QObject):
    """Run `fn` at most once per `interval_ms`, always with the newest state.

    Call `request()` as often as data arrives: the first request after a quiet spell runs
    on the next turn of the event loop (with `leading=False`: a full interval later, so a
    view fed at every drain of the training thread does not repaint in the same turn as
    the others), later ones are merged until the interval has passed. `flush()` runs a
    pending call at once (for accessors and tests).
    """

    def __init__(self, fn, interval_ms: int = 40, parent: QtCore.QObject | None = None,
                 leading: bool = True):
        super().__init__(parent)
        self._fn = fn
        self._interval = interval_ms / 1000.0
        self._leading = leading
        self._last = -math.inf
        self._pending = False
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._run)

    @property
    def pending(self) -> bool:
        return self._pending

    def request(self) -> None:
        self._pending = True
        if not self._timer.isActive():
            since = time.perf_counter() - self._last if self._leading else 0.0
            wait = self._interval - since
            self._timer.start(int(max(0.0, wait) * 1000))

    def flush(self) -> None:
        if self._pending:
            self._timer.stop()
            self._run()

    def _run(self) -> None:
        if not self._pending:
            return
        self._pending = False
        self._last = time.perf_counter()
        self._fn()
