"""Central-difference gradient checks (float64) of every layer: dx and every param grad."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.layers import (
    LAYER_TYPES,
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    HardTanh,
    Identity,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)

from .gradcheck import check_layer_grads


def randn(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def tie_free(shape, seed=2):
    """Distinct values (a scaled random permutation): no ties inside any pooling window."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n).reshape(shape) - n / 2) / n


def gradient_check_of(*types):
    """Parametrize a gradient test with the layer classes it checks, as `cls`; the coverage
    test at the end reads the layer types from these parametrizations."""
    return pytest.mark.parametrize("cls", types, ids=lambda t: t.__name__)


def away_from(x, kinks, margin=0.05):
    """Push every entry at least `margin` away from each kink."""
    x = x.copy()
    for k in kinks:
        near = np.abs(x - k) < margin
        x[near] = k + np.where(x[near] >= k, margin, -margin) * 2
    return x


# (N, C, H, W, out, kernel, stride, padding): non-square inputs, strides 1/2/3, paddings 0/1/2,
# kernels 1/3/5, sizes that the stride does not divide.
CONV_CASES = [
    (2, 3, 7, 7, 4, 3, 1, 1),
    (2, 2, 8, 6, 3, 3, 2, 0),
    (1, 3, 9, 7, 2, 5, 3, 2),
    (2, 1, 5, 9, 3, 1, 1, 0),
    (2, 2, 6, 5, 2, 3, 2, 2),
    (1, 2, 10, 7, 3, 5, 2, 1),
    (2, 3, 7, 8, 2, 1, 3, 0),
    (1, 2, 4, 6, 2, 3, 3, 2),
    (2, 2, 5, 5, 3, 5, 1, 0),
    (1, 1, 3, 4, 2, 1, 2, 1),
]


@gradient_check_of(Conv2D)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("n,c,h,w,o,k,s,p", CONV_CASES)
def test_conv2d_gradients(cls, n, c, h, w, o, k, s, p, channels_last):
    layer = cls(c, o, k, stride=s, padding=p, rng=np.random.default_rng(3))
    layer.channels_last = channels_last  # both window layouts, whatever the default for c
    layer.params["b"][...] = np.random.default_rng(4).standard_normal(o)
    x = randn(n, c, h, w)
    y, _, _ = check_layer_grads(layer, x)
    ho, wo = (h - k + 2 * p) // s + 1, (w - k + 2 * p) // s + 1
    assert y.shape == (n, o, ho, wo)


@pytest.mark.parametrize("channels_last", [False, True])
def test_conv2d_without_input_grad_fills_the_same_param_grads(channels_last):
    x = randn(2, 2, 6, 7)
    layer = Conv2D(2, 3, 3, stride=2, padding=1)
    layer.channels_last = channels_last
    layer.astype(np.float64)
    assert Conv2D.input_grad is True and layer.input_grad is True
    dy = randn(2, 3, 3, 4, seed=5)
    layer.forward(x, True)
    dx = layer.backward(dy)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    layer.input_grad = False
    layer.forward(x, True)
    assert layer.backward(dy) is None
    for k, g in grads.items():
        np.testing.assert_allclose(layer.grads[k], g, rtol=1e-12)
    assert dx.shape == x.shape


# (N, C, H, W, kernel, stride): overlapping windows (stride < kernel), gaps (stride > kernel),
# sizes not divisible by the stride.
POOL_CASES = [
    (2, 2, 6, 6, 2, 2),
    (2, 2, 7, 5, 2, 2),
    (1, 3, 7, 7, 3, 2),
    (2, 1, 6, 8, 3, 1),
    (1, 2, 9, 7, 3, 3),
    (2, 2, 8, 7, 2, 3),
    (1, 2, 5, 6, 4, 1),
    (2, 1, 5, 5, 1, 1),
]


@pytest.mark.parametrize("n,c,h,w,k,s", POOL_CASES)
@gradient_check_of(MaxPool2D, AvgPool2D)
def test_pool_gradients(cls, n, c, h, w, k, s):
    layer = cls(k, stride=s)
    y, _, _ = check_layer_grads(layer, tie_free((n, c, h, w)))
    assert y.shape == (n, c, (h - k) // s + 1, (w - k) // s + 1)


def test_pool_stride_defaults_to_kernel():
    assert MaxPool2D(3).stride == 3 and AvgPool2D(2).stride == 2


@pytest.mark.parametrize("cls,shape", [
    (BatchNorm2D, (4, 3, 5, 4)), (BatchNorm2D, (3, 2, 1, 6)), (BatchNorm2D, (2, 1, 3, 3)),
    (BatchNorm1D, (5, 4)), (BatchNorm1D, (8, 1)), (BatchNorm1D, (2, 3)),
])
def test_batchnorm_gradients(cls, shape):
    layer = cls(shape[1])
    rng = np.random.default_rng(7)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, shape[1])
    layer.params["beta"][...] = rng.standard_normal(shape[1])
    check_layer_grads(layer, randn(*shape) * 3 + 1)


@gradient_check_of(Dense)
@pytest.mark.parametrize("n,i,o", [(3, 5, 4), (1, 7, 2), (4, 1, 3)])
def test_dense_gradients(cls, n, i, o):
    layer = cls(i, o, rng=np.random.default_rng(9))
    layer.params["b"][...] = np.random.default_rng(10).standard_normal(o)
    y, _, _ = check_layer_grads(layer, randn(n, i))
    assert y.shape == (n, o)


@gradient_check_of(Flatten)
def test_flatten_gradients(cls):
    x = randn(2, 3, 4, 5)
    y, proj, dx = check_layer_grads(cls(), x)
    assert y.shape == (2, 60)
    np.testing.assert_array_equal(y, x.reshape(2, 60))
    np.testing.assert_array_equal(dx, proj.reshape(x.shape))


@gradient_check_of(Dropout)
@pytest.mark.parametrize("p", [0.3, 0.5, 0.0])
def test_dropout_gradients_with_fixed_mask(cls, p):
    layer = cls(p, rng=np.random.default_rng(11))
    state = layer.rng.bit_generator.state

    def reset():
        layer.rng.bit_generator.state = state

    x = away_from(randn(4, 3, 5), [0.0])
    y, proj, dx = check_layer_grads(layer, x, before_forward=reset)
    reset()
    mask = layer.forward(np.ones_like(x), True)  # the same draw: the mask itself
    np.testing.assert_array_equal(y, x * mask)
    scale = 1.0 / (1.0 - p)
    dropped = np.isclose(mask, 0.0)
    kept = np.isclose(mask, scale, rtol=1e-6)
    assert np.all(dropped | kept), "dropout mask must be 0 or 1/(1-p)"
    if p == 0:
        assert kept.all()
    else:
        assert 0.1 < dropped.mean() < 0.9
    np.testing.assert_array_equal(dx, proj * mask)


def test_dropout_is_identity_in_eval_mode():
    layer = Dropout(0.5)
    x = randn(3, 4)
    np.testing.assert_array_equal(layer.forward(x, False), x)
    np.testing.assert_array_equal(layer.backward(x * 2), x * 2)
    with pytest.raises(ValueError):
        Dropout(1.0)
    with pytest.raises(ValueError):
        Dropout(-0.1)


ACTIVATIONS = [
    (ReLU(), [0.0]),
    (LeakyReLU(), [0.0]),
    (LeakyReLU(0.2), [0.0]),
    (Tanh(), []),
    (Sigmoid(), []),
    (HardTanh(), [-1.0, 1.0]),
    (Identity(), []),
]


@pytest.mark.parametrize("layer,kinks", ACTIVATIONS, ids=lambda v: repr(v))
def test_activation_gradients(layer, kinks):
    x = away_from(randn(3, 2, 4, 5) * 1.5, kinks)
    y, proj, dx = check_layer_grads(layer, x)
    assert y.shape == x.shape


def test_activation_values():
    x = np.array([[-3.0, -0.5, 0.5, 3.0, 40.0, -40.0]])
    np.testing.assert_allclose(ReLU().forward(x), [[0, 0, 0.5, 3, 40, 0]])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [[-0.3, -0.05, 0.5, 3, 40, -4]])
    np.testing.assert_allclose(HardTanh().forward(x), [[-1, -0.5, 0.5, 1, 1, -1]])
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    with np.errstate(over="raise"):
        sig = Sigmoid().forward(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_allclose(sig, [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    x32 = x.astype(np.float32)
    for layer in (ReLU(), LeakyReLU(), Tanh(), Sigmoid(), HardTanh(), Identity()):
        assert layer.forward(x32).dtype == np.float32, layer


def layer_types_in(value) -> set:
    """Layer classes among `value`: a class, an instance, or tuples/lists of them (a
    pytest.param is a tuple too)."""
    if isinstance(value, (tuple, list)):
        return set().union(*map(layer_types_in, value))
    if isinstance(value, Layer):
        return {type(value)}
    return {value} if isinstance(value, type) and issubclass(value, Layer) else set()


def test_every_layer_type_is_gradient_checked():
    """The layer types in the parametrizations of this module's *_gradients tests (the
    cases check_layer_grads runs on) are every type the registry builds."""
    tests = [f for name, f in globals().items() if name.startswith("test_") and
             "_gradients" in name]
    covered = layer_types_in([mark.args[1] for f in tests for mark in getattr(f, "pytestmark", [])
                              if mark.name == "parametrize"])
    missing = set(LAYER_TYPES.values()) - covered
    assert not missing, f"no gradient check for {sorted(t.__name__ for t in missing)}"
