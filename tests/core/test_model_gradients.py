"""Whole-model gradient checks in float64: loss w.r.t. a sample of params and the input."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.backend import to_numpy
from cnnviz.core.losses import SoftmaxCrossEntropy
from cnnviz.core.model import build_model
from cnnviz.core.presets import preset

from .gradcheck import BACKEND, assert_grad_close, numerical_grad

CUSTOM = [
    {"type": "Conv2D", "out_channels": 3, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2D"},
    {"type": "ReLU"},
    {"type": "MaxPool2D", "kernel_size": 2},
    {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "stride": 2},
    {"type": "BatchNorm2D"},
    {"type": "Tanh"},
    {"type": "AvgPool2D", "kernel_size": 2, "stride": 1},
    {"type": "Flatten"},
    {"type": "Dense", "out_features": 12},
    {"type": "BatchNorm1D"},
    {"type": "LeakyReLU", "negative_slope": 0.1},
    {"type": "Dropout", "p": 0.3},
    {"type": "Dense", "out_features": 5},
    {"type": "Sigmoid"},
    {"type": "Dense", "out_features": 4},
]


def model_grad_check(model, x, labels, per_param=4, n_input=12, seed=0):
    """Analytic grads of mean cross-entropy vs central differences on sampled entries, on
    BACKEND; the model is back on numpy afterwards."""
    model.astype(np.float64).train().to(BACKEND)
    x, labels = BACKEND.to_device(x.astype(np.float64)), BACKEND.to_device(labels)
    rng_state = model.rng_state()

    def loss():
        model.set_rng_state(rng_state)  # the same dropout masks in every evaluation
        return float(SoftmaxCrossEntropy().forward(model.forward(x), labels))

    model.zero_grad()
    model.set_rng_state(rng_state)
    ce = SoftmaxCrossEntropy()
    ce.forward(model.forward(x), labels)
    dx = model.backward(ce.backward(), input_grad=True)
    analytic = {name: to_numpy(g) for name, _, g in model.parameters()}
    rng = np.random.default_rng(seed)
    # a bias right before batch norm has an exactly zero gradient (BN subtracts the mean)
    zero = {f"{model.names[i]}.b" for i in range(len(model.layers) - 1)
            if model.layers[i + 1].kind.startswith("BatchNorm")}
    checked = 0
    for name, p, _ in model.parameters():
        # half the sample where the analytic gradient is non-zero (dead ReLUs give zeros)
        live = np.flatnonzero(analytic[name])
        idx = np.union1d(rng.choice(live, size=min(per_param // 2, live.size), replace=False),
                         rng.choice(p.size, size=min(per_param // 2, p.size), replace=False))
        num = numerical_grad(loss, p, indices=idx)
        assert_grad_close(analytic[name], num, name, indices=idx, require_nonzero=False)
        if name in zero:
            np.testing.assert_allclose(analytic[name], 0, atol=1e-10, err_msg=name)
        else:
            checked += bool(np.abs(num).max() > 1e-6)
    assert checked == len(analytic) - len(zero) > 0, "a sampled gradient is zero everywhere"
    idx = rng.choice(x.size, size=n_input, replace=False)
    assert dx is not None and dx.shape == x.shape
    assert_grad_close(dx, numerical_grad(loss, x, indices=idx), "input", indices=idx)
    return model.to("numpy")


def test_lenet5_gradients():
    model = build_model(preset("lenet5"), seed=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 1, 28, 28))
    model_grad_check(model, x, np.array([3, 7]))


def test_custom_model_with_batchnorm_and_dropout_gradients():
    model = build_model(CUSTOM, input_shape=(2, 14, 13), seed=3)
    drop = next(layer for layer in model.layers if layer.kind == "Dropout")
    assert drop.p == 0.3
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 2, 14, 13))
    model_grad_check(model, x, np.array([0, 1, 2, 3]))
    # the dropout mask was live: outputs differ between draws
    y1 = model.forward(x.astype(np.float64))
    y2 = model.forward(x.astype(np.float64))
    assert not np.allclose(y1, y2)


def test_custom_model_with_dropout_p0_gradients():
    spec = [dict(e, p=0.0) if e["type"] == "Dropout" else e for e in CUSTOM]
    model = build_model(spec, input_shape=(1, 12, 12), seed=5)
    x = np.random.default_rng(6).standard_normal((3, 1, 12, 12))
    model_grad_check(model, x, np.array([3, 0, 1]), seed=1)


def test_backward_skips_input_grad_unless_asked():
    model = build_model(preset("lenet5"), seed=0).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28))
    ce = SoftmaxCrossEntropy()
    ce.forward(model.forward(x, training=True), np.array([1, 2]))
    assert model.backward(ce.backward()) is None
    grads = {n: g.copy() for n, _, g in model.parameters()}
    ce.forward(model.forward(x, training=True), np.array([1, 2]))
    dx = model.backward(ce.backward(), input_grad=True)
    assert dx.shape == x.shape
    for n, _, g in model.parameters():
        np.testing.assert_allclose(g, grads[n], rtol=1e-12, err_msg=n)


@pytest.mark.parametrize("name", ["mlp", "cnn-bn"])
def test_other_presets_input_gradient(name):
    """Input gradient (saliency) of the other presets, float64, dropout masks fixed."""
    model = build_model(preset(name), seed=0).astype(np.float64).train()
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28))
    labels = np.array([4, 9])
    state = model.rng_state()

    def loss():
        model.set_rng_state(state)
        return float(SoftmaxCrossEntropy().forward(model.forward(x), labels))

    model.set_rng_state(state)
    ce = SoftmaxCrossEntropy()
    ce.forward(model.forward(x), labels)
    dx = model.backward(ce.backward(), input_grad=True)
    idx = np.random.default_rng(2).choice(x.size, size=8, replace=False)
    assert_grad_close(dx, numerical_grad(loss, x, indices=idx), name, indices=idx)


def test_colour_input_gradients_of_a_fitted_preset():
    """3-channel input through lenet5 fitted to 16x16 colour images in 4 classes."""
    from cnnviz.core.presets import fit_preset

    model = build_model(fit_preset(preset("lenet5"), 4), input_shape=(3, 16, 16), seed=2)
    assert model.layers[0].in_channels == 3
    x = np.random.default_rng(3).standard_normal((2, 3, 16, 16))
    model_grad_check(model, x, np.array([1, 3]))
