"""The engine on cupy gives what it gives on numpy: whole models (training forward and backward,
predict, optimizer steps) and every convolution path. Runs only where a CUDA GPU is usable;
the rest of the suite runs on cupy too when $CNNVIZ_BACKEND=cupy (see README)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.backend import NUMPY, get_backend, gpu_status, to_numpy
from cnnviz.core.layers.conv import Conv2D
from cnnviz.core.losses import SoftmaxCrossEntropy
from cnnviz.core.model import build_model
from cnnviz.core.optim import make_optimizer
from cnnviz.core.presets import preset

from .test_model_gradients import CUSTOM

USABLE, WHY = gpu_status()
pytestmark = pytest.mark.skipif(not USABLE, reason=f"no usable GPU: {WHY}")

SPECS = {"cnn-bn": (preset("cnn-bn"), (1, 28, 28)), "lenet5": (preset("lenet5"), (1, 28, 28)),
         "mlp": (preset("mlp"), (1, 28, 28)), "custom": (CUSTOM, (2, 14, 13))}


def close(a, b, what, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("name", list(SPECS))
def test_training_steps_match_numpy(name):
    """Three optimizer steps of the same model on both backends (float64, same dropout masks):
    the same logits, gradients, input gradient, parameters and batch-norm statistics."""
    spec, shape = SPECS[name]
    host = build_model(spec, input_shape=shape, seed=1).astype(np.float64)
    gpu = build_model(spec, input_shape=shape, seed=1).astype(np.float64).to("cupy")
    rng = np.random.default_rng(2)
    opts = [make_optimizer("nesterov", m, lr=0.05, momentum=0.9, weight_decay=5e-4)
            for m in (host, gpu)]
    for step in range(3):
        x = rng.standard_normal((6, *shape)) * 2 + 0.5
        labels = rng.integers(0, 4 if name == "custom" else 10, 6)
        out, state = [], host.rng_state()
        for model, opt in zip((host, gpu), opts, strict=True):
            b = model.backend
            model.set_rng_state(state)
            model.zero_grad()
            ce = SoftmaxCrossEntropy()
            logits = model.forward(b.to_device(x), True)
            loss = ce.forward(logits, b.to_device(labels))
            dx = model.backward(ce.backward(), input_grad=True)
            grads = {n: to_numpy(g) for n, _, g in model.parameters()}
            out.append((logits, float(loss), dx, grads))
            opt.step()
        (lh, ch, dxh, gh), (lg, cg, dxg, gg) = out
        close(lg, lh, f"step {step} logits")
        assert abs(cg - ch) < 1e-9
        close(dxg, dxh, f"step {step} input gradient")
        for key in gh:
            close(gg[key], gh[key], f"step {step} {key}")
    for (n, p, _), (_, q, _) in zip(host.parameters(), gpu.parameters(), strict=True):
        close(q, p, n)
    for (n, p), (_, q) in zip(host.buffers(), gpu.buffers(), strict=True):
        close(q, p, n)
    x = rng.standard_normal((40, *shape))
    close(gpu.predict(gpu.backend.to_device(x)), host.predict(x), "predict")


@pytest.mark.parametrize("algorithm", ["direct", "winograd"])
@pytest.mark.parametrize("c,h,w,padding", [(3, 9, 8, 1), (32, 14, 14, 1), (4, 7, 7, 0)])
def test_every_convolution_path_matches_numpy(algorithm, c, h, w, padding):
    """Forward and backward of one conv on cupy equal numpy's, for each algorithm and for both
    window layouts (channels-first below 16 input channels, channels-last from 16)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, c, h, w)).astype(np.float32)
    outs = []
    for backend in (NUMPY, get_backend("cupy")):
        layer = Conv2D(c, 5, 3, padding=padding, algorithm=algorithm,
                       rng=np.random.default_rng(4))
        layer.to(backend)
        y = layer.forward(backend.to_device(x), True)
        dx = layer.backward(backend.to_device(np.full(y.shape, 0.5, np.float32)))
        outs.append((y, dx, layer.grads["W"], layer.grads["b"], layer.algorithm_used))
    (y0, dx0, dw0, db0, a0), (y1, dx1, dw1, db1, a1) = outs
    assert a0 == a1 == algorithm
    close(y1, y0, "y", rtol=1e-4, atol=1e-4)
    close(dx1, dx0, "dx", rtol=1e-4, atol=1e-4)
    close(dw1, dw0, "dW", rtol=1e-4, atol=1e-3)
    close(db1, db0, "db", rtol=1e-4, atol=1e-3)
