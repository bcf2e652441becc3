"""Central-difference gradient checks in float64, shared by the core tests."""

from __future__ import annotations

import numpy as np

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-7


def numerical_grad(f, arr, eps=EPS, indices=None):
    """d f() / d arr by central differences; `arr` is perturbed in place and restored.

    `indices` (flat positions) restricts the check to a sample; the other entries stay 0.
    """
    assert arr.dtype == np.float64, f"gradient checks need float64, got {arr.dtype}"
    grad = np.zeros_like(arr)
    for i in range(arr.size) if indices is None else indices:
        old = arr.flat[i]
        arr.flat[i] = old + eps
        f_plus = f()
        arr.flat[i] = old - eps
        f_minus = f()
        arr.flat[i] = old
        grad.flat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def assert_grad_close(analytic, numeric, what="", indices=None, require_nonzero=True):
    """analytic == numeric (on `indices` if given), and the gradient is not trivially zero."""
    analytic = np.asarray(analytic)
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape} != {numeric.shape}"
    a = analytic.reshape(-1) if indices is None else analytic.reshape(-1)[indices]
    n = numeric.reshape(-1) if indices is None else numeric.reshape(-1)[indices]
    np.testing.assert_allclose(a, n, rtol=RTOL, atol=ATOL, err_msg=what)
    assert not require_nonzero or np.abs(n).max() > 1e-6, (
        f"{what}: gradient is zero everywhere, the check proves nothing")


def check_layer_grads(layer, x, seed=0, before_forward=None):
    """Check dx and every param grad of `layer` (training mode) for L = sum(y * R).

    `before_forward` runs before every forward (e.g. to reset a dropout rng). Returns
    (y, R, dx) of the analytic pass.
    """
    layer.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    rng = np.random.default_rng(seed)

    def forward():
        if before_forward is not None:
            before_forward()
        return layer.forward(x, True)

    y = forward()
    assert y.dtype == np.float64
    proj = rng.standard_normal(y.shape)
    dx = layer.backward(proj.copy())
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    assert set(analytic) == set(layer.params), "params and grads must have the same keys"

    def loss():
        return float(np.sum(forward() * proj))

    assert dx is not None and dx.shape == x.shape
    assert_grad_close(dx, numerical_grad(loss, x), f"{layer!r} dx")
    for key, p in layer.params.items():
        assert analytic[key].shape == p.shape
        assert_grad_close(analytic[key], numerical_grad(loss, p), f"{layer!r} d{key}")
    return y, proj, dx
