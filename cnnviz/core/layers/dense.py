"""Fully connected layer and the flatten that feeds it."""

from __future__ import annotations

import math

import numpy as np

from cnnviz.core.init import initial_weights
from cnnviz.core.layers.base import Layer


class Dense(Layer):
    """y = x @ W + b. x: (N, in), W: (in, out), b: (out,), y: (N, out)."""

    kind = "Dense"

    def __init__(self, in_features, out_features, init="he", rng=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.init = init
        if min(self.in_features, self.out_features) < 1:
            raise ValueError(f"{self!r}: features must be at least 1")
        rng = rng if rng is not None else np.random.default_rng(0)
        shape = (self.in_features, self.out_features)
        self.params = {
            "W": initial_weights(rng, shape, self.in_features, self.out_features, init),
            "b": np.zeros(self.out_features, np.float32),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._cache = None

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features}

    def output_shape(self, in_shape):
        if len(in_shape) != 1 or in_shape[0] != self.in_features:
            raise ValueError(
                f"expects {self.in_features} input features, got shape {in_shape}"
                + (" (add a Flatten before it)" if len(in_shape) > 1 else "")
            )
        return (self.out_features,)

    def mult_adds(self, in_shape):
        return self.in_features * self.out_features

    def forward(self, x, training=False):
        self._cache = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        x = self._cache
        self.grads["W"][...] = x.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class Flatten(Layer):
    """(N, C, H, W) -> (N, C * H * W)."""

    kind = "Flatten"

    def output_shape(self, in_shape):
        return (math.prod(in_shape),)

    def forward(self, x, training=False):
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._cache)
