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
