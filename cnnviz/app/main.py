"""Application set-up: QApplication, style, pyqtgraph options; `run()` opens the window."""

from __future__ import annotations

import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtGui, QtWidgets

__all__ = ["configure_pyqtgraph", "create_app", "run", "STYLE_SHEET"]

STYLE_SHEET = Path(__file__).resolve().parents[2] / "resources" / "style.qss"
#: How long (s) a thread waiting for the GIL waits before CPython makes the holder hand it
#: over (default 5 ms). The GUI thread re-takes the GIL for every Python call Qt makes into
#: pyqtgraph while painting; with the training thread busy, a shorter wait made repaints
#: somewhat faster in a micro-benchmark (~14 -> ~12 ms for three plots). See
#: benchmarks/gui_throughput.py for the effect on training speed.
GIL_SWITCH_INTERVAL = 0.001


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options. The panels keep pyqtgraph's dark look and give every
    ImageItem its axis order explicitly, so only speed-related options are set here."""
    pg.setConfigOptions(antialias=False, imageAxisOrder="row-major", useOpenGL=False)


def dark_palette() -> QtGui.QPalette:
    """A dark Fusion palette that matches pyqtgraph's black plot background."""
    P, C = QtGui.QPalette, QtGui.QColor
    p = P()
    window, base, text = C(37, 40, 45), C(27, 29, 33), C(222, 224, 228)
    for role, colour in (
        (P.ColorRole.Window, window), (P.ColorRole.WindowText, text),
        (P.ColorRole.Base, base), (P.ColorRole.AlternateBase, C(45, 48, 54)),
        (P.ColorRole.ToolTipBase, C(50, 54, 60)), (P.ColorRole.ToolTipText, text),
        (P.ColorRole.Text, text), (P.ColorRole.Button, C(50, 54, 60)),
        (P.ColorRole.ButtonText, text), (P.ColorRole.BrightText, C(255, 90, 90)),
        (P.ColorRole.Link, C(91, 143, 209)), (P.ColorRole.Highlight, C(91, 143, 209)),
        (P.ColorRole.HighlightedText, C(255, 255, 255)),
        (P.ColorRole.PlaceholderText, C(140, 144, 150)),
    ):
        p.setColor(role, colour)
    grey = C(120, 124, 130)
    for role in (P.ColorRole.WindowText, P.ColorRole.Text, P.ColorRole.ButtonText):
        p.setColor(P.ColorGroup.Disabled, role, grey)
    p.setColor(P.ColorGroup.Disabled, P.ColorRole.Base, C(44, 46, 50))
    return p


def create_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The QApplication (created once), named for QSettings, with cnnviz's look."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv if argv is None else argv)
    app.setOrganizationName("cnnviz")
    app.setApplicationName("cnnviz")
    app.setApplicationDisplayName("cnnviz")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    if STYLE_SHEET.is_file():
        app.setStyleSheet(STYLE_SHEET.read_text())
    configure_pyqtgraph()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    return app


def run(argv: list[str] | None = None) -> int:
    """Open the cnnviz window; returns the exit status when it closes."""
    app = create_app(argv)
    from cnnviz.app.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run())
