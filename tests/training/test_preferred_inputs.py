"""TrainingSession.preferred_inputs: synthesized inputs emitted as a PreferredInputs event."""

import numpy as np
import pytest

from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training.events import PreferredInputs
from tests.specs import two_conv


@pytest.fixture(scope="module")
def session():
    return TrainingSession(TrainConfig(spec=two_conv(), batch_size=32, epochs=1, val_size=60,
                                       seed=1), synthetic_dataset(200, 50))


def _range(session):
    mean, std = (np.asarray(v, np.float32) for v in session.norm)
    return (0 - mean) / std, (1 - mean) / std


@pytest.mark.parametrize("classes", [False, True])
def test_preferred_inputs_emit_one_input_per_channel_or_class(session, classes):
    got = []
    session.listeners.append(got.append)
    layer = "3.Conv2D"
    ev = session.preferred_inputs(layer, classes=classes, steps=20)
    shape = {r["name"]: r["output_shape"] for r in session.model.summary()}[layer]
    k = session.model_classes() if classes else shape[0]
    assert isinstance(ev, PreferredInputs)
    assert ev.layer == ("classes" if classes else layer) and ev.step == session.step_count
    assert ev.images.shape == (k, *session.splits["test"][0].shape[1:])
    assert ev.images.dtype == np.float32 and ev.objective.shape == (k,)
    lo, hi = _range(session)
    assert ev.images.min() >= lo.min() - 1e-5 and ev.images.max() <= hi.max() + 1e-5
    assert ev.images.std() > 0 and ev.seconds > 0
    assert got == [ev]
    session.listeners.remove(got.append)


@pytest.mark.parametrize("classes", [False, True])
def test_each_input_comes_with_the_strongest_test_image(session, classes):
    ev = session.preferred_inputs("3.Conv2D", classes=classes, steps=5)
    x = session.splits["test"][0]
    h = x
    layers = session.model.layers if classes else session.model.layers[:4]
    for lyr in layers:
        h = lyr.forward(h, False)
    scores = h if classes else h.mean(axis=(2, 3))
    np.testing.assert_array_equal(ev.best_index, scores.argmax(axis=0))
    np.testing.assert_allclose(ev.best_objective, scores.max(axis=0), rtol=1e-5, atol=1e-6)


def test_attack_and_attack_all_emit_their_events(session):
    from cnnviz.training.events import AttackResult, AttackSummary

    got = []
    session.listeners.append(got.append)
    try:
        x, y = session.splits["test"]
        target = (int(y[4]) + 1) % 10
        ev = session.attack(4, target)
        assert isinstance(ev, AttackResult) and got[-1] is ev
        assert ev.target == target and ev.label == int(y[4]) and ev.step == session.step_count
        assert ev.image.shape == ev.delta.shape == (28, 28)
        np.testing.assert_array_equal(ev.image, x[4, 0])
        assert ev.linf == pytest.approx(float(np.abs(ev.delta).max()))
        assert ev.success == (ev.predicted == target == int(ev.probs_after.argmax()))
        drawn = session.attack(np.zeros((28, 28), np.uint8), 3)
        assert drawn.label is None
        summary = session.attack_all(2, n=6)
        assert isinstance(summary, AttackSummary) and got[-1] is summary
        np.testing.assert_array_equal(summary.indices, np.flatnonzero(y != 2)[:6])
        assert summary.success_rate == pytest.approx(summary.success.mean())
        won = summary.linf[summary.success]
        assert np.isnan(summary.median_linf) if not len(won) else (
            summary.median_linf == pytest.approx(float(np.median(won))))
        session.stop_event.set()
        try:
            assert session.attack_all(2, n=6) is None and got[-1] is summary
        finally:
            session.stop_event.clear()
    finally:
        session.listeners.remove(got.append)
