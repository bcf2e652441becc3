"""Routes what the training thread reports to the panels: each drained `Updates`, and each new
session.

Metrics go to the curves at once (they redraw on their own timer). Snapshots are fed one
panel per event-loop turn, FEED_MS apart, newest only, so that each repaint is a short event
of its own (the GUI thread shares the GIL with the training thread, which slows every
repaint while training). While a timeline moment is shown, the docks that follow the
timeline keep it and live snapshots skip them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Slot

from cnnviz.app.controller import TrainingController
from cnnviz.app.docks import DOCKS
from cnnviz.app.messages import Updates
from cnnviz.app.state import AppState
from cnnviz.app.widgets.images import norm_of
from cnnviz.training.events import SessionInfo

__all__ = ["FEED_MS", "Router"]

FEED_MS = 15
_TIMELINE = {row.key for row in DOCKS if row.timeline}


class Router(QObject):
    """Feeds `panels` (dock key -> panel) from `controller` and `state`."""

    def __init__(self, controller: TrainingController, state: AppState, panels: dict):
        super().__init__(controller)
        self.controller, self.state, self.p = controller, state, panels
        self.evaluation = None  # the newest full test evaluation (shown again back from a moment)
        self._feeds: dict = {}  # key -> the newest pending feed, oldest key first
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FEED_MS)
        self._timer.timeout.connect(self._on_timer)
        controller.sigUpdates.connect(self._on_updates)
        controller.sigApplied.connect(panels["controls"].set_applied)
        controller.sigApplied.connect(self._progress)  # more epochs on Resume: a new total
        state.sigSessionChanged.connect(self._on_session)
        state.sigMomentChanged.connect(self._on_moment)

    @Slot(object)
    def _on_updates(self, up: Updates) -> None:
        p, live = self.p, self.state.moment is None
        if up.steps:
            p["curves"].append_steps(up.step_array())
            self._progress()
        if up.epochs:
            p["curves"].append_epochs(up.epoch_array())
            em = up.epochs[-1]
            if np.isfinite(em.val_accuracy):
                p["controls"].set_result("val", em.val_accuracy, em.step)
        for stats in up.layer_stats:
            p["debugger"].set_stats(stats)  # cheap: it redraws on its own timer
        if up.timeline is not None:
            t = up.timeline
            p["timeline"].set_moments(list(t.steps), t.memory_mb, t.budget_mb, t.disk_mb)
        if up.evaluation is not None:
            self._evaluated(up.evaluation, live)
        names, norm = self.state.class_names, norm_of(self.state)
        for key, value, feed in (
                ("filters", up.filters, lambda v: p["filters"].set_filters(v)),
                ("training_batch", up.batch,
                 lambda v: p["training_batch"].set_batch(v, names, norm)),
                ("activations", up.activations, self._show_activations),
                ("attribution", up.attribution,
                 lambda v: p["attribution"].set_attribution(v, names, norm)),
                ("top_digits", up.top, lambda v: p["top_digits"].set_top(v)),
                ("embedding", up.embedding, lambda v: p["embedding"].set_embedding(v, names)),
                ("preferred", up.preferred, lambda v: p["preferred"].set_preferred(v, names)),
                ("attack", up.attack, lambda v: p["attack"].set_attack(v, norm)),
                ("attack_summary", up.attack_summary, lambda v: p["attack"].set_summary(v))):
            if value is not None and (live or key not in _TIMELINE):
                self.queue(key, feed, value)

    def _progress(self, *_) -> None:
        m, info, cfg = self.controller.last_step, self.state.info, self.controller.config
        if m is not None and info is not None:
            spe, epochs = info.steps_per_epoch, cfg.epochs
            self.p["controls"].set_progress(m.step, spe * epochs, m.epoch, epochs, m.position,
                                            spe, m.images_per_second, cfg.batch_size)

    def _evaluated(self, ev, live: bool) -> None:
        p = self.p
        p["curves"].add_evaluation(ev.step, ev.loss, ev.accuracy)
        p["controls"].set_result("test", ev.accuracy, ev.step)
        images = self.state.test_images
        if images is None or len(images) != len(ev.labels):
            return
        self.evaluation = ev
        if live:
            self.queue("confusion", self._show_evaluation, ev)
        self.queue("predictions", p["digits"].set_predictions, ev.predictions)

    def _show_evaluation(self, ev) -> None:
        self.p["confusion"].set_evaluation(ev, self.state.test_images, self.state.class_names)

    def _show_activations(self, snap) -> None:
        self.p["activations"].set_activations(snap, self.state.class_names,
                                              norm_of(self.state))
        self.p["digits"].set_prediction(snap.probs)

    # -- feeding one panel per turn ------------------------------------------------------------

    def queue(self, key: str, feed, value) -> None:
        """Call feed(value) soon, replacing what was pending for `key`."""
        self._feeds.pop(key, None)
        self._feeds[key] = (feed, value)
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def _on_timer(self) -> None:
        if self._feeds:
            feed, value = self._feeds.pop(next(iter(self._feeds)))
            feed(value)
        if self._feeds:
            self._timer.start()

    def flush(self) -> None:
        """Feed everything pending now, and draw the curves."""
        self._timer.stop()
        while self._feeds:
            feed, value = self._feeds.pop(next(iter(self._feeds)))
            feed(value)
        self.p["curves"].flush()

    # -- state -----------------------------------------------------------------------------------

    @Slot(object)
    def _on_session(self, info: SessionInfo) -> None:
        """A new session: nothing of the previous one is fed; every panel gets its data."""
        p, images, layers = self.p, info.test_images, list(info.conv_layers)
        self._feeds.clear()
        self.evaluation = None
        p["curves"].set_history(info.history)
        p["curves"].set_overlay(info.previous_history)
        p["attribution"].set_layers(layers)
        p["top_digits"].set_layers(layers)
        p["top_digits"].set_test_images(images)
        p["preferred"].set_layers(layers)
        p["preferred"].set_class_names(info.class_names)
        p["preferred"].set_test_images(images)
        p["attack"].set_class_names(info.class_names)
        p["embedding"].set_test_images(images)
        p["digits"].set_test_set(images, info.test_labels, info.class_names)
        p["digits"].set_predictions(None)
        p["training_batch"].clear()
        shape = np.shape(images)[1:]
        input_shape = (3, *shape[:2]) if len(shape) == 3 else (1, *shape)
        if len(shape) in (2, 3) and tuple(input_shape) != p["architecture"].input_shape:
            p["architecture"].set_data(input_shape, len(info.class_names))
        else:
            p["architecture"].set_num_classes(len(info.class_names))
        p["architecture"].set_applied(info.spec)
        p["timeline"].go_live()
        controls, epochs = p["controls"], self.controller.config.epochs
        controls.reset_progress()
        if info.step:  # an opened or branched run: how far it is, its last validation
            spe = info.steps_per_epoch
            epoch, position = info.epoch, info.step - spe * info.epoch
            if epoch >= epochs:  # a finished run
                epoch, position = epochs - 1, spe
            controls.set_progress(info.step, spe * epochs, epoch, epochs, position, spe)
            val = info.history.epochs.last("val_accuracy")
            if np.isfinite(val):
                controls.set_result("val", val, int(info.history.epochs.last("step")))

    @Slot(object)
    def _on_moment(self, moment) -> None:
        """Drop live snapshots pending for the timeline docks; back to live, show the newest
        evaluation again and ask for fresh snapshots."""
        if moment is not None:
            for key in _TIMELINE:
                self._feeds.pop(key, None)
            return
        if self.evaluation is not None:
            self.queue("confusion", self._show_evaluation, self.evaluation)
        if self.state.info is not None:
            self.controller.snapshots()
