"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates"; fastai's lr_find).

A copy of the session's model trains for a few steps while the rate rises exponentially; the
loss falls, flattens and blows up. The suggestion is the classic rule, a tenth of the rate where
the smoothed loss was lowest. (The rate of its steepest fall, which fastai once used, measured
useless here: on cnn-bn the fastest fall comes first, at 1e-4 to 8e-4, while the initial
oversized class scores shrink, far below the rates that train well, 3e-3 for Adam and 0.02-0.1
for Nesterov SGD; a tenth of the minimum gave 3e-3 for both.) The session itself is left exactly
as it was. No Qt.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnviz.training.session import DivergenceError, TrainingSession

#: A test that blew up within fewer steps than this has no curve worth showing.
MIN_POINTS = 10
#: LRFind.method, in words.
METHODS = {
    "minimum/10": "a tenth of the rate where the smoothed loss was lowest",
    "none": "no step was taken",
}


@dataclass
class LRFind:
    """What a range test measured. Every array has one entry per step taken (k <= steps)."""

    lrs: np.ndarray  # (k,) the rate of each step taken
    losses: np.ndarray  # (k,) raw batch losses
    smoothed: np.ndarray  # (k,) exponentially smoothed, bias-corrected (as fastai)
    suggestion: float  # the suggested learning rate (nan when no step was taken)
    stopped_early: bool  # the loss blew up or went non-finite before `steps`

    @property
    def method(self) -> str:
        """How the suggestion was found: "minimum/10" (a tenth of the rate at the smoothed
        loss's minimum) or "none" (no step)."""
        return suggest(self.lrs, self.smoothed)[1]


def suggest(lrs: np.ndarray, smoothed: np.ndarray) -> tuple[float, str]:
    """(rate, method): a tenth of the rate at the minimum of the smoothed loss, "minimum/10";
    (nan, "none") for an empty curve."""
    if len(smoothed) == 0:
        return math.nan, "none"
    return float(lrs[int(np.argmin(smoothed))]) / 10, "minimum/10"


def check_arguments(steps=100, start=1e-6, end=1.0, smoothing=0.9, diverge_factor=4.0) -> None:
    """Raise ValueError naming the first bad argument of lr_find."""
    if isinstance(steps, bool) or int(steps) != steps or steps < 10:
        raise ValueError(f"lr_find: steps must be an integer of at least 10, got {steps!r}")
    if not (math.isfinite(start) and start > 0):
        raise ValueError(f"lr_find: start must be a positive rate, got {start!r}")
    if not (math.isfinite(end) and end > start):
        raise ValueError(f"lr_find: end must be a finite rate above start ({start!r}), "
                         f"got {end!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"lr_find: smoothing must be in [0, 1), got {smoothing!r}")
    if not diverge_factor > 1:
        raise ValueError(f"lr_find: diverge_factor must be above 1, got {diverge_factor!r}")


def lr_find(session: TrainingSession, steps: int = 100, start: float = 1e-6, end: float = 1.0,
            smoothing: float = 0.9, diverge_factor: float = 4.0,
            progress: Callable[[int, int], object] | None = None,
            stop: Callable[[], bool] | None = None) -> LRFind:
    """Train a copy of `session`'s model (its current weights and batch-norm statistics, its
    config, a fresh optimizer, its training batches from the start of a fresh iterator) for
    up to `steps` steps, the rate rising exponentially from `start` to `end`; momentum and
    weight decay are the config's, the schedule constant. Stops early when the smoothed loss
    exceeds `diverge_factor` times its best value (that step is kept) or the loss or its
    gradient is not finite (that step is not). `session` is not changed and its listeners
    hear nothing.

    progress(done, steps) is called after each step kept. stop() is asked before each step:
    once it answers True the test ends there and returns what it measured so far
    (`stopped_early` stays False: the loss did not blow up)."""
    check_arguments(steps, start, end, smoothing, diverge_factor)
    steps = int(steps)
    probe = _copy_session(session, start)
    rates = start * (end / start) ** (np.arange(steps) / (steps - 1))
    lrs, losses, smoothed = [], [], []
    avg, best, stopped = 0.0, math.inf, False
    for i, lr in enumerate(rates):
        if stop is not None and stop():
            break
        probe.config.lr = float(lr)  # the constant schedule reads it at the step
        try:
            loss = probe.step().loss
        except DivergenceError:  # the probe's weights keep their last finite values
            stopped = True
            break
        avg = smoothing * avg + (1 - smoothing) * loss
        value = avg / (1 - smoothing ** (i + 1))
        lrs.append(float(lr))
        losses.append(loss)
        smoothed.append(value)
        best = min(best, value)
        if progress is not None:
            progress(i + 1, steps)
        if value > diverge_factor * best and i < steps - 1:
            stopped = True
            break
    lrs_a, smoothed_a = np.asarray(lrs, np.float64), np.asarray(smoothed, np.float64)
    return LRFind(lrs_a, np.asarray(losses, np.float64), smoothed_a,
                  suggest(lrs_a, smoothed_a)[0], stopped)


def find_and_notify(session: TrainingSession, notify: Callable, stop_event,
                    **options) -> None:
    """lr_find(session, **options) for a live run's thread (RunDriver.lr_find): what it does
    goes to notify("busy", ...) ("finding the lr: step 40/100"; "" when done) and the result
    to notify("lr_find", LRFind). Once `stop_event` (a threading.Event) is set, the app is
    closing: the test ends before its next step and nothing is notified. ValueError, in
    words for the user, when the loss blew up before the curve could show anything."""
    def progress(done: int, steps: int) -> None:
        notify("busy", f"finding the lr: step {done}/{steps}")

    notify("busy", "finding the lr")
    try:
        r = lr_find(session, progress=progress, stop=stop_event.is_set, **options)
    finally:
        notify("busy", "")
    if stop_event.is_set():
        return
    k = len(r.lrs)
    if k == 0:
        raise ValueError("The learning-rate test found nothing: the loss was not finite even "
                         "at its first rate. The run's weights may be broken; press Reset.")
    if r.stopped_early and k < MIN_POINTS:
        raise ValueError(f"The learning-rate test stopped after {k} step{'s' * (k > 1)}: the "
                         f"loss blew up already at a rate of {r.lrs[-1]:.2g}, too soon for a "
                         "suggestion. The run's weights may be close to diverging; press "
                         "Reset, or train on at a lower rate first.")
    notify("lr_find", r)


def _copy_session(session: TrainingSession, lr: float) -> TrainingSession:
    """A new session on the same data with `session`'s spec, config and current weights, a
    constant rate `lr`, and nothing evaluated at epoch ends."""
    config = copy.deepcopy(session.config)
    config.spec = copy.deepcopy(session.spec)
    config.schedule, config.lr, config.backend = "constant", float(lr), session.backend.name
    probe = TrainingSession(config, dataset=session.dataset)
    probe.model.load_state_dict(session.model.state_dict())
    vx, vy = probe.splits["val"]
    probe.splits["val"] = (vx[:0], vy[:0])  # the probe's epoch ends skip validation
    return probe
