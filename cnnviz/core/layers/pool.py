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
        """dx (N, C, H, W) from per_offset(i, j, out) -> the gradient of window offset (i, j),
        written into `out` (an (N, C, Ho, Wo) view of dx) when that is given, else returned.

        Windows that do not overlap (stride == kernel) each own their pixels: every offset
        is written once into its strided view of dx, with no zero fill and no adds. Otherwise
        the offsets are added into zeros."""
        k, s = self.kernel_size, self.stride
        _, ho, wo = self.output_shape(x_shape[1:])
        views = [(i, j, (slice(None), slice(None), slice(i, i + s * ho, s),
                         slice(j, j + s * wo, s))) for i in range(k) for j in range(k)]
        if s == k:
            dx = self._empty(x_shape, ho * k, wo * k)
            for i, j, view in views:
                per_offset(i, j, dx[view])
            return dx
        dx = None
        for i, j, view in views:
            part = per_offset(i, j, None)
            if dx is None:
                dx = array_module(part).zeros(x_shape, dtype=part.dtype)
            dx[view] += part
        return dx

    def _empty(self, x_shape, h, w):
        """An uninitialised dx, but zero outside the first h rows and w columns (the pixels
        no window covers)."""
        xp, dtype = self._xp_dtype
        dx = xp.empty(x_shape, dtype=dtype)
        dx[:, :, h:, :] = 0
        dx[:, :, :h, w:] = 0
        return dx


class MaxPool2D(_Pool2D):
    """Max pooling; backward routes each gradient to the first position of its window's max."""

    kind = "MaxPool2D"

    def forward(self, x, training=False):
        xp = array_module(x)
        self._xp_dtype = (xp, x.dtype)
        if training and self.kernel_size == self.stride == 2:  # a backward pass follows
            return self._forward_2x2(x, xp)
        parts = self._offsets(x)
        y = next(parts).copy()
        for part in parts:
            xp.maximum(y, part, out=y)
        self._cache = ("any", x, y)
        return y

    def _forward_2x2(self, x, xp):
        """The 2x2/2 case in training keeps, instead of x, where each window's max is: `low`
        (bottom row) and `right` (right column), (N, C, Ho, Wo) bools; backward then writes
        each offset's gradient in one pass (forward 1.7 -> 3.0 ms, backward 5.4 -> 2.7 ms for
        cnn-bn's 3.MaxPool2D at batch 64). Ties go to the first offset in row-major order, as
        in the general case (strict comparisons)."""
        a, b, c, d = self._offsets(x)  # offsets (0, 0), (0, 1), (1, 0), (1, 1)
        top, bottom = xp.maximum(a, b), xp.maximum(c, d)
        right_top, right_bottom, low = b > a, d > c, bottom > top
        right = right_top ^ ((right_top ^ right_bottom) & low)
        y = xp.maximum(top, bottom, out=top)
        self._cache = ("2x2", x.shape, low, right)
        return y

    def backward(self, dy):
        """Each window's gradient goes to the first offset (row-major) that holds its max."""
        if self._cache[0] == "2x2":
            _, x_shape, low, right = self._cache
            rows, cols = (~low, low), (~right, right)
            return self._scatter(
                x_shape, lambda i, j, out: array_module(dy).multiply(
                    dy, rows[i] & cols[j], out=out))
        _, x, y = self._cache
        xp = array_module(dy)
        parts = list(self._offsets(x))
        left = dy.astype(y.dtype, copy=True)  # the gradient not routed yet
        last = len(parts) - 1

        def route(i, j, out):
            n = i * self.kernel_size + j
            if n == last:  # whatever is left belongs to the last offset
                if out is not None:
                    out[...] = left
                return left
            hit = parts[n] == y
            part = xp.multiply(left, hit, out=out)
            xp.logical_not(hit, out=hit)
            left.__imul__(hit)
            return part

        return self._scatter(x.shape, route)


class AvgPool2D(_Pool2D):
    """Average pooling; backward spreads each gradient evenly over its window."""

    kind = "AvgPool2D"

    def forward(self, x, training=False):
        y = None
        for part in self._offsets(x):
            y = part.copy() if y is None else y.__iadd__(part)
        y *= 1.0 / self.kernel_size**2
        self._cache = x.shape
        self._xp_dtype = (array_module(x), x.dtype)
        return y

    def backward(self, dy):
        share = (dy / (self.kernel_size**2)).astype(self._xp_dtype[1], copy=False)

        def spread(i, j, out):
            if out is None:
                return share
            out[...] = share
            return out

        return self._scatter(self._cache, spread)
