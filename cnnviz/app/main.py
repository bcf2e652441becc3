"""Application set-up: QApplication, style, icon, pyqtgraph options; `run()` opens the window
and closes it on Ctrl+C or SIGTERM."""

from __future__ import annotations

import signal
import sys

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from cnnviz.resources import ICON_PNGS, RESOURCES

__all__ = ["app_icon", "close_on_signals", "configure_pyqtgraph", "create_app", "run",
           "STYLE_SHEET"]

STYLE_SHEET = RESOURCES / "style.qss"
#: How often (ms) Qt's event loop hands the interpreter a turn, so that a Python signal handler
#: runs while the loop waits in C++ (Python runs handlers only between its own bytecodes).
SIGNAL_POLL_MS = 200
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


def app_icon() -> QtGui.QIcon:
    """cnnviz's icon (cnnviz/resources/cnnviz.svg) from its PNG renderings."""
    icon = QtGui.QIcon()
    for name in ICON_PNGS:
        pixmap = QtGui.QPixmap()
        pixmap.loadFromData((RESOURCES / name).read_bytes())
        icon.addPixmap(pixmap)
    return icon


def create_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The QApplication (created once), named for QSettings and the desktop's launcher
    (cnnviz.desktop), with cnnviz's look and icon."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv if argv is None else argv)
    app.setOrganizationName("cnnviz")
    app.setApplicationName("cnnviz")
    app.setApplicationDisplayName("cnnviz")
    app.setDesktopFileName("cnnviz")
    app.setWindowIcon(app_icon())
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLE_SHEET.read_text())
    configure_pyqtgraph()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    return app


def close_on_signals(app: QtWidgets.QApplication,
                     signals=(signal.SIGINT, signal.SIGTERM)) -> list[int]:
    """Make each of `signals` close every window as its close button does (MainWindow's
    closeEvent stops and joins the training thread), with no traceback; a second one of the
    same kind ends the process at once. Returns the list the received signals go to."""
    received: list[int] = []

    def handler(signum, _frame) -> None:
        received.append(signum)
        signal.signal(signum, signal.SIG_DFL)
        QtCore.QTimer.singleShot(0, app.closeAllWindows)

    for signum in signals:
        signal.signal(signum, handler)
    poll = QtCore.QTimer(app)
    poll.timeout.connect(lambda: None)
    poll.start(SIGNAL_POLL_MS)
    return received


def run(argv: list[str] | None = None) -> int:
    """Open the cnnviz window; returns the exit status when it closes: Qt's (0), or after
    SIGINT/SIGTERM 128 + the signal's number (130 for Ctrl+C, as the CLI), as a shell reports
    a program a signal ended. Start-up checks (cnnviz.app.startup) come before, in __main__."""
    app = create_app(argv)
    received = close_on_signals(app)
    from cnnviz.app.main_window import MainWindow

    window = MainWindow()
    window.show()
    status = app.exec()
    return 128 + received[0] if received else status


if __name__ == "__main__":  # through the entry point, which makes the start-up checks
    from cnnviz.__main__ import main

    sys.exit(main([]))
