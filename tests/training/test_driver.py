"""The run driver without Qt: its commands, step policy, chosen digit, watched views and
timeline, called directly as the app's training thread calls them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig
from cnnviz.training.config import LIVE
from cnnviz.training.driver import NOTICES, PAUSED, RUNNING, STOPPED, RunDriver, check_digit
from cnnviz.training.events import (
    ActivationSnapshot,
    EpochMetrics,
    Evaluation,
    FilterSnapshot,
    LayerStats,
    StepMetrics,
)
from cnnviz.training.timeline import TimelineState
from tests.specs import bn_cnn


class Outbox:
    """Records what the driver puts in its mailbox and what it notifies."""

    def __init__(self):
        self.events, self.notices = [], []

    def put(self, event):
        self.events.append(event)

    def clear(self):
        self.events.clear()

    def notify(self, kind, value):
        assert kind in NOTICES
        self.notices.append((kind, value))

    def of(self, kind):
        return [v for k, v in self.notices if k == kind]

    def events_of(self, cls):
        return [e for e in self.events if isinstance(e, cls)]


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(300, 100)


def config(**kw):
    cfg = dict(spec=bn_cnn(), optimizer="adam", lr=3e-3, schedule="constant", batch_size=32,
               epochs=2, val_size=60, seed=1)
    cfg.update(kw)
    return TrainConfig(**cfg)


@pytest.fixture
def run(dataset):
    """(driver with a session on the synthetic data, its outbox)."""
    out = Outbox()
    d = RunDriver(out, out.notify, threading.Event(), snapshot_interval=3600)
    d.new_session(config(), dataset)
    yield d, out
    d.close()


def train_until(d, done, limit=200):
    for _ in range(limit):
        if done():
            return
        d.run_safely(d.step_once, training=True)
    raise AssertionError("never done")


def test_a_new_session_is_announced_with_its_config_and_first_snapshots(run, dataset):
    d, out = run
    (info,) = out.of("session")
    assert info.reason == "new" and info.step == 0 and d.state == STOPPED
    np.testing.assert_array_equal(info.test_images, dataset.test_images)
    assert out.of("applied")[-1].lr == 3e-3
    kinds = [k for k, _ in out.notices]
    assert kinds.index("applied") < kinds.index("session")  # the settings come first
    kinds = {type(e) for e in out.events}
    assert {TimelineState, FilterSnapshot, ActivationSnapshot} <= kinds


def test_step_batch_takes_exactly_one_step_and_pauses_with_fresh_snapshots(run):
    d, out = run
    out.clear()
    d.step_batch()
    assert d.session.step_count == 1 and d.state == PAUSED
    assert out.of("state") == [PAUSED]
    assert [m.step for m in out.events_of(StepMetrics)] == [1]
    assert out.events_of(FilterSnapshot)[-1].step == 1


def test_start_runs_to_the_end_with_a_test_evaluation_each_epoch(run):
    d, out = run
    d.start(None)
    assert d.running
    train_until(d, lambda: d.state == STOPPED)
    s = d.session
    assert s.finished and s.epoch == 2
    assert len(out.events_of(EpochMetrics)) == 2
    tests = [e for e in out.events_of(Evaluation) if e.split == "test"]
    assert [e.step for e in tests] == [s.steps_per_epoch, 2 * s.steps_per_epoch]
    assert "run complete" in out.of("message")[-1]
    d.start(None)  # a finished run does not start again
    assert d.state == STOPPED


def test_step_epoch_pauses_at_the_epoch_end(run):
    d, _ = run
    d.step_batch()
    d.step_epoch()
    train_until(d, lambda: d.state == PAUSED)
    assert d.session.step_count == d.session.steps_per_epoch


def test_live_settings_reach_the_optimizer_at_the_next_step_under_every_schedule(dataset):
    out = Outbox()
    d = RunDriver(out, out.notify, threading.Event(), snapshot_interval=3600)
    for schedule in ("constant", "step", "cosine", "onecycle"):
        d.new_session(config(optimizer="nesterov", lr=0.05, momentum=0.9,
                             schedule=schedule), dataset)
        d.step_batch()
        before = d.session.optimizer.momentum
        d.apply(config(optimizer="nesterov", lr=0.05, momentum=0.5, schedule=schedule), LIVE)
        assert out.of("applied")[-1].momentum == 0.5
        d.step_batch()
        assert d.session.optimizer.momentum < before - 0.3, schedule
    d.new_session(config(optimizer="momentum", momentum=0.9), dataset)
    for value in (0.0, 0.6):  # off and on again: zero must not switch it off for good
        d.apply(config(optimizer="momentum", momentum=value), LIVE)
        d.step_batch()
        assert d.session.optimizer.momentum == value
    d.close()


def test_start_applies_everything_before_the_first_step_and_only_resume_fields_after(run):
    d, out = run
    d.start(config(batch_size=16))  # nothing trained: a new session with the new batch size
    assert out.of("session")[-1].reason == "reset" and d.session.config.batch_size == 16
    d.pause()
    d.step_batch()
    d.start(config(batch_size=8, epochs=5, lr=1e-3))
    s = d.session
    assert s.config.batch_size == 16  # a reset setting waits for Reset
    assert s.config.epochs == 5 and s.config.lr == 1e-3
    assert out.of("applied")[-1].epochs == 5


def test_the_chosen_digit_is_checked_once_and_a_bad_one_is_refused(run):
    d, out = run
    d.choose_digit(7)
    assert d.digit == 7 and out.events_of(ActivationSnapshot)[-1].label == d.session.splits[
        "test"][1][7]
    d.run_safely(d.choose_digit, 100)  # the test set has 100 digits: 0..99
    assert d.digit == 7
    assert "no test digit 100" in out.of("error")[-1] and "0 to 99" in out.of("error")[-1]
    drawing = np.zeros((28, 28), np.float32)
    drawing[5:20, 12:15] = 1
    d.choose_digit(drawing)
    snap = out.events_of(ActivationSnapshot)[-1]
    assert snap.label is None and snap.image.shape == (28, 28)
    with pytest.raises(ValueError, match="28, 28"):
        check_digit(np.zeros((5, 5)), 100)
    with pytest.raises(ValueError, match="no test digit -1"):
        check_digit(-1, 100)


def test_layer_statistics_come_only_while_watched(run):
    d, out = run
    d.step_batch()
    assert not out.events_of(LayerStats)
    d.watch("stats")
    d.step_batch()
    d.step_batch()
    assert [e.step for e in out.events_of(LayerStats)] == [2, 3]
    d.watch("stats", False)
    d.step_batch()
    assert len(out.events_of(LayerStats)) == 2
    d.run_safely(d.watch, "everything")
    assert "cannot watch 'everything'" in out.of("error")[-1]


def test_a_divergence_pauses_and_says_why(dataset):
    out = Outbox()
    d = RunDriver(out, out.notify, threading.Event(), snapshot_interval=3600)
    d.new_session(config(optimizer="sgd", lr=1e6), dataset)
    d.start(None)
    train_until(d, lambda: d.state == PAUSED, limit=20)
    assert out.of("diverged") and "step" in out.of("diverged")[-1]
    d.close()


def test_timeline_records_scrubs_and_branches(run):
    d, out = run
    d.set_timeline(2, 64)
    for _ in range(5):
        d.step_batch()
    assert [m.step for m in d.timeline.moments] == [2, 4]
    assert out.events_of(TimelineState)[-1].steps == (2, 4)
    d.moment(3)
    assert out.of("moment")[-1].step == 2
    d.branch(2, config(lr=1e-3))
    info = out.of("session")[-1]
    assert info.reason == "branched from step 2" and info.step == 2
    assert len(info.previous_history.steps) == 5 and len(info.history.steps) == 2
    assert d.session.config.lr == 1e-3 and d.state == RUNNING
    assert [m.step for m in d.timeline.moments] == [2]


def test_a_timeline_that_cannot_write_is_reported_once_and_training_goes_on(run, monkeypatch):
    d, out = run
    d.set_timeline(1, 64)

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(d.timeline, "record", full_disk)
    for _ in range(3):
        d.step_batch()
    assert d.session.step_count == 3
    errors = out.of("error")
    assert len(errors) == 1 and "No space left" in errors[0] and "Training goes on" in errors[0]


def test_save_and_open_restore_the_run(run, tmp_path):
    d, out = run
    for _ in range(3):
        d.step_batch()
    path = tmp_path / "run.npz"
    d.save(str(path))
    assert out.of("saved") == [str(path)]
    d.reset()
    assert d.session.step_count == 0
    d.open(str(path))
    info = out.of("session")[-1]
    assert info.reason == f"opened {path}" and info.step == 3 and d.session.step_count == 3
    d.run_safely(d.open, str(tmp_path / "missing.npz"))
    assert "missing.npz" in out.of("error")[-1] and d.session.step_count == 3


def test_quiet_methods_nest_and_restore_numpy_error_state():
    from cnnviz.training.driver_views import quiet as _quiet

    @_quiet
    def inner():
        return np.geterr()["over"]

    @_quiet
    def outer():
        return inner(), np.geterr()["over"]

    before = np.geterr()
    assert outer() == ("ignore", "ignore")
    assert np.geterr() == before


def test_lr_find_notifies_the_curve_of_a_copy_and_leaves_the_run_alone(run):
    d, out = run
    d.step_batch()
    weights, count = d.session.model.state_dict(), d.session.step_count
    out.clear()
    out.notices.clear()
    d.run_safely(d.lr_find, {"steps": 10})
    (result,) = out.of("lr_find")
    assert len(result.lrs) == 10 and out.of("busy")[-1] == "" and not out.of("error")
    assert out.events == [] and d.session.step_count == count and d.state == PAUSED
    for name, arr in d.session.model.state_dict().items():
        assert arr.tobytes() == weights[name].tobytes(), name

    empty = RunDriver(out, out.notify, threading.Event())
    empty.run_safely(empty.lr_find, None)
    assert out.of("error")[-1] == "no session: load a dataset first"


def test_start_after_the_last_epoch_with_more_epochs_goes_on_and_says_how(run):
    d, out = run
    d.session.config.schedule = "onecycle"
    d.start(None)
    train_until(d, lambda: d.state == STOPPED)
    done = d.session.step_count
    d.start(config(epochs=3, schedule="onecycle"))
    assert d.running and d.session.cycle_start == done
    assert any("going on for" in m for m in out.of("message"))
    train_until(d, lambda: d.state == STOPPED)
    assert d.session.epoch == 3


def test_preferred_inputs_refresh_at_epoch_ends_and_ride_along_with_moments(run, monkeypatch):
    import cnnviz.training.driver_views as views
    from cnnviz.training.events import PreferredInputs

    d, out = run
    calls = []
    real = d.session.preferred_inputs
    monkeypatch.setattr(d.session, "preferred_inputs",
                        lambda layer, classes: calls.append((layer, classes)) or real(
                            layer, classes, steps=3))
    layer = d.session.conv_layers()[-1]
    d.preferred_inputs(layer)
    assert calls == [(layer, False)] and d.preferred is out.events_of(PreferredInputs)[-1]
    d.set_timeline(2, 64)
    monkeypatch.setattr(views, "PREFERRED_SHARE", 1e-9)  # too dear: moments reuse the newest
    for _ in range(4):
        d.step_batch()
    assert len(calls) == 1
    assert [m.preferred for m in d.timeline.moments] == [d.preferred, d.preferred]
    monkeypatch.setattr(views, "PREFERRED_SHARE", 1e9)  # cheap: each moment its own
    d.step_batch()
    d.step_batch()
    assert len(calls) == 2 and d.timeline.moments[-1].preferred.step == 6
    d.watch("preferred", False)
    d.step_batch()
    d.step_batch()
    assert len(calls) == 2 and d.timeline.moments[-1].preferred is None
    d.preferred_inputs(None, classes=True)
    d.set_timeline(1000, 64)
    n = len(calls)
    spe = d.session.steps_per_epoch
    train_until(d, lambda: d.session.step_count >= 2 * spe)
    assert calls[n:] == [(None, True)]  # the epoch end refreshed it


def test_attack_follows_the_chosen_digit_and_attack_all_runs_once(run):
    from cnnviz.training.events import AttackResult, AttackSummary

    d, out = run
    d.attack(3)
    first = out.events_of(AttackResult)[-1]
    assert first.target == 3 and first.label == int(d.session.splits["test"][1][0])
    d.choose_digit(5)
    assert out.events_of(AttackResult)[-1].label == int(d.session.splits["test"][1][5])
    d.watch("attack", False)
    d.choose_digit(6)
    assert len(out.events_of(AttackResult)) == 2
    d.attack_all(1)
    summary = out.events_of(AttackSummary)[-1]
    assert summary.target == 1 and len(summary.indices) == min(
        100, int((d.session.splits["test"][1] != 1).sum()))
    assert ("busy", "") in out.notices[-1:]
