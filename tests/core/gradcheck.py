"""Central-difference gradient checks in float64, shared by the core tests.

They run on the backend that $CNNVIZ_BACKEND names (numpy by default; cupy on a GPU machine):
the layer or model and its input are moved there, the results come back as numpy arrays.
"""

from __future__ import annotations

import numpy as np

from cnnviz.backend import NUMPY, default_backend_name, get_backend, to_numpy

BACKEND = get_backend(default_backend_name())

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-7


def numerical_grad(f, arr, eps=EPS, indices=None):
    """d f() / d arr by central differences; `arr` is perturbed in place and restored.

    `indices` (flat positions) restricts the check to a sample; the other entries stay 0.
    """
    assert arr.dtype == np.float64, f"gradient checks need float64, got {arr.dtype}"
    flat = arr.reshape(-1)  # a view (arrays here are contiguous), numpy or cupy
    assert flat.base is not None or flat is arr, "numerical_grad needs a contiguous array"
    grad = np.zeros(arr.shape)
    for i in range(arr.size) if indices is None else indices:
        old = float(flat[i])
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        grad.flat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def assert_grad_close(analytic, numeric, what="", indices=None, require_nonzero=True):
    """analytic == numeric (on `indices` if given), and the gradient is not trivially zero."""
    analytic = to_numpy(analytic)
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape} != {numeric.shape}"
    a = analytic.reshape(-1) if indices is None else analytic.reshape(-1)[indices]
    n = numeric.reshape(-1) if indices is None else numeric.reshape(-1)[indices]
    np.testing.assert_allclose(a, n, rtol=RTOL, atol=ATOL, err_msg=what)
    assert not require_nonzero or np.abs(n).max() > 1e-6, (
        f"{what}: gradient is zero everywhere, the check proves nothing")


def check_layer_grads(layer, x, seed=0, before_forward=None):
    """Check dx and every param grad of `layer` (training mode) for L = sum(y * R), on BACKEND.

    `before_forward` runs before every forward (e.g. to reset a dropout rng). Returns
    (y, R, dx) of the analytic pass as numpy arrays; the layer is back on numpy afterwards.
    """
    layer.astype(np.float64)
    layer.to(BACKEND)
    xp = BACKEND.xp
    x = BACKEND.to_device(np.array(to_numpy(x), dtype=np.float64))
    rng = np.random.default_rng(seed)

    def forward():
        if before_forward is not None:
            before_forward()
        return layer.forward(x, True)

    y = forward()
    assert y.dtype == np.float64
    proj = BACKEND.to_device(rng.standard_normal(y.shape))
    dx = layer.backward(proj.copy())
    analytic = {k: to_numpy(g) for k, g in layer.grads.items()}
    assert set(analytic) == set(layer.params), "params and grads must have the same keys"

    def loss():
        return float(xp.sum(forward() * proj))

    assert dx is not None and dx.shape == x.shape
    assert_grad_close(dx, numerical_grad(loss, x), f"{layer!r} dx")
    for key, p in layer.params.items():
        assert analytic[key].shape == p.shape
        assert_grad_close(analytic[key], numerical_grad(loss, p), f"{layer!r} d{key}")
    layer.to(NUMPY)
    return to_numpy(y), to_numpy(proj), to_numpy(dx)
