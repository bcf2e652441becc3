"""Conv2D and pooling against direct-loop references; im2col / col2im; max-pool routing."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.layers import AvgPool2D, Conv2D, MaxPool2D
from cnnviz.core.layers.conv import CHANNELS_LAST_FROM
from cnnviz.core.layers.im2col import (
    col2im_nchw,
    col2im_nhwc,
    im2col_nchw,
    im2col_nhwc,
    out_size,
    pad_nchw,
    pad_nhwc,
)


def conv_reference(x, w, b, stride, padding):
    """Direct loops over the output.

    y[n, o, i, j] = sum_{c, u, v} xpad[n, c, i*s + u, j*s + v] * w[o, c, u, v] + b[o].
    """
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xpad = np.zeros((n, c, h + 2 * padding, wd + 2 * padding))
    xpad[:, :, padding : padding + h, padding : padding + wd] = x
    ho = (h - k + 2 * padding) // stride + 1
    wo = (wd - k + 2 * padding) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for ni in range(n):
        for oi in range(o):
            for i in range(ho):
                for j in range(wo):
                    win = xpad[ni, :, i * stride : i * stride + k, j * stride : j * stride + k]
                    y[ni, oi, i, j] = np.sum(win * w[oi]) + b[oi]
    return y


def pool_reference(x, k, s, reduce):
    n, c, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            y[:, :, i, j] = reduce(x[:, :, i * s : i * s + k, j * s : j * s + k], axis=(2, 3))
    return y


CASES = [
    # (N, C, H, W, out, k, s, p)
    (2, 3, 7, 7, 4, 3, 1, 1),
    (1, 2, 8, 5, 3, 3, 2, 0),
    (2, 1, 9, 11, 2, 5, 3, 2),
    (1, 3, 6, 4, 2, 1, 1, 0),
    (1, 2, 5, 7, 3, 3, 2, 2),
    (2, 2, 10, 9, 2, 5, 2, 1),
    (1, 1, 28, 28, 2, 5, 1, 2),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("n,c,h,w,o,k,s,p", CASES)
def test_conv_forward_matches_direct_loops(n, c, h, w, o, k, s, p, channels_last):
    rng = np.random.default_rng(0)
    layer = Conv2D(c, o, k, stride=s, padding=p, rng=rng)
    layer.channels_last = channels_last
    layer.astype(np.float64)
    layer.params["b"][...] = rng.standard_normal(o)
    x = rng.standard_normal((n, c, h, w))
    y = layer.forward(x, training=False)
    ref = conv_reference(x, layer.params["W"], layer.params["b"], s, p)
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
    assert y.flags.c_contiguous
    # float32 by default, and float32 in -> float32 out
    layer32 = Conv2D(c, o, k, stride=s, padding=p, rng=np.random.default_rng(0))
    layer32.channels_last = channels_last
    assert layer32.params["W"].dtype == np.float32
    y32 = layer32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(
        y32, conv_reference(x, layer32.params["W"].astype(np.float64), np.zeros(o), s, p),
        rtol=1e-4, atol=1e-4,
    )


@pytest.mark.parametrize("h,k,s,p", [(28, 5, 1, 2), (28, 3, 2, 1), (7, 3, 3, 0), (8, 3, 3, 0),
                                     (4, 1, 3, 2), (5, 5, 1, 0), (10, 4, 3, 1)])
def test_output_size_formula(h, k, s, p):
    expected = (h - k + 2 * p) // s + 1
    assert out_size(h, k, s, p) == expected
    w = h + 3
    layer = Conv2D(2, 5, k, stride=s, padding=p)
    assert layer.output_shape((2, h, w)) == (5, expected, (w - k + 2 * p) // s + 1)
    y = layer.forward(np.zeros((1, 2, h, w), np.float32))
    assert y.shape == (1, *layer.output_shape((2, h, w)))


def test_conv_output_shape_errors():
    layer = Conv2D(3, 4, 7)
    with pytest.raises(ValueError, match="4x4"):
        layer.output_shape((3, 4, 4))
    with pytest.raises(ValueError, match="3 input channels"):
        layer.output_shape((1, 10, 10))
    with pytest.raises(ValueError):
        layer.output_shape((3, 10))
    for bad in ({"kernel_size": 0}, {"stride": 0}, {"padding": -1}):
        args = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, **bad}
        with pytest.raises(ValueError):
            Conv2D(**args)


def test_conv_mult_adds():
    layer = Conv2D(3, 8, 5, stride=2, padding=1)
    _, ho, wo = layer.output_shape((3, 13, 11))
    assert layer.mult_adds((3, 13, 11)) == ho * wo * 8 * 3 * 5 * 5


def test_pad_and_im2col_against_loops():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 6))
    xpad = pad_nhwc(x, 2)
    assert xpad.shape == (2, 9, 10, 3)
    np.testing.assert_array_equal(xpad[:, 2:7, 2:8, :], x.transpose(0, 2, 3, 1))
    assert np.count_nonzero(xpad) == x.size
    k, s = 3, 2
    cols, ho, wo = im2col_nhwc(xpad, k, s)
    assert (ho, wo) == (4, 4)
    assert cols.shape == (2 * ho * wo, k * k * 3)
    row = 0
    for n in range(2):
        for i in range(ho):
            for j in range(wo):
                window = xpad[n, i * s : i * s + k, j * s : j * s + k, :]  # (k, k, C)
                np.testing.assert_array_equal(cols[row], window.reshape(-1))
                row += 1


@pytest.mark.parametrize("h,w,k,s", [(7, 7, 3, 1), (8, 6, 3, 2), (9, 7, 2, 3), (5, 5, 5, 1)])
def test_col2im_is_the_adjoint_of_im2col(h, w, k, s):
    """<im2col(x), C> == <x, col2im(C)> for every x and C, overlapping windows included."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, h, w, 3))
    cols, ho, wo = im2col_nhwc(x, k, s)
    c = rng.standard_normal(cols.shape)
    back = col2im_nhwc(c.reshape(2, ho, wo, k, k, 3), x.shape, s)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)
    # overlapping windows: an all-ones gradient counts how many windows cover each pixel
    ones = col2im_nhwc(np.ones((1, ho, wo, k, k, 1)), (1, h, w, 1), s)
    count = np.zeros((h, w))
    for i in range(ho):
        for j in range(wo):
            count[i * s : i * s + k, j * s : j * s + k] += 1
    np.testing.assert_array_equal(ones[0, :, :, 0], count)


def test_conv_layout_follows_the_input_channels():
    assert not Conv2D(1, 32, 3).channels_last
    assert not Conv2D(CHANNELS_LAST_FROM - 1, 4, 3).channels_last
    assert Conv2D(CHANNELS_LAST_FROM, 4, 3).channels_last and Conv2D(32, 64, 3).channels_last
    # the cache remembers the layout of its forward pass: switching in between is harmless
    rng = np.random.default_rng(3)
    layer = Conv2D(2, 3, 3, padding=1, rng=rng)
    x, dy = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((2, 3, 5, 6))
    layer.astype(np.float64)
    y = layer.forward(x, True)
    dx = layer.backward(dy)
    layer.forward(x, True)
    layer.channels_last = True
    np.testing.assert_allclose(layer.backward(dy), dx, rtol=1e-12)
    np.testing.assert_allclose(layer.forward(x, True), y, rtol=1e-12)
    np.testing.assert_allclose(layer.backward(dy), dx, rtol=1e-12)


@pytest.mark.parametrize("ones_row", [False, True])
def test_pad_and_im2col_nchw_against_loops(ones_row):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 6))
    assert pad_nchw(x, 0) is x
    xpad = pad_nchw(x, 2)
    assert xpad.shape == (2, 3, 9, 10) and np.count_nonzero(xpad) == x.size
    np.testing.assert_array_equal(xpad[:, :, 2:7, 2:8], x)
    k, s = 3, 2
    cols, ho, wo = im2col_nchw(xpad, k, s, ones_row=ones_row)
    assert (ho, wo) == (4, 4)
    assert cols.shape == (2, 3 * k * k + ones_row, ho * wo) and cols.flags.c_contiguous
    for n in range(2):
        for i in range(ho):
            for j in range(wo):
                window = xpad[n, :, i * s : i * s + k, j * s : j * s + k]  # (C, k, k)
                column = cols[n, :, i * wo + j]
                np.testing.assert_array_equal(column[: 3 * k * k], window.reshape(-1))
                if ones_row:
                    assert column[-1] == 1


@pytest.mark.parametrize("h,w,k,s", [(7, 7, 3, 1), (8, 6, 3, 2), (9, 7, 2, 3), (5, 5, 5, 1)])
def test_col2im_nchw_is_the_adjoint_of_im2col_nchw(h, w, k, s):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, h, w))
    cols, ho, wo = im2col_nchw(x, k, s)
    c = rng.standard_normal(cols.shape)
    back = col2im_nchw(c.reshape(2, 3, k, k, ho, wo), x.shape, s)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)
    ones = col2im_nchw(np.ones((1, 1, k, k, ho, wo)), (1, 1, h, w), s)
    count = np.zeros((h, w))
    for i in range(ho):
        for j in range(wo):
            count[i * s : i * s + k, j * s : j * s + k] += 1
    np.testing.assert_array_equal(ones[0, 0], count)


@pytest.mark.parametrize("h,w,k,s", [(6, 6, 2, 2), (7, 5, 2, 2), (7, 7, 3, 2), (6, 8, 3, 1),
                                     (8, 7, 2, 3)])
def test_pool_forward_matches_loops(h, w, k, s):
    x = np.random.default_rng(3).standard_normal((2, 3, h, w))
    np.testing.assert_array_equal(MaxPool2D(k, s).forward(x), pool_reference(x, k, s, np.max))
    np.testing.assert_allclose(AvgPool2D(k, s).forward(x), pool_reference(x, k, s, np.mean),
                               rtol=1e-12)
    assert MaxPool2D(k, s).output_shape((3, h, w)) == (3, (h - k) // s + 1, (w - k) // s + 1)
    assert AvgPool2D(k, s).forward(x.astype(np.float32)).dtype == np.float32


def test_pool_output_shape_errors():
    with pytest.raises(ValueError, match="3x3"):
        MaxPool2D(4).output_shape((1, 3, 3))
    with pytest.raises(ValueError):
        AvgPool2D(0)


def maxpool_backward_reference(x, dy, k, s):
    """dx (N, C, H, W): each window's dy (N, C, Ho, Wo) added at its FIRST max in row-major
    order (np.argmax returns the first occurrence), summed over overlapping windows."""
    dx = np.zeros(x.shape, np.float64)
    n, c, ho, wo = dy.shape
    for ni in range(n):
        for ci in range(c):
            for i in range(ho):
                for j in range(wo):
                    win = x[ni, ci, i * s : i * s + k, j * s : j * s + k]
                    u, v = np.unravel_index(np.argmax(win), win.shape)
                    dx[ni, ci, i * s + u, j * s + v] += dy[ni, ci, i, j]
    return dx


@pytest.mark.parametrize("h,w,k,s", [(6, 6, 2, 2), (7, 5, 3, 2), (6, 7, 3, 1), (7, 8, 3, 3),
                                     (5, 5, 2, 2)])
def test_maxpool_routes_gradient_to_the_max_only(h, w, k, s):
    """Tie-free input: dx is the sum over windows of dy placed at each window's argmax."""
    n, c = 2, 2
    rng = np.random.default_rng(4)
    x = rng.permutation(n * c * h * w).reshape(n, c, h, w).astype(np.float64)
    layer = MaxPool2D(k, s)
    y = layer.forward(x, True)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, maxpool_backward_reference(x, dy, k, s), rtol=1e-12, atol=0)


# Every backward path of MaxPool2D: (k, s, training) -> the 2x2/2 path in training (keeps
# where each max is), the general path writing each offset once (stride == kernel), and the
# general path adding offsets into zeros (overlapping windows, or gaps between them).
POOL_PATHS = [
    pytest.param(2, 2, True, id="2x2-fast"),
    pytest.param(2, 2, False, id="2x2-eval-general"),
    pytest.param(3, 3, True, id="general-disjoint"),
    pytest.param(3, 2, True, id="general-overlap"),
    pytest.param(2, 1, True, id="general-overlap-s1"),
    pytest.param(2, 3, True, id="general-gaps"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k,s,training", POOL_PATHS)
def test_maxpool_ties_go_to_the_first_max_in_row_major_order(k, s, training, dtype):
    """Windows with tied maxima (values 0..2, plus a ReLU-like block of zeros): each window's
    gradient goes to the first max (row-major), as the direct loop with np.argmax does."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, (3, 4, 9, 8)).astype(dtype)
    x[0, 0] = 0  # a whole channel tied
    layer = MaxPool2D(k, s)
    y = layer.forward(x, training)
    dy = rng.standard_normal(y.shape).astype(dtype)
    ref = maxpool_backward_reference(x, dy, k, s)
    # the input must tell "first" from "last": many windows where the two differ
    last_differs = 0
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            win = x[:, :, i * s : i * s + k, j * s : j * s + k].reshape(*x.shape[:2], -1)
            last = win.shape[-1] - 1 - np.argmax(win[..., ::-1], axis=-1)
            last_differs += np.count_nonzero(np.argmax(win, axis=-1) != last)
    assert last_differs > 50
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, ref, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)
    # each window's position, one window at a time (no sums hiding a misplaced gradient)
    for i, j in [(0, 0), (y.shape[2] // 2, 1), (y.shape[2] - 1, y.shape[3] - 1)]:
        one = np.zeros_like(dy)
        one[:, :, i, j] = 1
        layer.forward(x, training)
        np.testing.assert_array_equal(layer.backward(one),
                                      maxpool_backward_reference(x, one, k, s))


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (3, 2), (3, 3)])
def test_maxpool_with_ties_routes_each_window_to_exactly_one_position(k, s):
    h, w = 7, 6
    x = np.zeros((1, 2, h, w))
    x[0, 1, ::2, :] = 1.0  # channel 1: ties of 1s, channel 0: all zeros (all tied)
    layer = MaxPool2D(k, s)
    y = layer.forward(x, True)
    ho, wo = y.shape[2:]
    for ch in range(2):
        for i in range(ho):
            for j in range(wo):
                dy = np.zeros_like(y)
                dy[0, ch, i, j] = 1.0
                layer.forward(x, True)
                dx = layer.backward(dy)
                hits = np.argwhere(dx != 0)
                assert len(hits) == 1, f"window ({ch}, {i}, {j}) routed to {len(hits)} positions"
                _, c_, u, v = hits[0]
                assert c_ == ch and i * s <= u < i * s + k and j * s <= v < j * s + k
                assert dx[0, c_, u, v] == 1.0
                assert x[0, c_, u, v] == y[0, ch, i, j]
    # all windows at once: the gradient is conserved
    dy = np.random.default_rng(5).standard_normal(y.shape)
    layer.forward(x, True)
    np.testing.assert_allclose(layer.backward(dy).sum(), dy.sum(), rtol=1e-12)


def test_avgpool_spreads_gradient_evenly():
    layer = AvgPool2D(2)
    x = np.zeros((1, 1, 5, 4))
    layer.forward(x, True)
    dy = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    dx = layer.backward(dy)
    expected = np.zeros((5, 4))
    expected[:4, :4] = np.kron(dy[0, 0], np.ones((2, 2))) / 4
    np.testing.assert_allclose(dx[0, 0], expected)


@pytest.mark.parametrize("h,w", [(6, 6), (7, 5)])
def test_maxpool_2x2_training_and_eval_paths_agree(h, w):
    """2x2/2 in training keeps where each max is, in eval the input; same y and same dx
    (ties included: half the values are zeros, as after a ReLU)."""
    rng = np.random.default_rng(9)
    x = np.maximum(rng.standard_normal((2, 3, h, w)), 0)
    dy = rng.standard_normal((2, 3, h // 2, w // 2))
    train, evaluate = MaxPool2D(2), MaxPool2D(2)
    y = train.forward(x, True)
    np.testing.assert_array_equal(y, pool_reference(x, 2, 2, np.max))
    np.testing.assert_array_equal(evaluate.forward(x, False), y)
    np.testing.assert_array_equal(train.backward(dy), evaluate.backward(dy))
