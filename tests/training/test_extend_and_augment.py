"""Going on after a run ends (the schedule continues, the run keeps its name) and augmented
training batches (seeded, so a resumed run sees the same images)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.optim import scheduled_lr
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training.session import EXTEND_PEAK
from tests.specs import bn_cnn

DATA = synthetic_dataset(300, 100)


def make_session(**kw):
    cfg = dict(spec=bn_cnn(), batch_size=32, epochs=2, val_size=60, lr=0.05, seed=1)
    cfg.update(kw)
    return TrainingSession(TrainConfig(**cfg), DATA)


def weights(session):
    return {name: p.copy() for name, p, _ in session.model.parameters()}


def test_a_finished_run_given_more_epochs_goes_on_with_a_gentle_new_cycle(tmp_path):
    s = make_session()
    s.run()
    done = s.evaluate("test").accuracy
    s.save(tmp_path / "done.npz")
    r = TrainingSession.from_checkpoint(tmp_path / "done.npz", DATA)
    note = r.set_epochs(4)
    assert r.cycle_start == s.step_count and not r.finished
    assert "more steps" in note and "onecycle" in note and f"{0.05 * EXTEND_PEAK:g}" in note
    added = r.total_steps - r.cycle_start
    assert r.current_lr() == pytest.approx(scheduled_lr("onecycle", 0.05 * EXTEND_PEAK, 0, added))
    assert r.current_lr() < s.config.lr / 25  # far below where a re-stretched cycle would be
    r.run()
    assert r.finished and r.evaluate("test").accuracy >= done
    # the cycle start is part of the checkpoint
    r.save(tmp_path / "more.npz")
    again = TrainingSession.from_checkpoint(tmp_path / "more.npz", DATA)
    assert again.cycle_start == r.cycle_start and again.schedule_note() == r.schedule_note()


def test_changing_epochs_before_the_end_stretches_the_schedule():
    s = make_session()
    s.run_epoch()
    lr = s.current_lr()
    assert s.set_epochs(4) is None and s.cycle_start == 0
    assert s.current_lr() == pytest.approx(
        scheduled_lr("onecycle", 0.05, s.step_count, s.total_steps))
    assert s.current_lr() != lr
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        s.set_epochs(0)


def test_extending_through_apply_returns_the_note():
    s = make_session(epochs=1)
    s.run()
    assert s.apply(TrainConfig(epochs=3, spec=bn_cnn()), ["epochs"]).startswith("going on")
    assert s.config.epochs == 3 and s.cycle_start == s.step_count


def test_a_preset_run_keeps_its_name_when_resumed_and_a_custom_one_its_spec(tmp_path):
    s = TrainingSession(TrainConfig(arch="lenet5", epochs=1, val_size=60, batch_size=50), DATA)
    s.step()
    s.save(tmp_path / "p.npz")
    r = TrainingSession.from_checkpoint(tmp_path / "p.npz", DATA)
    assert r.config.spec is None and r.config.arch == "lenet5"
    c = make_session()
    c.step()
    c.save(tmp_path / "c.npz")
    assert TrainingSession.from_checkpoint(tmp_path / "c.npz", DATA).config.spec == c.model.spec


def test_augmented_batches_are_distorted_and_resume_exactly(tmp_path):
    plain, aug = make_session(augment=0.0), make_session(augment=1.0)
    for s in (plain, aug):
        for _ in range(3):
            s.step()
    assert any(not np.array_equal(weights(plain)[k], v) for k, v in weights(aug).items())
    aug.save(tmp_path / "a.npz")
    for _ in range(3):
        aug.step()
    resumed = TrainingSession.from_checkpoint(tmp_path / "a.npz", DATA)
    assert resumed.config.augment == 1.0
    for _ in range(3):
        resumed.step()
    for k, v in weights(aug).items():
        np.testing.assert_array_equal(weights(resumed)[k], v, err_msg=k)


def test_augment_off_gives_the_batch_itself_and_bad_strengths_are_refused():
    s = make_session(augment=0.0)
    x = s.splits["train"][0][:4]
    assert s._augment(x, s.batches.state_dict()) is x
    s.config.augment = 1.0
    y = s._augment(x, s.batches.state_dict())
    assert y.shape == x.shape and not np.array_equal(y, x)
    assert y.min() >= s.blank - 1e-6  # outside pixels are black, not zeros of the normalised data
    with pytest.raises(ValueError, match="strength"):
        TrainConfig(augment=-1.0).validate()
    with pytest.raises(ValueError, match="strength"):
        s.apply(TrainConfig(augment=-2.0), ["augment"])
    assert s.config.augment == 1.0


def test_batch_sample_shows_the_last_batch_as_the_network_received_it():
    s = make_session(augment=1.0)
    events = []
    s.listeners.append(events.append)
    assert s.batch_sample() is None  # nothing trained yet
    state = s.batches.state_dict()
    x, y, _ = s.batches.next_batch()
    s.batches.load_state_dict(state)
    s.step()
    ev = s.batch_sample()
    assert ev is events[-1] and ev.step == 1 and ev.augment == 1.0
    assert ev.images.shape == (8, 1, 28, 28) and ev.images.dtype == np.float32
    np.testing.assert_array_equal(ev.labels, y[:8])
    np.testing.assert_array_equal(ev.images, s._augment(x, state)[:8])  # distorted, as trained
    assert not np.array_equal(ev.images, x[:8])
