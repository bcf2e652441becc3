"""Loading a dataset off the GUI thread, with a progress dialog for slow loads."""

from __future__ import annotations

import threading

from PySide6 import QtWidgets
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

__all__ = ["DataLoader"]

DIALOG_DELAY_MS = 400  # a quick local load shows no dialog


class DataLoader(QObject):
    """Loads a dataset on a daemon thread and reports back through signals, showing a
    progress dialog over `parent` when it takes long.

    The load (a folder read, or a download with timeouts) cannot be interrupted, so its
    thread is a daemon: closing the window never has to wait for it.
    """

    sigProgress = Signal(str, object, object)  # file name, done bytes, total bytes or None
    sigLoaded = Signal(object)  # Dataset
    sigFailed = Signal(str)  # the error's text: what was tried and how to fix it

    def __init__(self, parent: QtWidgets.QWidget):
        super().__init__(parent)
        self.loading = False
        self._dialog: QtWidgets.QProgressDialog | None = None
        self.sigProgress.connect(self._on_progress)
        self.sigLoaded.connect(self.close_dialog)
        self.sigFailed.connect(self.close_dialog)

    def start(self, name: str, folder: str | None, what: str) -> None:
        """Load `name` (or the IDX files in `folder`); `what` names it in the dialog."""
        self.loading = True
        dialog = self._dialog = QtWidgets.QProgressDialog(f"Loading {what}…", "", 0, 0,
                                                          self.parent())
        dialog.setWindowTitle("cnnviz: loading data")
        dialog.setCancelButton(None)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(DIALOG_DELAY_MS)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setValue(0)
        QTimer.singleShot(DIALOG_DELAY_MS, self._show_dialog)
        threading.Thread(target=self._run, args=(name, folder), name="cnnviz-data",
                         daemon=True).start()

    def _run(self, name: str, folder: str | None) -> None:
        from cnnviz.data.sources import load_dataset

        try:
            try:
                ds = load_dataset(folder, name=name, progress=self._progress)
            except Exception as exc:  # DataUnavailableError, IDXError, OSError, ValueError
                self.sigFailed.emit(str(exc) or exc.__class__.__name__)
            else:
                self.sigLoaded.emit(ds)
        except RuntimeError:
            pass  # the window (and this QObject) went away meanwhile

    def _progress(self, name, done, total) -> None:
        try:
            self.sigProgress.emit(str(name), done, total)
        except RuntimeError:
            pass

    def _show_dialog(self) -> None:
        if self._dialog is not None and self.loading:
            self._dialog.show()

    @Slot(str, object, object)
    def _on_progress(self, name: str, done, total) -> None:
        p = self._dialog
        if p is None:
            return
        if total:
            p.setMaximum(int(total))
            p.setValue(min(int(done), int(total)))
            p.setLabelText(f"{name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            p.setMaximum(0)
            p.setLabelText(f"{name}: {done / 1e6:.1f} MB" if done else f"{name}…")

    @Slot()
    def close_dialog(self, *_) -> None:
        self.loading = False
        if self._dialog is not None:
            self._dialog.close()
            self._dialog.deleteLater()
            self._dialog = None
