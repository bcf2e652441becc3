"""Max and average pooling over k x k windows (overlapping windows allowed)."""

from __future__ import annotations

from cnnviz.backend import array_module
from cnnviz.core.layers.base import Layer
from cnnviz.core.layers.im2col import out_size


class _Pool2D(Layer):
    """Pooling base: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = floor((H - k) / s) + 1."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = int(kernel_size)
        self.stride = int(stride) if stride is not None else self.kernel_size
        if self.kernel_size < 1 or self.stride < 1:
            raise ValueError(f"{self!r}: kernel_size and stride must be at least 1")
        self._cache = None

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"expects (channels, height, width) input, got {in_shape}")
        c, h, w = in_shape
        k, s = self.kernel_size, self.stride
        ho, wo = out_size(h, k, s), out_size(w, k, s)
        if ho < 1 or wo < 1:
            raise ValueError(f"window {self.kernel_size} does not fit a {h}x{w} input")
        return (c, ho, wo)

    def _offsets(self, x):
        """Yield, for each window offset (i, j) in row-major order, x at that offset of every
        window: (N, C, Ho, Wo) strided slices, no copies."""
        k, s = self.kernel_size, self.stride
        _, ho, wo = self.output_shape(x.shape[1:])
        for i in range(k):
            for j in range(k):
                yield x[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s]

    def _scatter(self, x_shape, per_offset):
        """dx (N, C, H, W) from per_offset(i, j) -> the gradient of window offset (i, j)."""
        k, s = self.kernel_size, self.stride
        first = per_offset(0, 0)
        xp = array_module(first)
        ho, wo = first.shape[2:]
        dx = xp.zeros(x_shape, dtype=first.dtype)
        for i in range(k):
            for j in range(k):
                part = first if i == j == 0 else per_offset(i, j)
                dx[:, :, i : i + s * ho : s, j : j + s * wo : s] += part
        return dx


class MaxPool2D(_Pool2D):
    """Max pooling; backward routes each gradient to the first position of its window's max."""

    kind = "MaxPool2D"

    def forward(self, x, training=False):
        xp = array_module(x)
        parts = self._offsets(x)
        y = next(parts).copy()
        for part in parts:
            xp.maximum(y, part, out=y)
        self._cache = (x, y)
        return y

    def backward(self, dy):
        x, y = self._cache
        xp = array_module(dy)
        taken = xp.zeros(y.shape, dtype=bool)
        masks = []
        for part in self._offsets(x):
            hit = (part == y) & ~taken
            taken |= hit
            masks.append(hit)
        flat = iter(masks)
        return self._scatter(x.shape, lambda i, j: dy * next(flat))


class AvgPool2D(_Pool2D):
    """Average pooling; backward spreads each gradient evenly over its window."""

    kind = "AvgPool2D"

    def forward(self, x, training=False):
        y = None
        for part in self._offsets(x):
            y = part.copy() if y is None else y.__iadd__(part)
        y *= 1.0 / self.kernel_size**2
        self._cache = x.shape
        return y

    def backward(self, dy):
        share = dy / (self.kernel_size**2)
        return self._scatter(self._cache, lambda i, j: share)
