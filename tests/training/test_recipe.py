"""The default recipe keeps a short run sane at any batch size: the smoothed loss never climbs
above where it started.

"Where it started" is the mean loss of the first 5 batches, and from there on the smoothed
loss may exceed it by NOISE at most: before the weights move, batch losses differ by about
that much from batch to batch. The failure this guards against is of another size: the old
recipe (Nesterov SGD at 0.1) took cnn-bn's loss from 3.7 to 5.3 within 10 steps of a short
run."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession
from tests.specs import bn_cnn

STEPS = 100
NOISE = 0.05


def smoothed(losses, beta=0.9):
    """Bias-corrected exponential moving average, as the curves dock draws it."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return np.array(out)


def assert_never_rises(losses):
    curve, start = smoothed(losses)[5:], float(np.mean(losses[:5]))
    assert curve.max() <= start + NOISE, f"rose to {curve.max():.3f} from {start:.3f}"
    assert curve[-1] < 0.8 * start  # and it learns


def first_steps(config, dataset, steps=STEPS):
    s = TrainingSession(config, dataset)
    s.config.epochs = math.ceil(steps / s.steps_per_epoch)  # a run of `steps` steps or more
    return [s.step().loss for _ in range(steps)]


@pytest.mark.parametrize("batch_size", [16, 64, 512])
def test_the_smoothed_loss_never_rises_above_its_start(batch_size):
    assert_never_rises(first_steps(TrainConfig(spec=bn_cnn(), batch_size=batch_size,
                                               val_size=0), synthetic_dataset(2048, 10)))


def test_the_check_catches_a_loss_that_climbs():
    climbing = [2.3] * 5 + [2.3 + 0.05 * i for i in range(20)]  # as the old recipe's 3.7 -> 5.3
    with pytest.raises(AssertionError, match="rose to"):
        assert_never_rises(climbing)


@pytest.mark.mnist
@pytest.mark.skipif(not os.environ.get("CNNVIZ_DATA"), reason="needs CNNVIZ_DATA")
@pytest.mark.parametrize("batch_size", [16, 64])
def test_on_mnist_the_default_network_starts_at_chance_and_only_goes_down(batch_size):
    from cnnviz.data.sources import load_dataset

    data = load_dataset(os.environ["CNNVIZ_DATA"])
    losses = first_steps(TrainConfig(batch_size=batch_size, val_size=0, limit_test=10), data)
    assert abs(losses[0] - math.log(10)) < 0.2  # the class scores start near equal
    assert_never_rises(losses)
