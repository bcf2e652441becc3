"""Batch norm: batch statistics in training, PyTorch's running statistics, eval mode."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.layers import BatchNorm1D, BatchNorm2D


def make(cls, f, seed=0):
    layer = cls(f)
    layer.astype(np.float64)
    rng = np.random.default_rng(seed)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, f)
    layer.params["beta"][...] = rng.standard_normal(f)
    return layer


def test_batchnorm2d_training_forward_normalises_per_channel():
    x = np.random.default_rng(1).standard_normal((4, 3, 5, 6)) * 3 + 2
    layer = make(BatchNorm2D, 3)
    y = layer.forward(x, True)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)  # biased, as PyTorch normalises
    g = layer.params["gamma"][None, :, None, None]
    b = layer.params["beta"][None, :, None, None]
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * g + b, rtol=1e-10, atol=1e-12)
    yn = (y - b) / g
    np.testing.assert_allclose(yn.mean(axis=(0, 2, 3)), 0, atol=1e-10)


@pytest.mark.parametrize("cls,shape,axes", [
    (BatchNorm2D, (4, 3, 5, 6), (0, 2, 3)),
    (BatchNorm1D, (6, 4), (0,)),
])
def test_running_stats_follow_pytorch(cls, shape, axes):
    x = np.random.default_rng(2).standard_normal(shape) * 2 + 5
    f = shape[1]
    layer = make(cls, f)
    np.testing.assert_array_equal(layer.buffers["running_mean"], np.zeros(f))
    np.testing.assert_array_equal(layer.buffers["running_var"], np.ones(f))
    layer.forward(x, True)
    mean, var_unbiased = x.mean(axis=axes), x.var(axis=axes, ddof=1)
    rm, rv = 0.1 * mean, 0.9 * 1 + 0.1 * var_unbiased
    np.testing.assert_allclose(layer.buffers["running_mean"], rm, rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"], rv, rtol=1e-12)
    # a second step keeps averaging
    x2 = x[::-1] * 0.5 - 1
    layer.forward(x2, True)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.9 * rm + 0.1 * x2.mean(axis=axes),
                               rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"],
                               0.9 * rv + 0.1 * x2.var(axis=axes, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("cls,shape", [(BatchNorm2D, (3, 2, 4, 4)), (BatchNorm1D, (5, 3))])
def test_eval_mode_uses_running_stats_and_leaves_them_alone(cls, shape):
    rng = np.random.default_rng(3)
    f = shape[1]
    layer = make(cls, f)
    layer.buffers["running_mean"][...] = rng.standard_normal(f)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 3.0, f)
    rm, rv = layer.buffers["running_mean"].copy(), layer.buffers["running_var"].copy()
    x = rng.standard_normal(shape)
    y = layer.forward(x, False)
    bshape = (1, f) + (1,) * (len(shape) - 2)
    expected = ((x - rm.reshape(bshape)) / np.sqrt(rv.reshape(bshape) + 1e-5)
                * layer.params["gamma"].reshape(bshape) + layer.params["beta"].reshape(bshape))
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(layer.buffers["running_mean"], rm)
    np.testing.assert_array_equal(layer.buffers["running_var"], rv)
    # a single sample works in eval mode and does not depend on the rest of the batch
    np.testing.assert_allclose(layer.forward(x[:1], False), y[:1], rtol=1e-12)


def test_custom_momentum_and_eps():
    layer = BatchNorm1D(2, momentum=0.3, eps=1e-3)
    layer.astype(np.float64)
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]])
    y = layer.forward(x, True)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.3 * x.mean(0))
    np.testing.assert_allclose(layer.buffers["running_var"], 0.7 + 0.3 * x.var(0, ddof=1))
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3))
    assert layer.config() == {"num_features": 2, "momentum": 0.3, "eps": 1e-3}


def test_batchnorm_float32_default_and_shape_checks():
    layer = BatchNorm2D(4)
    for store in (layer.params, layer.buffers):
        assert all(v.dtype == np.float32 for v in store.values())
    y = layer.forward(np.ones((2, 4, 3, 3), np.float32), True)
    assert y.dtype == np.float32
    assert layer.output_shape((4, 3, 3)) == (4, 3, 3)
    with pytest.raises(ValueError):
        layer.output_shape((3, 3, 3))
    with pytest.raises(ValueError):
        BatchNorm1D(4).output_shape((4, 3, 3))
    assert BatchNorm1D(4).output_shape((4,)) == (4,)


@pytest.mark.parametrize("cls, shape", [(BatchNorm2D, (3, 4, 5, 5)), (BatchNorm1D, (6, 4))])
def test_eval_mode_backward_matches_finite_differences(cls, shape):
    """Saliency differentiates an eval-mode pass: running statistics are then constants."""
    from tests.core.gradcheck import assert_grad_close, numerical_grad

    rng = np.random.default_rng(3)
    layer = cls(shape[1])
    layer.astype(np.float64)
    layer.buffers["running_mean"][...] = rng.standard_normal(shape[1])
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, shape[1])
    layer.params["gamma"][...] = rng.uniform(0.5, 2, shape[1])
    x = rng.standard_normal(shape)
    proj = rng.standard_normal(shape)
    layer.forward(x, False)
    dx = layer.backward(proj)
    grads = {k: g.copy() for k, g in layer.grads.items()}

    def loss():
        return float((layer.forward(x, False) * proj).sum())

    assert_grad_close(dx, numerical_grad(loss, x))
    for key in ("gamma", "beta"):
        assert_grad_close(grads[key], numerical_grad(loss, layer.params[key]), key)


def test_eval_mode_keeps_its_input_not_a_copy_and_a_training_pass_still_differentiates():
    """Eval mode keeps a reference to x (two passes, no normalised copy); running statistics
    that change after the pass (a training step) do not change that pass's gradients."""
    rng = np.random.default_rng(5)
    layer = make(BatchNorm2D, 3)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, 3)
    x, dy = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    layer.forward(x, False)
    assert np.shares_memory(layer._cache[1], x)
    dx = layer.backward(dy)
    dgamma = layer.grads["gamma"].copy()
    layer.forward(x, False)
    layer.buffers["running_mean"][...] += 1  # as a later training step would
    np.testing.assert_allclose(layer.backward(dy), dx, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["gamma"], dgamma, rtol=1e-12)
