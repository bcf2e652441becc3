"""A pad to draw a digit on with the mouse: a soft round brush, white ink on black."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore
from PySide6.QtCore import Signal

from cnnviz.app.widgets.coalescer import Coalescer

__all__ = ["DrawingPad", "stamp_segment"]


def stamp_segment(canvas: np.ndarray, p0, p1, radius: float) -> None:
    """Draw a soft round-brush line from p0 to p1 ((x, y) in pixels) into canvas (H, W) in
    [0, 1], in place: full ink within radius - soft/2 of the segment, fading linearly over
    `soft` pixels; overlapping ink keeps the maximum, so strokes never exceed 1."""
    h, w = canvas.shape
    (x0, y0), (x1, y1) = p0, p1
    pad = radius + 2
    xa, xb = max(0, math.floor(min(x0, x1) - pad)), min(w, math.ceil(max(x0, x1) + pad) + 1)
    ya, yb = max(0, math.floor(min(y0, y1) - pad)), min(h, math.ceil(max(y0, y1) + pad) + 1)
    if xa >= xb or ya >= yb:
        return
    ys, xs = np.mgrid[ya:yb, xa:xb].astype(np.float32) + 0.5  # pixel centres
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0, 1)
    d = np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))
    soft = max(1.0, 0.4 * radius)
    ink = np.clip((radius - d) / soft + 0.5, 0.0, 1.0)
    np.maximum(canvas[ya:yb, xa:xb], ink, out=canvas[ya:yb, xa:xb])


def _take_left(ev) -> bool:
    """Accept a left-button mouse event (it draws); leave the others to the view."""
    left = ev.button() == QtCore.Qt.MouseButton.LeftButton
    if left:
        ev.accept()
    else:
        ev.ignore()
    return left


class DrawingPad(pg.ImageItem):
    """A (size, size) float32 canvas in [0, 1], shown as an image (~60 redraws a second at
    most); left-button drags and clicks draw strokes of a round brush of `radius` pixels.

    While the mouse draws, `sigDrawn(canvas copy)` goes out at most every `interval_ms`, and
    once more when the stroke ends.
    """

    sigDrawn = Signal(object)

    def __init__(self, size: int, interval_ms: int = 50):
        super().__init__(axisOrder="row-major")
        self.canvas = np.zeros((size, size), np.float32)
        self.radius = 12.0
        self._last: tuple[float, float] | None = None
        self._dirty = False
        self._emit_timer = QtCore.QTimer(self)
        self._emit_timer.setSingleShot(True)
        self._emit_timer.setInterval(interval_ms)
        self._emit_timer.timeout.connect(self._emit)
        self._redraw = Coalescer(self._show, 16, self)
        self.setCursor(QtCore.Qt.CursorShape.CrossCursor)
        self._show()

    def stroke_begin(self, p) -> None:
        """Press the brush at p = (x, y) canvas pixels."""
        self._last = p
        stamp_segment(self.canvas, p, p, self.radius)
        self._changed()

    def stroke_to(self, p) -> None:
        """Drag the brush on to p."""
        stamp_segment(self.canvas, self._last or p, p, self.radius)
        self._last = p
        self._changed()

    def stroke_end(self) -> None:
        """Lift the brush: draw and emit what is pending now."""
        self._last = None
        self._redraw.flush()
        self._emit_timer.stop()
        self._emit()

    def clear(self) -> None:
        """Wipe the canvas (emits nothing)."""
        self._emit_timer.stop()
        self._dirty = False
        self.canvas[:] = 0
        self._redraw.flush()
        self._show()

    def mouseDragEvent(self, ev):
        if not self.isEnabled():  # setEnabled(False): the pad takes no strokes
            ev.ignore()
            return
        if not _take_left(ev):
            return
        if ev.isStart():
            start = ev.buttonDownPos()
            self.stroke_begin((start.x(), start.y()))
        p = ev.pos()
        self.stroke_to((p.x(), p.y()))
        if ev.isFinish():
            self.stroke_end()

    def mouseClickEvent(self, ev):
        if not self.isEnabled():
            ev.ignore()
            return
        if _take_left(ev):
            p = ev.pos()
            self.stroke_begin((p.x(), p.y()))
            self.stroke_end()

    def _show(self):
        self.setImage(self.canvas, autoLevels=False, levels=(0, 1))

    def _changed(self):
        self._redraw.request()
        self._dirty = True
        if not self._emit_timer.isActive():
            self._emit_timer.start()

    def _emit(self):
        if self._dirty:
            self._dirty = False
            self.sigDrawn.emit(self.canvas.copy())
