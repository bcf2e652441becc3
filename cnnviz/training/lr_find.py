"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates"; fastai's lr_find).

A copy of the session's model trains for a few steps while the rate rises exponentially; the
loss falls, flattens and blows up, and the rate where it falls fastest is a good one to train
at. The session itself is left exactly as it was. No Qt.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from cnnviz.training.session import DivergenceError, TrainingSession

#: Fewer points than this before the minimum of the smoothed loss: too few for a slope.
MIN_POINTS = 10


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
        """How the suggestion was found: "steepest" (the steepest fall of the smoothed loss),
        "minimum/10" (too few points before its minimum) or "none" (no step)."""
        return suggest(self.lrs, self.smoothed)[1]


def suggest(lrs: np.ndarray, smoothed: np.ndarray) -> tuple[float, str]:
    """(rate, method): the rate where the smoothed loss falls fastest against log(rate),
    looking from the first tenth of the curve (as fastai: the bias-corrected average of the
    first few losses is noise) up to its minimum, the slope taken across +-k/20 points (a
    one-point slope of that noise, amplified by the small step in log(rate), can beat the
    real fall); (rate at the minimum) / 10 when that part has fewer than MIN_POINTS points;
    (nan, "none") for an empty curve."""
    k = len(smoothed)
    if k == 0:
        return math.nan, "none"
    lo, first, w = int(np.argmin(smoothed)), k // 10, max(k // 20, 1)
    if lo + 1 - first < MIN_POINTS:
        return float(lrs[lo]) / 10, "minimum/10"
    idx = np.arange(first, lo + 1)
    a, b = np.maximum(idx - w, 0), np.minimum(idx + w, lo)
    x = np.log(lrs)
    slope = (smoothed[b] - smoothed[a]) / (x[b] - x[a])
    return float(lrs[idx[int(np.argmin(slope))]]), "steepest"


def check_arguments(steps=100, start=1e-6, end=1.0, smoothing=0.98, diverge_factor=4.0) -> None:
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
            smoothing: float = 0.98, diverge_factor: float = 4.0) -> LRFind:
    """Train a copy of `session`'s model (its current weights and batch-norm statistics, its
    config, a fresh optimizer, its training batches from the start of a fresh iterator) for
    up to `steps` steps, the rate rising exponentially from `start` to `end`; momentum and
    weight decay are the config's, the schedule constant. Stops early when the smoothed loss
    exceeds `diverge_factor` times its best value (that step is kept) or the loss or its
    gradient is not finite (that step is not). `session` is not changed and its listeners
    hear nothing."""
    check_arguments(steps, start, end, smoothing, diverge_factor)
    steps = int(steps)
    probe = _copy_session(session, start)
    rates = start * (end / start) ** (np.arange(steps) / (steps - 1))
    lrs, losses, smoothed = [], [], []
    avg, best, stopped = 0.0, math.inf, False
    for i, lr in enumerate(rates):
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
        if value > diverge_factor * best and i < steps - 1:
            stopped = True
            break
    lrs_a, smoothed_a = np.asarray(lrs, np.float64), np.asarray(smoothed, np.float64)
    return LRFind(lrs_a, np.asarray(losses, np.float64), smoothed_a,
                  suggest(lrs_a, smoothed_a)[0], stopped)


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
