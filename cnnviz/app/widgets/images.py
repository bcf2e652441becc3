"""Small pyqtgraph views for images. Every image is row-major (`array[row, col]`, row 0 at
the top); NaN pixels are drawn transparent, so they show the view's background."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from cnnviz.data.loader import MNIST_MEAN, MNIST_STD

__all__ = ["MNIST_NORM", "draw_box", "fit_view", "image_item", "image_view", "input_pixels",
           "is_colour", "norm_of", "square_images"]

#: (mean, std) of MNIST, the norm when no session says otherwise.
MNIST_NORM = ((MNIST_MEAN,), (MNIST_STD,))


def image_view(title: str = "", mouse: bool = False) -> pg.PlotItem:
    """A PlotItem for showing an image: no axes, y down, square pixels, no menu or buttons."""
    p = pg.PlotItem()
    p.hideAxis("left")
    p.hideAxis("bottom")
    p.invertY(True)
    p.setAspectLocked(True)
    p.setMouseEnabled(x=mouse, y=mouse)
    p.setMenuEnabled(False)
    p.hideButtons()
    p.setDefaultPadding(0.02)
    if title:
        p.setTitle(title, size="9pt")
    return p


def image_item(cmap: pg.ColorMap | None = None) -> pg.ImageItem:
    """A row-major ImageItem (whatever the global imageAxisOrder) with `cmap`'s lookup table."""
    item = pg.ImageItem(axisOrder="row-major")
    if cmap is not None:
        item.setColorMap(cmap)
    return item


def fit_view(plot: pg.PlotItem, width: float, height: float) -> None:
    """Show exactly the rectangle (0, 0, width, height) of an image view."""
    plot.getViewBox().setRange(QtCore.QRectF(0, 0, width, height), padding=0.02)


def draw_box(curve: pg.PlotCurveItem, x0: float, y0: float, x1: float, y1: float) -> None:
    """Make `curve` trace the outline of the rectangle (x0, y0)-(x1, y1)."""
    curve.setData([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])


def norm_of(state) -> tuple:
    """The (mean, std) of the AppState `state`'s session (MNIST's without one)."""
    info = getattr(state, "info", None)
    return tuple(info.norm) if info is not None else MNIST_NORM


def is_colour(image: np.ndarray) -> bool:
    """True for an (..., H, W, 3) colour picture, False for an (..., H, W) grey one."""
    return np.ndim(image) >= 3 and np.shape(image)[-1] == 3


def input_pixels(image: np.ndarray, norm=None) -> np.ndarray:
    """A network input as the network sees it (normalised), (H, W) grey or (H, W, 3)
    colour, as float32 pixels in [0, 1] (same shape): x * std + mean per channel, with
    norm = (mean, std), one value per channel (MNIST's when None), clipped."""
    mean, std = norm if norm is not None else MNIST_NORM
    mean = np.asarray(mean, np.float32).ravel()
    std = np.asarray(std, np.float32).ravel()
    x = np.asarray(image, np.float32)
    if not is_colour(x):  # grey: the first (only) channel's constants
        mean, std = mean[:1], std[:1]
    return np.clip(x * std + mean, 0.0, 1.0) if x.ndim else x


def square_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) pictures as float32 (N, S, S[, 3]), S = max(H, W), a
    non-square picture centred with NaN (background) around it."""
    x = np.asarray(images, np.float32)
    n, h, w = x.shape[:3]
    if h == w:
        return x
    side = max(h, w)
    out = np.full((n, side, side, *x.shape[3:]), np.nan, np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    out[:, top : top + h, left : left + w] = x
    return out
