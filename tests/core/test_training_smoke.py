"""End to end in float32: a small model learns a trivially separable task with each optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.losses import SoftmaxCrossEntropy
from cnnviz.core.model import build_model
from cnnviz.core.optim import OPTIMIZERS, make_optimizer
from tests.specs import bn_cnn

SPEC = bn_cnn(classes=3, dropout=0.2)

LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.003,
      "adam": 0.01}


def dataset(n=48, seed=0):
    """Class k: a bright band in rows, columns or the diagonal of an 8x8 noisy image."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    x[y == 0, 0, 2:4, :] += 1.5
    x[y == 1, 0, :, 5:7] += 1.5
    eye = np.eye(8, dtype=np.float32) * 1.5
    x[y == 2, 0] += eye
    return x, y


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_small_model_learns(name):
    x, y = dataset()
    model = build_model(SPEC, input_shape=(1, 8, 8), seed=0)
    opt = make_optimizer(name, model, LR[name])
    ce = SoftmaxCrossEntropy()
    model.train()
    first = float(ce.forward(model.forward(x), y))
    for _ in range(40):
        opt.zero_grad()
        loss = ce.forward(model.forward(x), y)
        model.backward(ce.backward())
        opt.step()
        assert np.isfinite(float(loss))
    model.eval()
    final = float(ce.forward(model.forward(x), y))
    acc = float((ce.probs.argmax(axis=1) == y).mean())
    assert final < 0.5 * first, (first, final)
    assert acc == 1.0
    assert all(p.dtype == np.float32 for _, p, _ in model.parameters())
    xt, yt = dataset(seed=1)
    assert (model.forward(xt).argmax(axis=1) == yt).mean() >= 0.9
