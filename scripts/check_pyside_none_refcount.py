"""Whether the installed PySide6 loses references to None (why pyproject pins <6.12).

shiboken6 6.12.0 drops one reference to None on every call from C++ into a Python override of
a void virtual (paintEvent, QGraphicsItem.paint, ...). pyqtgraph draws through such overrides,
so on Python < 3.12 (where None is refcounted) a long session ends in "Fatal Python error:
none_dealloc". A healthy PySide6 prints 0 lost references for both cases.

    QT_QPA_PLATFORM=offscreen python scripts/check_pyside_none_refcount.py
"""

from __future__ import annotations

import gc
import sys

import PySide6
from PySide6 import QtCore, QtGui, QtWidgets


def none_refs() -> int:
    gc.collect()
    return sys.getrefcount(None)


class Widget(QtWidgets.QWidget):
    def paintEvent(self, event):  # noqa: N802 (Qt's name)
        pass


class Item(QtWidgets.QGraphicsItem):
    def boundingRect(self):  # noqa: N802
        return QtCore.QRectF(0, 0, 10, 10)

    def paint(self, painter, option, widget=None):
        painter.drawLine(0, 0, 10, 10)


def main() -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    print(f"PySide6 {PySide6.__version__}, Qt {QtCore.qVersion()}, Python {sys.version.split()[0]}")
    w = Widget()
    w.resize(40, 40)
    w.show()
    app.processEvents()
    before = none_refs()
    for _ in range(100):
        w.repaint()
    lost_paint_event = before - none_refs()
    scene = QtWidgets.QGraphicsScene()
    scene.addItem(Item())
    image = QtGui.QImage(50, 50, QtGui.QImage.Format.Format_ARGB32)
    before = none_refs()
    for _ in range(100):
        painter = QtGui.QPainter(image)
        scene.render(painter)
        painter.end()
    lost_paint = before - none_refs()
    print(f"references to None lost: {lost_paint_event} in 100 paintEvent calls, "
          f"{lost_paint} in 100 QGraphicsItem.paint calls")
    return 1 if lost_paint_event > 50 or lost_paint > 50 else 0


if __name__ == "__main__":
    sys.exit(main())
