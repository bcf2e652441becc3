"""What crosses from the training thread to the GUI, without Qt: the mailbox and its drained
`Updates`. The run driver puts events in on the training thread; the controller takes them
out on the GUI thread at a bounded rate."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

import numpy as np

from cnnviz.training import events as ev
from cnnviz.training.history import epoch_rows, step_rows
from cnnviz.training.timeline import TimelineState

__all__ = ["Mailbox", "Updates"]


@dataclass
class Updates:
    """Everything new since the last drain. steps, epochs, layer_stats: every one, in order;
    the rest: only the newest (None when nothing new)."""

    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    layer_stats: list = field(default_factory=list)
    filters: ev.FilterSnapshot | None = None
    batch: ev.TrainingBatch | None = None
    activations: ev.ActivationSnapshot | None = None
    evaluation: ev.Evaluation | None = None
    attribution: ev.Attribution | None = None
    top: ev.TopActivations | None = None
    embedding: ev.Embedding | None = None
    preferred: ev.PreferredInputs | None = None
    attack: ev.AttackResult | None = None
    attack_summary: ev.AttackSummary | None = None
    timeline: TimelineState | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def step_array(self) -> np.ndarray:
        """steps as (n, 4) float64 rows in STEP_COLUMNS order."""
        return step_rows(self.steps)

    def epoch_array(self) -> np.ndarray:
        """epochs as (n, 8) float64 rows in EPOCH_COLUMNS order."""
        return epoch_rows(self.epochs)


#: Event type -> the Updates field that keeps every one / only the newest of that type.
_EVERY = {ev.StepMetrics: "steps", ev.EpochMetrics: "epochs", ev.LayerStats: "layer_stats"}
_NEWEST = {ev.FilterSnapshot: "filters", ev.TrainingBatch: "batch",
           ev.ActivationSnapshot: "activations",
           ev.Evaluation: "evaluation", ev.Attribution: "attribution", ev.TopActivations: "top",
           ev.Embedding: "embedding", ev.PreferredInputs: "preferred", ev.AttackResult: "attack",
           ev.AttackSummary: "attack_summary", TimelineState: "timeline"}


class Mailbox:
    """Thread-safe drop box: `put` on the training thread, `take` on the GUI thread. Events
    of other types, and evaluations of other splits than the test set, are dropped (the
    validation pass at each epoch end is in EpochMetrics already)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._box = Updates()

    def put(self, event) -> None:
        if isinstance(event, ev.Evaluation) and event.split != "test":
            return
        kind = type(event)
        with self._lock:
            if kind in _EVERY:
                getattr(self._box, _EVERY[kind]).append(event)
            elif kind in _NEWEST:
                setattr(self._box, _NEWEST[kind], event)

    def take(self) -> Updates:
        with self._lock:
            box, self._box = self._box, Updates()
        return box

    def clear(self) -> None:
        self.take()
