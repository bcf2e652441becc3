"""The training worker thread and its controller, without the window."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cnnviz.app.messages import Mailbox, Updates
from cnnviz.data.loader import channel_stats
from cnnviz.training.events import (
    ActivationSnapshot,
    Evaluation,
    FilterSnapshot,
    StepMetrics,
)


class Collector:
    """Gathers every Updates the controller emits."""

    def __init__(self, controller):
        self.steps, self.epochs = [], []
        self.filters = self.activations = self.evaluation = None
        self.evaluations = []
        controller.sigUpdates.connect(self.on_updates)

    def on_updates(self, up: Updates):
        self.steps += up.steps
        self.epochs += up.epochs
        if up.filters is not None:
            self.filters = up.filters
        if up.activations is not None:
            self.activations = up.activations
        if up.evaluation is not None:
            self.evaluation = up.evaluation
            self.evaluations.append(up.evaluation)


def ready(qtbot, controller, config, dataset):
    with qtbot.waitSignal(controller.sigSessionReady, timeout=15000) as blocker:
        controller.new_session(config, dataset)
    return blocker.args[0]


def wait_state(qtbot, controller, state, timeout=10000):
    qtbot.waitUntil(lambda: controller.state == state, timeout=timeout)


def test_mailbox_keeps_every_metric_and_the_newest_snapshot():
    box = Mailbox()
    for i in range(5):
        box.put(StepMetrics(i + 1, 0, i + 1, 1.0, 0.5, 0.1, 0.9, 100.0))
    box.put(FilterSnapshot(1, {}))
    box.put(FilterSnapshot(2, {}))
    ev = Evaluation("test", 3, 0.1, 0.9, np.eye(2, dtype=np.int64), np.zeros(2), np.zeros(2),
                    np.zeros((2, 2)))
    box.put(ev)
    box.put(Evaluation("val", 4, 0.1, 0.9, np.eye(2, dtype=np.int64), np.zeros(2),
                       np.zeros(2), np.zeros((2, 2))))
    up = box.take()
    assert [m.step for m in up.steps] == [1, 2, 3, 4, 5]
    assert up.filters.step == 2
    assert up.evaluation is ev  # the validation pass is not the confusion matrix's
    assert up.step_array().shape == (5, 4)
    assert not box.take()


def test_session_info_carries_test_images(qtbot, controller, config, dataset):
    info = ready(qtbot, controller, config, dataset)
    assert info.step == 0 and info.reason == "new"
    np.testing.assert_array_equal(info.test_images, dataset.test_images)
    assert info.test_images is not dataset.test_images
    assert info.class_names == dataset.class_names
    assert info.summary[-1]["output_shape"] == (10,)
    assert controller.state == "stopped"


def test_start_sends_metrics_and_snapshots(qtbot, controller, config, dataset):
    got = Collector(controller)
    ready(qtbot, controller, config, dataset)
    controller.start()
    qtbot.waitUntil(lambda: len(got.steps) >= 10 and got.filters is not None
                    and got.activations is not None, timeout=20000)
    assert controller.state == "running"
    controller.pause()
    wait_state(qtbot, controller, "paused")
    steps = [m.step for m in got.steps]
    assert steps == list(range(1, len(steps) + 1))
    assert set(got.filters.filters) == {"0.Conv2D", "3.Conv2D"}


def test_pause_then_step_advances_exactly_one_batch(qtbot, controller, config, dataset):
    got = Collector(controller)
    ready(qtbot, controller, config, dataset)
    controller.start()
    qtbot.waitUntil(lambda: len(got.steps) >= 3, timeout=20000)
    controller.pause()
    wait_state(qtbot, controller, "paused")
    qtbot.wait(200)  # the steps taken before the pause are drained
    before = len(got.steps)
    with qtbot.waitSignal(controller.sigCommandDone, timeout=10000,
                          check_params_cb=lambda name: name == "step_batch"):
        controller.step_batch()
    qtbot.waitUntil(lambda: len(got.steps) == before + 1, timeout=5000)
    qtbot.wait(300)  # nothing else runs while paused
    assert [m.step for m in got.steps] == list(range(1, before + 2))
    assert controller.last_step is got.steps[-1] and controller.state == "paused"


def test_step_epoch_stops_at_the_epoch_end_and_evaluates(qtbot, controller, config, dataset):
    got = Collector(controller)
    info = ready(qtbot, controller, config, dataset)
    controller.step_epoch()
    qtbot.waitUntil(lambda: controller.state == "paused" and got.evaluation is not None,
                    timeout=30000)
    qtbot.waitUntil(lambda: len(got.epochs) == 1, timeout=5000)
    assert got.steps[-1].step == info.steps_per_epoch == got.epochs[0].step
    ev = got.evaluation
    assert ev.split == "test" and ev.step == info.steps_per_epoch
    assert ev.confusion.sum() == len(dataset.test_labels) == len(ev.predictions)
    assert np.isfinite(got.epochs[0].val_loss)


def test_choose_digit_index_and_drawing(qtbot, controller, config, dataset):
    got = Collector(controller)
    ready(qtbot, controller, config, dataset)
    controller.choose_digit(7)
    qtbot.waitUntil(lambda: got.activations is not None and got.activations.label
                    == int(dataset.test_labels[7]), timeout=10000)
    snap = got.activations
    assert isinstance(snap, ActivationSnapshot)
    assert [name for name, _ in snap.maps][0] == "0.Conv2D"
    assert snap.probs.shape == (10,) and abs(snap.probs.sum() - 1) < 1e-5

    drawing = np.zeros((28, 28), np.float32)
    drawing[5:20, 12:16] = 1.0
    got.activations = None
    controller.choose_digit(drawing)
    qtbot.waitUntil(lambda: got.activations is not None and got.activations.label is None,
                    timeout=10000)
    # normalised as the session's training images: full ink -> (1 - mean) / std
    (mean,), (std,) = channel_stats(dataset.name, dataset.train_images)
    assert got.activations.image.max() == pytest.approx((1 - mean) / std, rel=1e-4)


def test_learning_rate_applies_live(qtbot, controller, config, dataset):
    got = Collector(controller)
    ready(qtbot, controller, config, dataset)
    controller.start()
    qtbot.waitUntil(lambda: len(got.steps) >= 2, timeout=20000)
    config.lr, config.momentum = 1e-4, 0.5
    config.batch_size = 8  # not a live setting: ignored until Reset
    with qtbot.waitSignal(controller.sigApplied, timeout=10000) as blocker:
        controller.apply(config)
    assert blocker.args[0].momentum == 0.5 and blocker.args[0].batch_size == 32
    assert controller.config.lr == 1e-4
    n = len(got.steps)
    qtbot.waitUntil(lambda: len(got.steps) >= n + 5, timeout=20000)
    assert got.steps[-1].lr == pytest.approx(1e-4)
    assert got.steps[-1].momentum == pytest.approx(0.5)
    assert controller.state == "running"


def test_divergence_pauses_and_explains(qtbot, controller, config, dataset):
    config.optimizer, config.lr = "sgd", 1e6
    ready(qtbot, controller, config, dataset)
    with qtbot.waitSignal(controller.sigDiverged, timeout=30000) as blocker:
        controller.start()
    message = blocker.args[0]
    assert "diverged at step" in message and "Lower the learning rate" in message
    wait_state(qtbot, controller, "paused")


def test_bad_checkpoint_reports_an_error_and_keeps_running(qtbot, controller, config,
                                                           dataset, tmp_path):
    got = Collector(controller)
    ready(qtbot, controller, config, dataset)
    with qtbot.waitSignal(controller.sigError, timeout=10000) as blocker:
        controller.open(tmp_path / "missing.npz")
    assert "no such checkpoint" in blocker.args[0]
    assert controller.is_running()
    controller.step_batch()
    qtbot.waitUntil(lambda: [m.step for m in got.steps] == [1], timeout=10000)


def test_shutdown_mid_epoch_is_quick(qtbot, controller, dataset_factory):
    from cnnviz.training import TrainConfig

    cfg = TrainConfig(arch="cnn-bn", batch_size=64, epochs=5, val_size=0)
    got = Collector(controller)
    info = ready(qtbot, controller, cfg, dataset_factory(12000, 200))
    controller.start()
    qtbot.waitUntil(lambda: len(got.steps) >= 2, timeout=20000)
    t0 = time.perf_counter()
    assert controller.shutdown()
    elapsed = time.perf_counter() - t0
    print(f"\nshutdown mid-epoch took {elapsed * 1e3:.0f} ms")
    assert elapsed < 1.0
    assert not controller.is_running()
    assert got.steps[-1].position < info.steps_per_epoch  # it really was mid-epoch
