"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from cnnviz.backend import array_module
from cnnviz.core.layers.base import Layer


class Dropout(Layer):
    """Zero each unit with probability p in training, scale the rest by 1/(1-p); eval: identity.

    The mask comes from a seeded numpy Generator (`rng`, saved in checkpoints) so runs repeat
    exactly on every backend.
    """

    kind = "Dropout"

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = float(p)
        if not 0 <= self.p < 1:
            raise ValueError(f"Dropout(p={p}): p must be in [0, 1)")
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._cache = None

    def config(self):
        return {"p": self.p}

    def forward(self, x, training=False):
        if not training or self.p == 0:
            self._cache = None
            return x
        keep = (self.rng.random(x.shape, dtype=np.float32) >= self.p).astype(np.float32)
        keep *= 1.0 / (1.0 - self.p)
        mask = array_module(x).asarray(keep, dtype=x.dtype)
        self._cache = mask
        return x * mask

    def backward(self, dy):
        return dy if self._cache is None else dy * self._cache
