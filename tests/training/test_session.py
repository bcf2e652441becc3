"""The headless training session: steps, epochs, evaluation, events, divergence, hyperparameters."""

import dataclasses
import os

import numpy as np
import pytest

from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import DivergenceError, TrainConfig, TrainingSession
from cnnviz.training.checkpoint import CheckpointError
from cnnviz.training.events import (
    ActivationSnapshot,
    Diverged,
    EpochMetrics,
    Evaluation,
    FilterSnapshot,
    StepMetrics,
)
from tests.specs import bn_cnn

SMALL_SPEC = bn_cnn()


def make_session(**kw):
    cfg = dict(spec=SMALL_SPEC, batch_size=32, epochs=2, val_size=60, lr=3e-3, seed=1)
    cfg.update(kw)
    return TrainingSession(TrainConfig(**cfg), synthetic_dataset(300, 100))


def test_step_advances_one_batch_and_emits_numpy_only_events():
    s = make_session()
    events = []
    s.listeners.append(events.append)
    m = s.step()
    assert isinstance(m, StepMetrics) and events == [m]
    assert (s.step_count, s.epoch, s.position) == (1, 0, 1)
    assert isinstance(m.loss, float) and isinstance(m.lr, float) and m.loss > 0
    snap = s.filters()
    assert isinstance(snap, FilterSnapshot)
    assert list(snap.filters) == ["0.Conv2D"]
    assert snap.filters["0.Conv2D"].shape == (4, 1, 3, 3)
    assert type(snap.filters["0.Conv2D"]) is np.ndarray


def test_epoch_end_reports_validation_and_counts_steps():
    s = make_session()
    events = []
    s.listeners.append(events.append)
    n = s.run_epoch()
    assert n == s.steps_per_epoch == int(np.ceil(240 / 32))
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert len(epochs) == 1 and epochs[0].epoch == 0 and epochs[0].step == n
    assert 0 <= epochs[0].val_accuracy <= 1 and np.isfinite(epochs[0].val_loss)
    assert (s.epoch, s.position) == (1, 0)
    assert len(s.history.steps) == n and len(s.history.epochs) == 1
    steps = [e for e in events if isinstance(e, StepMetrics)]
    np.testing.assert_array_equal(s.history.steps["step"], [m.step for m in steps])
    np.testing.assert_array_equal(s.history.steps["loss"], [m.loss for m in steps])
    em = epochs[0]
    assert s.history.epochs.rows().tolist() == [
        [0, n, em.train_loss, em.train_accuracy, em.val_loss, em.val_accuracy, em.lr,
         em.seconds]]


def test_training_learns_the_synthetic_task():
    s = make_session(epochs=6)
    before = s.evaluate("test").accuracy
    s.run()
    after = s.evaluate("test")
    assert s.finished
    assert after.accuracy > 0.9 > before + 0.3


def test_evaluate_confusion_and_predictions_are_consistent():
    s = make_session()
    s.run_epoch()
    ev = s.evaluate("test")
    assert isinstance(ev, Evaluation)
    assert ev.confusion.shape == (10, 10) and ev.confusion.sum() == 100
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / 100)
    for t, p in [(int(a), int(b)) for a, b in zip(ev.labels[:20], ev.predictions[:20])]:
        assert ev.confusion[t, p] >= 1
    assert np.allclose(ev.probs.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(ev.predictions, ev.probs.argmax(axis=1))


def test_activations_of_a_test_index_and_of_a_drawing():
    s = make_session()
    snap = s.activations(3)
    assert isinstance(snap, ActivationSnapshot)
    assert snap.label == int(s.splits["test"][1][3])
    shapes = [m.shape for _, m in snap.maps]
    assert shapes[0] == (4, 28, 28) and shapes[3] == (4, 14, 14) and shapes[-1] == (10,)
    assert len(snap.maps) == len(SMALL_SPEC)
    assert snap.probs.sum() == pytest.approx(1, abs=1e-5)
    drawn = s.activations(np.zeros((28, 28), np.float32))
    assert drawn.label is None and drawn.image.shape == (28, 28)


def test_lr_and_momentum_change_between_steps():
    s = make_session(schedule="constant", optimizer="momentum", lr=0.01)
    assert s.step().lr == pytest.approx(0.01)
    s.set_hyper(lr=0.05, momentum=0.5)
    m = s.step()
    assert m.lr == pytest.approx(0.05) and m.momentum == pytest.approx(0.5)
    assert s.optimizer.momentum == pytest.approx(0.5)
    with pytest.raises(ValueError, match="learning rate"):
        s.set_hyper(lr=-1)


def test_stop_event_stops_between_steps():
    s = make_session()
    s.listeners.append(lambda e: s.stop_event.set() if getattr(e, "step", 0) >= 3 else None)
    s.run()
    assert s.step_count == 3


def test_evaluate_is_quiet_on_request_and_stops_between_batches(monkeypatch):
    import cnnviz.training.inspection as inspection_module

    s = make_session()
    events = []
    s.listeners.append(events.append)
    ev = s.evaluate("test", limit=30, emit=False)
    assert len(ev.labels) == 30 and ev.confusion.sum() == 30 and events == []
    monkeypatch.setattr(inspection_module, "EVAL_BATCH", 10)
    real_predict, calls = s.model.predict, []

    def predict(x):
        calls.append(len(x))
        if len(calls) == 2:
            s.stop_event.set()  # a close request while the second batch runs
        return real_predict(x)

    monkeypatch.setattr(s.model, "predict", predict)
    assert s.evaluate("test") is None
    assert calls == [10, 10] and events == []


def test_divergence_stops_with_step_and_advice_and_keeps_finite_weights():
    s = make_session()
    for _ in range(3):
        s.step()
    before = s.model.state_dict()
    s.splits["train"][0][:] = np.nan
    events = []
    s.listeners.append(events.append)
    with pytest.raises(DivergenceError) as info:
        s.step()
    msg = str(info.value)
    assert "step 4" in msg and "learning rate" in msg
    assert isinstance(events[-1], Diverged) and events[-1].step == 4
    after = s.model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert s.step_count == 3 and s.position == 3


def run_state(s):
    """(model.state_dict(), optimizer.state_dict()) of session s: copies, as numpy."""
    return s.model.state_dict(), s.optimizer.state_dict()


def assert_same_state(a, b):
    """Two run_state()s are bitwise equal: weights, buffers, optimizer step and every slot."""
    (wa, oa), (wb, ob) = a, b
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert oa["t"] == ob["t"] and oa["state"].keys() == ob["state"].keys()
    assert all(np.array_equal(oa["state"][k], ob["state"][k]) for k in oa["state"])


def assert_same_run(a, b):
    """Bitwise: weights and buffers, optimizer slots and step, dropout RNG, position, losses."""
    assert_same_state(run_state(a), run_state(b))
    assert a.model.rng_state() == b.model.rng_state()
    assert (a.step_count, a.epoch, a.position) == (b.step_count, b.epoch, b.position)
    np.testing.assert_array_equal(a.history.steps.rows(), b.history.steps.rows())


@pytest.mark.parametrize("stage", ["loss", "gradient"])
def test_a_diverged_step_is_undone_and_the_run_goes_on_as_if_never_tried(stage, monkeypatch):
    """The failed forward pass drew a dropout mask, moved the batch position and updated the
    BN statistics; divergence rolls all three back, so once the cause is gone the run
    retraces, bitwise, a run that never tried that step."""
    ref, s = make_session(), make_session()
    assert any(e["type"] == "Dropout" and e["p"] > 0 for e in SMALL_SPEC)
    for _ in range(3):
        ref.step()
        s.step()
    rng_before = s.model.rng_state()
    images = s.splits["train"][0]
    clean = images.copy()
    with monkeypatch.context() as m:
        if stage == "loss":
            images[:] = np.nan  # the loss (and the BN statistics) become NaN
        else:
            real = s.loss_fn.backward
            m.setattr(s.loss_fn, "backward", lambda: real() * np.inf)  # finite loss, NaN grads
        with pytest.raises(DivergenceError, match="step 4"):
            s.step()
    images[:] = clean
    assert s.model.rng_state() == rng_before  # the dropout draw was undone
    assert_same_run(s, ref)
    for _ in range(5):
        a, b = s.step(), ref.step()
        assert (a.step, a.loss, a.accuracy) == (b.step, b.loss, b.accuracy)
    assert_same_run(s, ref)


def test_bad_config_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        make_session(optimizer="adamw")
    with pytest.raises(ValueError, match="choose one of"):
        TrainConfig(arch="resnet").validate()


def test_events_are_frozen():
    s = make_session()
    m = s.step()
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.loss = 0.0


@pytest.mark.skipif(not os.environ.get("CNNVIZ_DATA"), reason="needs real MNIST in CNNVIZ_DATA")
def test_real_mnist_short_run_is_well_above_chance():
    cfg = TrainConfig(arch="lenet5", epochs=1, limit_train=3000, limit_test=1000, val_size=300,
                      optimizer="adam", lr=3e-3)
    s = TrainingSession(cfg)
    assert s.dataset.train_images.shape == (60000, 28, 28)
    s.run()
    ev = s.evaluate("test")
    assert ev.accuracy > 0.75, ev.accuracy  # chance is 0.10


def test_inspection_events_have_the_documented_shapes():
    s = make_session()
    s.run_epoch()
    att = s.attribution(5)
    assert att.layer == "3.MaxPool2D" and att.target == int(att.probs.argmax())
    assert att.saliency.shape == att.grad_cam.shape == att.occlusion.shape == (28, 28)
    assert att.label == int(s.splits["test"][1][5])
    assert s.attribution(np.zeros((28, 28)), target=2, layer="0.Conv2D").target == 2
    top = s.top_activations("2.ReLU", k=4)
    assert top.indices.shape == (4, 4) and top.maps.shape == (4, 4, 28, 28)
    assert np.all(np.diff(top.scores, axis=1) <= 0)
    emb = s.embedding(50)
    assert emb.coords.shape == (50, 2) and emb.layer == "6.ReLU"  # the Dropout is skipped
    assert np.array_equal(emb.labels, s.splits["test"][1][:50])
    assert np.array_equal(emb.predictions, s.evaluate("test", limit=50).predictions)


def colour_dataset(n_train=300, n_test=100, classes=5):
    """Synthetic squares in colour: class c tints its square differently per channel, so the
    colour carries information too. Images (N, 28, 28, 3) uint8."""
    grey = synthetic_dataset(n_train, n_test)
    tint = np.array([[1.0, 0.5, 0.2], [0.2, 1.0, 0.5], [0.5, 0.2, 1.0], [1.0, 1.0, 0.2],
                     [0.2, 1.0, 1.0]])

    def paint(images, labels):
        keep = labels < classes
        rgb = images[keep][..., None] * tint[labels[keep]][:, None, None, :]
        return rgb.astype(np.uint8), labels[keep]

    tx, ty = paint(grey.train_images, grey.train_labels)
    sx, sy = paint(grey.test_images, grey.test_labels)
    return dataclasses.replace(grey, name="colours", train_images=tx, train_labels=ty,
                               test_images=sx, test_labels=sy,
                               class_names=tuple("abcde"[:classes]))


def test_colour_data_trains_with_its_own_statistics_and_a_fitted_preset(tmp_path):
    data = colour_dataset()
    s = TrainingSession(TrainConfig(arch="lenet5", val_size=20, epochs=3, seed=1), data)
    assert s.model.input_shape == (3, 28, 28) and s.model.summary()[-1]["output_shape"] == (5,)
    mean, std = s.norm
    assert len(mean) == len(std) == 3 and mean[0] > mean[2] > 0  # measured on its images
    x = s.splits["train"][0]
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=0.1)  # normalised per channel
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1, atol=0.1)
    assert s.blank.shape == (3,)  # black, per channel, for augmentation
    before = s.evaluate("test").accuracy
    s.run()
    assert s.evaluate("test").accuracy > max(0.8, before + 0.3)
    s.save(tmp_path / "c.npz")
    r = TrainingSession.from_checkpoint(tmp_path / "c.npz", data)
    assert r.config.spec is None and r.config.arch == "lenet5" and r.norm == s.norm
    with pytest.raises(CheckpointError, match=r"other data.*input \(3, 28, 28\) here "
                       r"\(1, 28, 28\).*classes a, b, c, d, e here 0, 1.*normalised with mean"):
        TrainingSession.from_checkpoint(tmp_path / "c.npz", synthetic_dataset(300, 100))


def test_inspection_events_carry_colour_pictures_and_the_normalisation():
    from cnnviz.training.events import SessionInfo

    s = TrainingSession(TrainConfig(arch="lenet5", val_size=20, epochs=1), colour_dataset())
    s.step()
    act, att = s.activations(3), s.attribution(3)
    assert act.image.shape == att.image.shape == (28, 28, 3)
    np.testing.assert_array_equal(act.image, s.splits["test"][0][3].transpose(1, 2, 0))
    assert att.saliency.shape == att.grad_cam.shape == att.occlusion.shape == (28, 28)
    info = SessionInfo.of(s, "new")
    assert info.test_images.shape[1:] == (28, 28, 3) and info.norm == s.norm
