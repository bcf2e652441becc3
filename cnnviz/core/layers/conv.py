"""2-D convolution by im2col and one matrix product, or by Winograd F(2x2, 3x3) (winograd.py)."""

from __future__ import annotations

import numpy as np

from cnnviz.backend import array_module
from cnnviz.core.init import initial_weights
from cnnviz.core.layers.base import Layer
from cnnviz.core.layers.im2col import (
    col2im_nchw,
    col2im_nchw_wide,
    col2im_nhwc,
    im2col_nchw,
    im2col_nhwc,
    out_size,
    pad_nchw,
    pad_nhwc,
)
from cnnviz.core.layers.winograd import winograd_conv2d, winograd_conv2d_backward

# From this many input channels on, windows are gathered channels-last (runs of `in` floats and
# one large matrix product); below it, channels-first (runs of Wo floats, one product per sample
# that lands in NCHW with no transpose). Measured on cnn-bn: C = 1 is 3-5x faster channels-first,
# C = 32 about 1.3x faster channels-last; C = 16 is a tie.
CHANNELS_LAST_FROM = 16

ALGORITHMS = ("auto", "direct", "winograd")
# "auto" runs Winograd F(2x2, 3x3) on a 3x3 stride-1 layer with at least WINOGRAD_FROM input
# channels whose output height and width are both even; everything else runs im2col ("direct").
# Measured on the 2-core CPU, batch 64, forward + backward time, winograd / direct:
#   C >= 32, even outputs (4x4 to 28x28): 0.76-0.90; cnn-bn's 4.Conv2D (32 -> 64, 14x14): 0.87
#   C >= 32, odd outputs (the last tile row and column are half wasted): 5x5 1.26, 7x7 1.21,
#     9x9 1.16, 13x13 1.02, 27x27 0.8-0.9
#   C = 16-24: 0.80-1.03 (a tie at best), C = 8: 1.5, C = 4: 2.6, C = 1: 12 (cnn-bn's 0.Conv2D)
# Only in training: its forward alone is slower (cnn-bn's 4.Conv2D in eval mode, batch 256:
# winograd 48 ms, direct 41 ms); the gain is in the backward pass.
# On cupy arrays "auto" stays direct: Winograd has not been measured on a GPU.
WINOGRAD_FROM = 32


class Conv2D(Layer):
    """Zero-padded 2-D convolution. W: (out, in, k, k), b: (out,).

    forward: x (N, in, H, W) -> y (N, out, Ho, Wo), Ho = floor((H - k + 2p) / s) + 1.
    Inside, windows are gathered channels-last when `channels_last` (default: in >= 16), so
    each copied run is `in` floats long, else channels-first (see CHANNELS_LAST_FROM).

    `algorithm`: "direct" (im2col and one matrix product), "winograd" (F(2x2, 3x3), only for
    kernel_size 3 and stride 1) or "auto" (the default: Winograd where it measured faster, see
    WINOGRAD_FROM and `algorithm_for`). `algorithm_used` is the one the last forward pass ran,
    "direct" or "winograd"; before the first, None where "auto" waits for the input size.
    """

    kind = "Conv2D"

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, init="he", rng=None,
        algorithm="auto",
    ):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        self.init = init
        self.algorithm = algorithm
        if min(self.in_channels, self.out_channels, self.kernel_size, self.stride) < 1:
            raise ValueError(f"{self!r}: channels, kernel_size and stride must be at least 1")
        if self.padding < 0:
            raise ValueError(f"{self!r}: padding must be 0 or more")
        self._check_algorithm()
        self.algorithm_used = self.algorithm_for(None)
        rng = rng if rng is not None else np.random.default_rng(0)
        k = self.kernel_size
        fan_in, fan_out = self.in_channels * k * k, self.out_channels * k * k
        shape = (self.out_channels, self.in_channels, k, k)
        self.params = {
            "W": initial_weights(rng, shape, fan_in, fan_out, init),
            "b": np.zeros(self.out_channels, np.float32),
        }
        self.grads = {k_: np.zeros_like(v) for k_, v in self.params.items()}
        self.channels_last = self.in_channels >= CHANNELS_LAST_FROM
        self._cache = None

    def _check_algorithm(self):
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"{self!r}: unknown algorithm {self.algorithm!r}; choose one of "
                f"{', '.join(ALGORITHMS)}"
            )
        if self.algorithm == "winograd" and (self.kernel_size, self.stride) != (3, 1):
            raise ValueError(
                f"{self!r}: algorithm 'winograd' (F(2x2, 3x3)) needs kernel_size 3 and stride 1, "
                f"got kernel_size {self.kernel_size} and stride {self.stride}"
            )

    def algorithm_for(self, in_shape, gpu=False, training=True):
        """The algorithm forward runs on one sample of shape (C, H, W): "direct" or "winograd".

        `gpu`: the input is a cupy array; `training`: a training-mode forward (a backward
        follows). `in_shape` None: the choice as far as it does not depend on the input size
        (None when it does, for an "auto" layer that Winograd could suit).
        """
        if self.algorithm != "auto":
            return self.algorithm
        if (gpu or not training or (self.kernel_size, self.stride) != (3, 1)
                or self.in_channels < WINOGRAD_FROM):
            return "direct"
        if in_shape is None:
            return None
        ho, wo = in_shape[-2] + 2 * self.padding - 2, in_shape[-1] + 2 * self.padding - 2
        return "winograd" if ho % 2 == 0 and wo % 2 == 0 else "direct"

    def config(self):
        config = {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
        }
        if self.algorithm != "auto":  # absent means "auto": specs and checkpoints stay as before
            config["algorithm"] = self.algorithm
        return config

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"expects (channels, height, width) input, got {in_shape}")
        c, h, w = in_shape
        if c != self.in_channels:
            raise ValueError(
                f"expects {self.in_channels} input channels, got {c} (input {in_shape})"
            )
        ho = out_size(h, self.kernel_size, self.stride, self.padding)
        wo = out_size(w, self.kernel_size, self.stride, self.padding)
        if ho < 1 or wo < 1:
            raise ValueError(
                f"kernel {self.kernel_size} with padding {self.padding} does not fit "
                f"a {h}x{w} input"
            )
        return (self.out_channels, ho, wo)

    def mult_adds(self, in_shape):
        _, ho, wo = self.output_shape(in_shape)
        return ho * wo * self.out_channels * self.in_channels * self.kernel_size**2

    def forward(self, x, training=False):
        self.algorithm_used = self.algorithm_for(x.shape[1:], gpu=array_module(x) is not np,
                                                 training=training)
        if self.algorithm_used == "winograd":
            y, cache = winograd_conv2d(x, self.params["W"], self.params["b"], self.padding)
            self._cache = ("winograd", cache)
            return y
        return self._forward_nhwc(x) if self.channels_last else self._forward_nchw(x)

    def infer(self, x, w, b):
        """Eval-mode forward with other weights w (out, in, k, k) and bias b (out,), such as
        a following batch norm folded in (BatchNorm2D.fold); the layer's own are untouched."""
        own = self.params
        self.params = {"W": w, "b": b}
        try:
            return self.forward(x, False)
        finally:
            self.params = own

    def backward(self, dy):
        path = self._cache[0]  # the path of the forward pass that filled the cache
        if path == "winograd":
            dx, dw, db = winograd_conv2d_backward(dy, self._cache[1], self.input_grad)
            self.grads["W"][...] = dw
            self.grads["b"][...] = db
            return dx
        return self._backward_nhwc(dy) if path == "nhwc" else self._backward_nchw(dy)

    def _forward_nhwc(self, x):
        xp = array_module(x)
        n = x.shape[0]
        k, s, o = self.kernel_size, self.stride, self.out_channels
        xpad = pad_nhwc(x, self.padding)  # (N, Hp, Wp, in)
        cols, ho, wo = im2col_nhwc(xpad, k, s)  # (N*Ho*Wo, k*k*in)
        y = cols @ self._wmat().T
        y += self.params["b"]
        self._cache = ("nhwc", cols, xpad.shape, ho, wo)
        return xp.ascontiguousarray(y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2))

    def _forward_nchw(self, x):
        xp = array_module(x)
        n, o = x.shape[0], self.out_channels
        xpad = pad_nchw(x, self.padding)  # (N, in, Hp, Wp)
        # (N, in*k*k + 1, Ho*Wo): the last row is ones, so one product adds the bias too
        cols, ho, wo = im2col_nchw(xpad, self.kernel_size, self.stride, ones_row=True)
        wb = xp.concatenate([self.params["W"].reshape(o, -1), self.params["b"][:, None]], axis=1)
        y = xp.matmul(wb, cols)  # (N, out, Ho*Wo)
        self._cache = ("nchw", cols, xpad.shape, ho, wo)
        return y.reshape(n, o, ho, wo)

    def _wmat(self):
        """W as the (out, k*k*in) matrix that matches im2col_nhwc's column order."""
        return self.params["W"].transpose(0, 2, 3, 1).reshape(self.out_channels, -1)

    def _backward_nhwc(self, dy):
        xp = array_module(dy)
        _, cols, xpad_shape, ho, wo = self._cache
        n, hp, wp, c = xpad_shape
        k, s, p, o = self.kernel_size, self.stride, self.padding, self.out_channels
        dy2 = xp.ascontiguousarray(dy.transpose(0, 2, 3, 1)).reshape(-1, o)  # (N*Ho*Wo, out)
        dw = (dy2.T @ cols).reshape(o, k, k, c).transpose(0, 3, 1, 2)
        self.grads["W"][...] = dw
        self.grads["b"][...] = dy2.sum(axis=0)
        if not self.input_grad:
            return None
        dcols = (dy2 @ self._wmat()).reshape(n, ho, wo, k, k, c)
        dx = col2im_nhwc(dcols, xpad_shape, s)  # (N, Hp, Wp, in)
        return xp.ascontiguousarray(dx[:, p : hp - p, p : wp - p, :].transpose(0, 3, 1, 2))

    def _backward_nchw(self, dy):
        xp = array_module(dy)
        _, cols, xpad_shape, ho, wo = self._cache
        n, c, hp, wp = xpad_shape
        k, s, p, o = self.kernel_size, self.stride, self.padding, self.out_channels
        dy3 = dy.reshape(n, o, ho * wo)
        dwb = xp.matmul(dy3, cols.transpose(0, 2, 1)).sum(axis=0)  # (out, in*k*k + 1)
        self.grads["W"][...] = dwb[:, :-1].reshape(self.params["W"].shape)
        self.grads["b"][...] = dwb[:, -1]  # the ones row: the sum of dy
        if not self.input_grad:
            return None
        wt = self.params["W"].reshape(o, -1).T  # (in*k*k, out)
        if s == 1:  # dy widened to Wp columns: contiguous adds (col2im_nchw_wide)
            wide = xp.zeros((n, o, ho, wp), dtype=dy.dtype)
            wide[:, :, :, :wo] = dy
            dcols = xp.matmul(wt, wide.reshape(n, o, ho * wp))  # (N, in*k*k, Ho*Wp)
            dx = col2im_nchw_wide(dcols.reshape(n, c, k, k, ho * wp), xpad_shape)
        else:
            dcols = xp.matmul(wt, dy3)  # (N, in*k*k, Ho*Wo)
            dx = col2im_nchw(dcols.reshape(n, c, k, k, ho, wo), xpad_shape, s)
        return xp.ascontiguousarray(dx[:, :, p : hp - p, p : wp - p]) if p else dx
