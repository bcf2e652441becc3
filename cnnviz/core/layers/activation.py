"""Element-wise activations. Shapes pass through unchanged."""

from __future__ import annotations

import math

from cnnviz.backend import array_module
from cnnviz.core.layers.base import Layer


class ReLU(Layer):
    """max(x, 0)."""

    kind = "ReLU"

    def forward(self, x, training=False):
        xp = array_module(x)
        y = xp.maximum(x, 0)
        self._cache = y
        return y

    def backward(self, dy):
        return dy * (self._cache > 0)


class LeakyReLU(Layer):
    """x where x > 0, else negative_slope * x."""

    kind = "LeakyReLU"

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)
        if not math.isfinite(self.negative_slope):  # inf * 0 is NaN
            raise ValueError(f"{self!r}: negative_slope must be a finite number")

    def config(self):
        return {"negative_slope": self.negative_slope}

    def forward(self, x, training=False):
        xp = array_module(x)
        self._cache = x
        return xp.where(x > 0, x, x * self.negative_slope)

    def backward(self, dy):
        xp = array_module(dy)
        return xp.where(self._cache > 0, dy, dy * self.negative_slope)


class Tanh(Layer):
    """tanh(x)."""

    kind = "Tanh"

    def forward(self, x, training=False):
        y = array_module(x).tanh(x)
        self._cache = y
        return y

    def backward(self, dy):
        y = self._cache
        return dy * (1 - y * y)


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), computed without overflow."""

    kind = "Sigmoid"

    def forward(self, x, training=False):
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self._cache = y
        return y

    def backward(self, dy):
        y = self._cache
        return dy * y * (1 - y)


class HardTanh(Layer):
    """clip(x, -1, 1); gradient 1 inside (-1, 1), 0 outside."""

    kind = "HardTanh"

    def forward(self, x, training=False):
        xp = array_module(x)
        self._cache = x
        return xp.clip(x, -1, 1)

    def backward(self, dy):
        x = self._cache
        return dy * ((x > -1) & (x < 1))


class Identity(Layer):
    """y = x."""

    kind = "Identity"

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy
