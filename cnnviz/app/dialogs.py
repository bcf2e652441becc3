"""Messages, questions and file dialogs: where to save or open a checkpoint, which data folder
to load, where to export a picture or the metrics. Each remembers its folder in the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from cnnviz.app.settings import AppSettings

__all__ = ["Dialogs"]

CHECKPOINT_FILTER = "cnnviz checkpoints (*.npz);;All files (*)"


class Dialogs:
    """The dialogs of `window`. `messages` keeps (title, text) of every message shown."""

    def __init__(self, window: QtWidgets.QWidget, settings: AppSettings):
        self.window, self.settings = window, settings
        self.messages: list[tuple[str, str]] = []

    def message(self, title: str, text: str,
                icon=QtWidgets.QMessageBox.Icon.Critical) -> QtWidgets.QMessageBox:
        """A window-modal message that does not block the event loop (training goes on
        being drawn)."""
        self.messages.append((title, text))
        box = QtWidgets.QMessageBox(icon, title, text, QtWidgets.QMessageBox.StandardButton.Ok,
                                    self.window)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def warn(self, title: str, text: str) -> None:
        self.message(title, text, QtWidgets.QMessageBox.Icon.Warning)

    def ask(self, title: str, text: str,
            answer: Callable[[bool], None]) -> QtWidgets.QMessageBox:
        """A window-modal Yes/No question that does not block the event loop: `answer(True)`
        on Yes, `answer(False)` on No or when closed. Kept in `messages` like a message."""
        self.messages.append((title, text))
        Button = QtWidgets.QMessageBox.StandardButton
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, title, text,
                                    Button.Yes | Button.No, self.window)
        box.setDefaultButton(Button.Yes)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(
            lambda _: answer(box.standardButton(box.clickedButton()) == Button.Yes))
        box.open()
        return box

    def checkpoint_to_save(self, step: int) -> str | None:
        start = Path(self.settings.folder("checkpoint", Path.home()))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Save checkpoint", str(start / f"cnnviz-step{step}.npz"),
            CHECKPOINT_FILTER)
        return _with_suffix(path, ".npz")

    def checkpoint_to_open(self) -> str | None:
        start = self.settings.folder("checkpoint", Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open checkpoint", start,
                                                        CHECKPOINT_FILTER)
        return path or None

    def idx_folder(self) -> str | None:
        return QtWidgets.QFileDialog.getExistingDirectory(
            self.window,
            "Open a data folder (IDX files, CIFAR-10 batches or class folders of images)",
            self.settings.folder("data", Path.home())) or None

    def export_path(self, name: str, suffix: str, kind: str) -> str | None:
        """Where to write `name` + `suffix` (".png" or ".csv"); kind: "PNG images" etc."""
        start = Path(self.settings.folder("export", Path.home()))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, f"Export {suffix[1:].upper()}", str(start / f"{name}{suffix}"),
            f"{kind} (*{suffix})")
        path = _with_suffix(path, suffix)
        if path:
            self.settings.set_folder("export", Path(path).parent)
        return path


def _with_suffix(path: str, suffix: str) -> str | None:
    if not path:
        return None
    return path if path.lower().endswith(suffix) else path + suffix
