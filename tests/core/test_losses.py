"""SoftmaxCrossEntropy: value, gradient, stability, probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnviz.core.losses import SoftmaxCrossEntropy, softmax

from .gradcheck import assert_grad_close, numerical_grad


def reference_loss(logits, labels):
    """Mean of logsumexp(row) - row[label], in Python floats with math.fsum."""
    total = []
    for row, y in zip(np.asarray(logits, np.float64), labels, strict=True):
        m = max(row)
        lse = m + math.log(math.fsum(math.exp(v - m) for v in row))
        total.append(lse - row[y])
    return math.fsum(total) / len(total)


def test_gradient_check():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 7)) * 3
    labels = rng.integers(0, 7, 5)
    ce = SoftmaxCrossEntropy()
    loss = ce.forward(logits, labels)
    assert np.ndim(loss) == 0
    assert float(loss) == pytest.approx(reference_loss(logits, labels), rel=1e-12)
    d = ce.backward()
    num = numerical_grad(lambda: float(SoftmaxCrossEntropy().forward(logits, labels)), logits)
    assert_grad_close(d, num, "dlogits")
    np.testing.assert_allclose(d.sum(axis=1), 0, atol=1e-12)  # softmax rows sum to 1


def test_backward_is_probs_minus_onehot_over_n():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = np.array([2, 0])
    ce = SoftmaxCrossEntropy()
    ce.forward(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ce.probs, p, rtol=1e-12)
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(ce.backward(), (p - onehot) / 2, rtol=1e-12)
    np.testing.assert_allclose(ce.probs, p, rtol=1e-12)  # backward does not change probs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stable_for_huge_logits(dtype):
    logits = np.array([
        [1e4, 0.0, -1e4],
        [1e4, 1e4 - 1.0, 5.0],
        [-1e4, 1e4, 1e4],
        [3.0, -2.0, 1e4],
    ], dtype=dtype)
    labels = np.array([0, 1, 0, 2])
    ce = SoftmaxCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="ignore", under="ignore"):
        loss = float(ce.forward(logits, labels))
        d = ce.backward()
    assert math.isfinite(loss)
    assert loss == pytest.approx(reference_loss(logits, labels), rel=1e-6)
    # row losses by hand: 0, log(1 + e), 2e4 + log 2, 0
    by_hand = (0.0 + math.log1p(math.e) + 2e4 + math.log(2) + 0.0) / 4
    assert loss == pytest.approx(by_hand, rel=1e-6)
    assert np.all(np.isfinite(ce.probs)) and np.all(np.isfinite(d))
    np.testing.assert_allclose(ce.probs.sum(axis=1), 1.0, rtol=1e-6)
    assert ce.probs.dtype == dtype


def test_probs_sum_to_one_and_softmax_helper():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((8, 10)) * 50
    ce = SoftmaxCrossEntropy()
    ce.forward(logits, rng.integers(0, 10, 8))
    np.testing.assert_allclose(ce.probs.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(ce.probs >= 0)
    np.testing.assert_allclose(softmax(logits), ce.probs, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(softmax(np.array([[1e4, 1e4]])), [[0.5, 0.5]])


def test_uniform_logits_give_log_k():
    ce = SoftmaxCrossEntropy()
    loss = ce.forward(np.zeros((3, 10)), np.array([0, 5, 9]))
    assert float(loss) == pytest.approx(math.log(10), rel=1e-12)
