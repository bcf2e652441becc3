"""Softmax cross-entropy on logits."""

from __future__ import annotations

from cnnviz.backend import array_module


def softmax(logits):
    """Row-wise softmax, stable for large logits: (N, K) -> (N, K)."""
    xp = array_module(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels.

    forward(logits (N, K), labels (N,)) -> 0-d loss array; backward() -> dlogits (N, K);
    `probs` holds the softmax probabilities of the last forward.
    """

    def __init__(self):
        self.probs = None
        self._labels = None

    def forward(self, logits, labels):
        xp = array_module(logits)
        z = logits - logits.max(axis=1, keepdims=True)
        log_sum = xp.log(xp.exp(z).sum(axis=1, keepdims=True))
        log_probs = z - log_sum
        self.probs = xp.exp(log_probs)
        self._labels = labels
        n = logits.shape[0]
        return -log_probs[xp.arange(n), labels].mean()

    def backward(self):
        xp = array_module(self.probs)
        n = self.probs.shape[0]
        d = self.probs.copy()
        d[xp.arange(n), self._labels] -= 1
        d /= n
        return d
