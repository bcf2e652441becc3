"""Strided window views (im2col) and their scatter-add inverse (col2im), on numpy or cupy.

Two layouts, chosen by Conv2D from its number of input channels:

- channels-last (N, H, W, C): each window row copies runs of C contiguous floats, several times
  faster than gathering k-float runs from NCHW when C is large (32 and more);
- channels-first (N, C, H, W): each copied run is a window row of the output (Wo floats), which
  wins when C is small (the first layer sees C = 1); the product then gives NCHW directly.
"""

from __future__ import annotations

from cnnviz.backend import array_module


def out_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Output length of a window sweep: floor((size - kernel + 2 * padding) / stride) + 1."""
    return (size - kernel + 2 * padding) // stride + 1


def pad_nhwc(x, padding: int):
    """(N, C, H, W) -> zero-padded channels-last copy (N, H + 2p, W + 2p, C)."""
    xp = array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, h + 2 * padding, w + 2 * padding, c), dtype=x.dtype)
    out[:, padding : padding + h, padding : padding + w, :] = x.transpose(0, 2, 3, 1)
    return out


def pad_nchw(x, padding: int):
    """(N, C, H, W) -> zero-padded (N, C, H + 2p, W + 2p); x itself when padding is 0."""
    if padding == 0:
        return x
    xp = array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    out[:, :, padding : padding + h, padding : padding + w] = x
    return out


def im2col_nhwc(x, kernel: int, stride: int):
    """Rows of windows: (N, H, W, C) -> ((N * Ho * Wo, k * k * C), Ho, Wo).

    One strided view of every k x k window, (N, Ho, Wo, k, k, C), copied once.
    """
    xp = array_module(x)
    n, h, w, c = x.shape
    ho, wo = out_size(h, kernel, stride), out_size(w, kernel, stride)
    sn, sh, sw, sc = x.strides
    view = xp.lib.stride_tricks.as_strided(
        x, (n, ho, wo, kernel, kernel, c), (sn, sh * stride, sw * stride, sh, sw, sc)
    )
    return xp.ascontiguousarray(view).reshape(n * ho * wo, kernel * kernel * c), ho, wo


def im2col_nchw(x, kernel: int, stride: int, ones_row: bool = False):
    """Columns of windows per sample: (N, C, H, W) -> ((N, C * k * k, Ho * Wo), Ho, Wo).

    One strided view (N, C, k, k, Ho, Wo), copied once; row (c, u, v) of sample n holds
    x[n, c, i * s + u, j * s + v] for every output position (i, j), so W.reshape(out, -1) @ it
    is that sample's output, already channels-first. `ones_row` appends a row of ones
    (C * k * k + 1 rows), so that [W | b] @ it adds the bias in the same product.
    """
    xp = array_module(x)
    n, c, h, w = x.shape
    ho, wo = out_size(h, kernel, stride), out_size(w, kernel, stride)
    sn, sc, sh, sw = x.strides
    view = xp.lib.stride_tricks.as_strided(
        x, (n, c, kernel, kernel, ho, wo), (sn, sc, sh, sw, sh * stride, sw * stride)
    )
    rows = c * kernel * kernel
    if not ones_row:
        return xp.ascontiguousarray(view).reshape(n, rows, ho * wo), ho, wo
    cols = xp.empty((n, rows + 1, ho * wo), dtype=x.dtype)
    cols[:, :rows].reshape(view.shape)[...] = view  # splits axes only: a view, written in place
    cols[:, rows] = 1
    return cols, ho, wo


def col2im_nhwc(cols, x_shape: tuple[int, ...], stride: int):
    """Scatter-add inverse of im2col_nhwc: (N, Ho, Wo, k, k, C) -> (N, H, W, C).

    One strided slice-add per kernel offset (k * k of them), so overlapping windows sum
    correctly on numpy and cupy alike (no fancy-index assignment with repeated indices).
    """
    xp = array_module(cols)
    n, ho, wo, kernel = cols.shape[:4]
    dx = xp.zeros(x_shape, dtype=cols.dtype)
    for i in range(kernel):
        for j in range(kernel):
            dx[:, i : i + stride * ho : stride, j : j + stride * wo : stride, :] += cols[
                :, :, :, i, j, :
            ]
    return dx


def col2im_nchw_wide(cols, x_shape: tuple[int, ...]):
    """Scatter-add inverse of a stride-1 im2col_nchw whose outputs were widened to the input's
    width: cols (N, C, k, k, Ho * W) -> (N, C, H, W), with H = Ho + k - 1 and zeros in each
    row's last k - 1 columns of cols. A kernel offset (i, j) then shifts the whole flattened
    block by i * W + j, so each of the k * k adds is one long contiguous run (rows wrap into
    the zero columns) instead of Ho short strided rows."""
    xp = array_module(cols)
    n, c, kernel = cols.shape[:3]
    h, w = x_shape[2:]
    run = cols.shape[-1]
    flat = xp.zeros((n, c, h * w + kernel - 1), dtype=cols.dtype)
    for i in range(kernel):
        for j in range(kernel):
            flat[:, :, i * w + j : i * w + j + run] += cols[:, :, i, j]
    return flat[:, :, : h * w].reshape(n, c, h, w)


def col2im_nchw(cols, x_shape: tuple[int, ...], stride: int):
    """Scatter-add inverse of im2col_nchw: (N, C, k, k, Ho, Wo) -> (N, C, H, W).

    One strided slice-add per kernel offset, as col2im_nhwc.
    """
    xp = array_module(cols)
    kernel, ho, wo = cols.shape[2], cols.shape[4], cols.shape[5]
    dx = xp.zeros(x_shape, dtype=cols.dtype)
    for i in range(kernel):
        for j in range(kernel):
            dx[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += cols[
                :, :, i, j
            ]
    return dx
