"""Turn a hand-drawn digit of any size into a 28x28 image prepared the way MNIST was.

MNIST digits were size-normalised to fit a 20x20 box keeping their aspect ratio, with
anti-aliasing, then placed in a 28x28 image so that their centre of mass is at the
centre: pixel (row, col) = (14, 14) in index coordinates (measured on MNIST: 14.0, 14.0).
"""

from __future__ import annotations

import numpy as np

__all__ = ["preprocess_drawing", "resize"]

SIZE = 28
BOX = 20
CENTRE = 14.0


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """Resampling matrix (n_out, n_in): area average when shrinking, bilinear when growing."""
    if n_out <= n_in:
        # Output pixel i covers source interval [i*n_in/n_out, (i+1)*n_in/n_out).
        edges = np.arange(n_out + 1) * (n_in / n_out)
        lo, hi = edges[:-1, None], edges[1:, None]
        j = np.arange(n_in)[None, :]
        w = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    else:
        # Output pixel centre i+0.5 maps to source coordinate c; interpolate its neighbours.
        c = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        c = np.clip(c, 0, n_in - 1)
        j0 = np.floor(c).astype(int)
        j1 = np.minimum(j0 + 1, n_in - 1)
        f = c - j0
        w = np.zeros((n_out, n_in))
        rows = np.arange(n_out)
        np.add.at(w, (rows, j0), 1 - f)
        np.add.at(w, (rows, j1), f)
    return w / w.sum(axis=1, keepdims=True)


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased resize of a 2-D image (h, w) -> (height, width), float64.

    Separable: area averaging on axes that shrink, bilinear on axes that grow.
    """
    img = np.asarray(img, dtype=np.float64)
    return _weights(img.shape[0], height) @ img @ _weights(img.shape[1], width).T


def _to_grey(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    if a.ndim != 2:
        raise ValueError(
            f"preprocess_drawing expects a 2-D grey image (H, W), got shape {np.shape(img)}; "
            "convert the drawing to one channel first"
        )
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    integer = np.issubdtype(a.dtype, np.integer)
    a = np.nan_to_num(a.astype(np.float64))
    if integer or (a.size and a.max() > 1.0):
        a = a / 255.0
    return np.clip(a, 0.0, 1.0)


def preprocess_drawing(img: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Prepare a hand drawing for the network, returning float32 (28, 28) in [0, 1].

    img: (H, W) grey image of any size (also (H, W, 1|3|4)), values 0..255 (any integer
    dtype, or floats above 1) or 0..1. White ink on black is expected; when the image's
    border is mostly bright (mean > 0.5) it is taken as black ink on white and inverted.
    The border's median is then subtracted as background level.

    Steps, as for MNIST: crop to the bounding box of pixels brighter than ``threshold``,
    resize so the longer side is 20 px keeping the aspect ratio (anti-aliased), stretch
    so the brightest pixel is 1, and paste into 28x28 so that the centre of mass lands
    on (14, 14), shifted by whole pixels (rounded). As in MNIST (where 1.3% of digits
    touch the border), a very lopsided shape can lose the rim that falls outside.
    An empty drawing gives all zeros.
    """
    a = _to_grey(img)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    if a.size == 0:
        return out
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    if border.mean() > 0.5:
        a = 1.0 - a
        border = 1.0 - border
    background = float(np.median(border))
    if background >= 1.0:
        return out
    if background > 0.0:
        a = np.clip((a - background) / (1.0 - background), 0.0, 1.0)
    ink = a > threshold
    if not ink.any():
        return out
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    a = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = a.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.clip(resize(a, nh, nw), 0.0, None)
    peak = small.max()
    if peak <= 0:
        return out
    small /= peak
    total = small.sum()
    cy = float(small.sum(axis=1) @ np.arange(nh)) / total
    cx = float(small.sum(axis=0) @ np.arange(nw)) / total
    top, left = round(CENTRE - cy), round(CENTRE - cx)
    # Paste with clipping: like MNIST, centre the mass even if a lopsided shape loses a rim.
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + nh, SIZE), min(left + nw, SIZE)
    out[r0:r1, c0:c1] = small[r0 - top : r1 - top, c0 - left : c1 - left]
    return out
