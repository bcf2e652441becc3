"""The learning-rate range test: the curve, the suggestion, stopping, and a session left alone."""

import threading

import numpy as np
import pytest

from cnnviz.core.losses import SoftmaxCrossEntropy
from cnnviz.data.loader import BatchIterator
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training.lr_find import METHODS, LRFind, find_and_notify, lr_find, suggest
from tests.specs import bn_cnn


def make_session(**kw):
    cfg = dict(spec=bn_cnn(), batch_size=32, epochs=2, val_size=60, lr=3e-3, seed=1)
    cfg.update(kw)
    return TrainingSession(TrainConfig(**cfg), synthetic_dataset(300, 100))


def test_curve_shapes_and_exponentially_rising_rates():
    s = make_session(arch="mlp", spec=None)
    r = lr_find(s, steps=30, start=1e-4, end=1e-1)
    assert isinstance(r, LRFind) and not r.stopped_early
    assert r.lrs.shape == r.losses.shape == r.smoothed.shape == (30,)
    assert r.lrs[0] == pytest.approx(1e-4) and r.lrs[-1] == pytest.approx(1e-1)
    assert np.all(np.diff(r.lrs) > 0)
    np.testing.assert_allclose(np.diff(np.log(r.lrs)), np.log(1e3) / 29)
    assert r.smoothed[0] == pytest.approx(r.losses[0])  # bias-corrected from the first step
    assert np.all(np.isfinite(r.losses)) and np.all(np.isfinite(r.smoothed))


def test_starts_from_the_sessions_weights_on_a_fresh_iterators_first_batch():
    s = make_session(arch="mlp", spec=None, augment=0.0)  # the batch as BatchIterator gives it
    for _ in range(3):
        s.step()
    x, y, _ = BatchIterator(*s.splits["train"], 32, seed=1).next_batch()
    expected = float(SoftmaxCrossEntropy().forward(s.model.forward(x, True), y))
    s.model.train()
    r = lr_find(s, steps=10)
    assert r.losses[0] == expected
    again = lr_find(s, steps=10)  # seeded: the same run twice
    np.testing.assert_array_equal(again.losses, r.losses)


def test_the_session_is_left_exactly_as_it_was():
    s = make_session()  # BatchNorm and Dropout: running stats and an RNG to disturb
    for _ in range(5):
        s.step()
    heard = []
    s.listeners.append(heard.append)
    weights, opt = s.model.state_dict(), s.optimizer.state_dict()
    batches, rng = s.batches.state_dict(), s.model.rng_state()
    steps, epochs, count = len(s.history.steps), len(s.history.epochs), s.step_count
    config = s.config.to_dict()
    lr_find(s, steps=20, start=1e-4, end=10.0)
    after = s.model.state_dict()
    assert after.keys() == weights.keys()
    for name, arr in weights.items():
        assert after[name].tobytes() == arr.tobytes(), name
    opt_after = s.optimizer.state_dict()
    assert opt_after["t"] == opt["t"] and opt_after["hyper"] == opt["hyper"]
    assert opt_after["state"].keys() == opt["state"].keys()
    for key, arr in opt["state"].items():
        assert opt_after["state"][key].tobytes() == arr.tobytes(), key
    assert s.batches.state_dict() == batches and s.model.rng_state() == rng
    assert (len(s.history.steps), len(s.history.epochs), s.step_count) == (steps, epochs, count)
    assert s.config.to_dict() == config and heard == []
    s.step()  # and it trains on as before
    assert s.step_count == count + 1


def test_easy_problem_suggests_a_rate_inside_the_range():
    s = make_session(arch="mlp", spec=None, optimizer="sgd", weight_decay=0.0)
    r = lr_find(s, steps=60, start=1e-5, end=10.0)
    assert 1e-5 < r.suggestion < 10.0
    assert r.smoothed.min() < 0.7 * r.smoothed[0]  # the loss falls somewhere
    assert r.method == "minimum/10"
    assert r.suggestion == pytest.approx(r.lrs[int(np.argmin(r.smoothed))] / 10)


def test_a_huge_end_rate_stops_early():
    s = make_session(arch="mlp", spec=None, optimizer="sgd")
    r = lr_find(s, steps=60, start=1e-4, end=1e4)
    assert r.stopped_early and len(r.lrs) < 60
    assert len(r.lrs) == len(r.losses) == len(r.smoothed)
    assert np.all(np.isfinite(r.smoothed))


def test_suggestion_is_a_tenth_of_the_rate_at_the_lowest_smoothed_loss():
    lrs = np.geomspace(1e-6, 1, 100)
    i = np.arange(100)
    smoothed = 3 - 2 / (1 + np.exp(-(i - 50) / 6)) + np.where(i > 80, (i - 80) * 0.3, 0)
    assert suggest(lrs, smoothed) == (pytest.approx(lrs[int(np.argmin(smoothed))] / 10),
                                      "minimum/10")
    lrs = np.geomspace(1e-3, 1, 8)
    smoothed = np.array([3.0, 2.5, 2.0, 1.0, 1.5, 3.0, 6.0, 9.0])
    assert suggest(lrs, smoothed) == (pytest.approx(lrs[3] / 10), "minimum/10")
    assert np.isnan(suggest(np.array([]), np.array([]))[0])


@pytest.mark.parametrize("kwargs, name", [
    ({"steps": 5}, "steps"),
    ({"steps": 10.5}, "steps"),
    ({"start": 0.0}, "start"),
    ({"start": -1e-3}, "start"),
    ({"start": 1e-2, "end": 1e-3}, "end"),
    ({"start": 1e-2, "end": 1e-2}, "end"),
    ({"smoothing": 1.0}, "smoothing"),
    ({"diverge_factor": 1.0}, "diverge_factor"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    s = make_session(arch="mlp", spec=None)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        lr_find(s, **kwargs)


def test_progress_is_told_each_step_and_stop_ends_the_test_cleanly():
    s = make_session(arch="mlp", spec=None)
    weights = s.model.state_dict()
    told = []
    r = lr_find(s, steps=20, start=1e-4, end=1e-1, progress=lambda i, n: told.append((i, n)))
    assert told == [(i, 20) for i in range(1, 21)] and len(r.lrs) == 20

    told.clear()
    r = lr_find(s, steps=20, start=1e-4, end=1e-1, progress=lambda i, n: told.append(i),
                stop=lambda: len(told) >= 5)  # asked before each step
    assert told == [1, 2, 3, 4, 5] and not r.stopped_early
    assert r.lrs.shape == r.losses.shape == r.smoothed.shape == (5,)
    np.testing.assert_allclose(r.lrs, np.geomspace(1e-4, 1e-1, 20)[:5])
    assert lr_find(s, steps=20, stop=lambda: True).lrs.size == 0
    for name, arr in s.model.state_dict().items():
        assert arr.tobytes() == weights[name].tobytes(), name


def test_find_and_notify_reports_progress_and_the_result_for_the_app():
    s = make_session(arch="mlp", spec=None)
    notices, stop = [], threading.Event()
    find_and_notify(s, lambda kind, value: notices.append((kind, value)), stop, steps=12)
    busy = [v for k, v in notices if k == "busy"]
    assert busy[0] == "finding the lr" and busy[-1] == ""
    assert busy[1:-1] == [f"finding the lr: step {i}/12" for i in range(1, 13)]
    assert [k for k, _ in notices][-1] == "lr_find"
    result = notices[-1][1]
    assert isinstance(result, LRFind) and len(result.lrs) == 12 and result.method in METHODS

    notices.clear()
    stop.set()  # the app is closing: the test ends, and nothing but "not busy" is told
    find_and_notify(s, lambda kind, value: notices.append((kind, value)), stop, steps=12)
    assert notices == [("busy", "finding the lr"), ("busy", "")]


def test_find_and_notify_explains_a_loss_that_blows_up_at_once():
    s = make_session(arch="mlp", spec=None, optimizer="sgd")
    notices = []
    with pytest.raises(ValueError, match="blew up already at a rate of"):
        find_and_notify(s, lambda kind, value: notices.append((kind, value)),
                        threading.Event(), steps=20, start=1e3, end=1e6)
    assert notices[-1] == ("busy", "") and "lr_find" not in [k for k, _ in notices]
