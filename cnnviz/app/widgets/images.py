"""Small pyqtgraph views for images. Every image is row-major (`array[row, col]`, row 0 at
the top); NaN pixels are drawn transparent, so they show the view's background."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore

__all__ = ["draw_box", "fit_view", "image_item", "image_view"]


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
