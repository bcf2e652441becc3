"""The attack lab: the smallest pixel change that makes the network call an image a chosen
class; and the attack command."""

import json
import threading

import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.core.losses import softmax
from cnnviz.training.attack import attack_many, targeted_attack
from tests.specs import bn_cnn
from tests.training.test_synthesis import checkpoint, trained  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def session():
    return trained(bn_cnn(), epochs=4)


def test_targeted_attack_succeeds_on_most_digits_within_budget(session):
    x, y = session.splits["test"]
    mean, std = (np.asarray(v, np.float32) for v in session.norm)
    wins = 0
    for i in range(6):
        target = (int(y[i]) + 1 + i % 9) % 10
        a = targeted_attack(session.model, x[i : i + 1], target, mean, std, eps_max=0.3)
        assert a.linf <= 0.3 + 1e-5
        assert a.delta_pixels.shape == (1, 28, 28) and a.perturbed.shape == (1, 1, 28, 28)
        pixels = a.perturbed * std + mean
        assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
        np.testing.assert_allclose(np.abs(a.delta_pixels).max(), a.linf, atol=1e-6)
        probs = softmax(session.model.forward(a.perturbed, False))[0]
        np.testing.assert_allclose(probs, a.probs_after, atol=1e-5)
        assert a.predicted == int(probs.argmax()) and a.success == (a.predicted == target)
        assert a.probability == pytest.approx(float(probs.max()), abs=1e-5)
        assert a.probs_before.shape == (10,) and abs(a.probs_before.sum() - 1) < 1e-4
        wins += a.success
    assert wins >= 5


def test_a_tiny_budget_fails_and_the_attack_is_deterministic(session):
    x, y = session.splits["test"]
    mean, std = session.norm
    target = (int(y[0]) + 5) % 10
    a = targeted_attack(session.model, x[:1], target, mean, std, eps_max=0.3)
    assert a.success and 0 < a.linf <= 0.3
    tiny = targeted_attack(session.model, x[:1], target, mean, std, eps_max=1e-3)
    assert not tiny.success and tiny.linf <= 1e-3 + 1e-6
    again = targeted_attack(session.model, x[:1], target, mean, std, eps_max=0.3)
    np.testing.assert_array_equal(a.perturbed, again.perturbed)
    # the growing ball stops as soon as the target is reached, so the size it reports is
    # near the smallest that works: half of it, searched the same way, does not reach it
    half = targeted_attack(session.model, x[:1], target, mean, std, eps_max=a.linf / 2)
    assert not half.success


def test_attack_many_batches_what_targeted_attack_does_one_by_one(session):
    x, y = session.splits["test"]
    mean, std = session.norm
    idx, linf, ok = attack_many(session.model, x, y, 3, mean, std, n=7, batch=3)
    expected = np.flatnonzero(y != 3)[:7]
    np.testing.assert_array_equal(idx, expected)
    assert linf.dtype == np.float32 and ok.dtype == bool and len(linf) == len(ok) == 7
    for i, size, won in zip(idx, linf, ok):
        a = targeted_attack(session.model, x[i : i + 1], 3, mean, std)
        assert a.success == won
        assert size == pytest.approx(a.linf, abs=1e-5)
    stop = threading.Event()
    stop.set()
    idx, linf, ok = attack_many(session.model, x, y, 3, mean, std, n=7, stop_event=stop)
    assert len(idx) == len(linf) == len(ok) == 0


def test_the_predicted_class_is_no_attack_and_bad_targets_fail(session):
    x, _ = session.splits["test"]
    mean, std = session.norm
    own = int(softmax(session.model.forward(x[:1], False)).argmax())
    a = targeted_attack(session.model, x[:1], own, mean, std)
    assert a.success and a.linf == 0
    with pytest.raises(ValueError, match="no class 10"):
        targeted_attack(session.model, x[:1], 10, mean, std)


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_attack_command_prints_json(checkpoint, capsys):  # noqa: F811
    ck, data = checkpoint
    assert main(["attack", "--load", str(ck), "--data", str(data), "--index", "3",
                 "--target", "7", "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert {"index", "target", "predicted", "linf", "probability", "success"} <= set(r)
    assert r["index"] == 3 and r["target"] == 7 and 0 <= r["linf"] <= 0.3 + 1e-6
    assert r["success"] == (r["predicted"] == 7)
    assert main(["attack", "--load", str(ck), "--data", str(data), "--index", "999",
                 "--target", "7"]) == 1
    err = capsys.readouterr().err
    assert "no test digit 999" in err and len(err.splitlines()) == 1


def test_attack_all_command_reports_rate_and_median(checkpoint, capsys):  # noqa: F811
    ck, data = checkpoint
    assert main(["attack", "--load", str(ck), "--data", str(data), "--all", "12",
                 "--target", "2", "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["target"] == 2 and r["attacked"] == 12 and 0 <= r["succeeded"] <= 12
    assert r["success_rate"] == pytest.approx(r["succeeded"] / 12)
    assert r["median_linf"] is None or 0 <= r["median_linf"] <= 0.3 + 1e-6
    assert main(["attack", "--load", str(ck), "--data", str(data), "--all", "5",
                 "--target", "10"]) == 1
    assert "no class 10" in capsys.readouterr().err
