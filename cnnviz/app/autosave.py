"""Autosave: the run saved every few minutes, and offered back after an abnormal exit.

Files live in the state folder (`state_dir()`: $CNNVIZ_STATE, else the platform's per-user
state folder). While a window is open, its marker `session-<pid>.lock` lies there; every
`minutes` (settings "autosave/enabled", "autosave/minutes") the run, when it has new steps, is
written to `autosave-<pid>.npz` through the controller (on the training thread, atomically).
A clean close deletes both: quitting is the user's choice, as it is without autosave. A marker
left by a process that is gone means that process ended abnormally; if its autosave exists,
the next window offers to open it (on the data it loads), else the marker is removed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Slot

__all__ = ["STATE_ENV", "Autosave", "pid_alive", "state_dir"]

#: Environment variable that moves the state folder (tests, several profiles).
STATE_ENV = "CNNVIZ_STATE"


def state_dir() -> Path:
    """``$CNNVIZ_STATE``, else the platform's per-user state folder for cnnviz."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_state_dir("cnnviz"))


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists. Without a POSIX signal 0 to ask with, every process
    counts as alive, so another one's run is never taken."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class Autosave(QObject):
    """The autosave of `window` (a MainWindow): its timer (`timer`), its files (`path`,
    `marker`), and the offer to restore a crashed run (`offer`: the question while asked).
    `error`: the last failure's text ("" when none)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        enabled, self.minutes = window.settings.autosave()
        self.folder = state_dir()
        pid = os.getpid()
        self.path = self.folder / f"autosave-{pid}.npz"
        self.marker = self.folder / f"session-{pid}.lock"
        self.offer = None
        self.error = ""
        self._saved = None  # (SessionInfo, step) of the last autosave sent
        self._pending = False  # an autosave is on the training thread's queue
        self._restoring: tuple[Path, Path] | None = None  # (autosave, marker) to open
        self.timer = QTimer(self)
        self.timer.setInterval(min(max(1, round(self.minutes * 60_000)), 2**31 - 1))
        self.timer.timeout.connect(self.save_now)
        self.action = window.act["autosave"]
        self.action.setCheckable(True)
        self.action.setText(f"Autosave every {self.minutes:g} minutes")
        self.action.setChecked(enabled)
        c = window.controller
        c.sigSaved.connect(self._on_saved)
        c.sigCommandDone.connect(self._on_done)
        window.loader.sigLoaded.connect(self._on_loaded)  # after the window's own slot
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            crashed = self._crashed_run()
            self.marker.write_text(f"{pid}\n")
        except OSError as exc:
            self._say(f"autosave off: {exc}", 15000)
            self.action.setEnabled(False)
            return
        self.set_enabled(enabled, remember=False)
        if crashed is not None:
            QTimer.singleShot(0, lambda: self._offer(*crashed))

    # -- saving -------------------------------------------------------------------------------

    def set_enabled(self, on: bool, remember: bool = True) -> None:
        """Autosave on or off (and remembered in the settings unless `remember` is False)."""
        if remember:
            self.window.settings.set_autosave(on)
        self.action.setChecked(on)
        if on and self.action.isEnabled():
            self.timer.start()
        else:
            self.timer.stop()

    @Slot()
    def save_now(self) -> bool:
        """Queue an autosave when the run has steps it has not saved; True when queued."""
        c, info = self.window.controller, self.window.state.info
        last = c.last_step
        if info is None or last is None or self._pending:
            return False
        if self._saved is not None and self._saved[0] is info and self._saved[1] == last.step:
            return False
        self._saved, self._pending = (info, last.step), True
        c.save(self.path)
        return True

    def claim_error(self, text: str) -> bool:
        """Whether the error notice `text` is a failed autosave (it arrives while one is in
        flight and reads like a failed write, an OSError's "[Errno n] ..."): if so it is
        reported once in the status bar, not in a dialog, and training goes on."""
        if not (self._pending and text.startswith("[Errno")):
            return False
        if not self.error:
            self._say(f"autosave failed: {text} (training goes on; next try in "
                      f"{self.minutes:g} min)", 30000)
        self.error = text
        return True

    @Slot(str)
    def _on_saved(self, path: str) -> None:
        if path == str(self.path):
            self._pending, self.error = False, ""
            self._say(f"autosaved at {time.strftime('%H:%M')}", 5000)

    @Slot(str)
    def _on_done(self, name: str) -> None:
        if name == "save":
            self._pending = False

    def _say(self, text: str, ms: int) -> None:
        self.window.status.bar.showMessage(text, ms)

    # -- after an abnormal exit ------------------------------------------------------------------

    def _crashed_run(self) -> tuple[Path, Path] | None:
        """(autosave, marker) of the newest run whose process is gone; markers of such
        processes that left no autosave are removed."""
        found = []
        for marker in self.folder.glob("session-*.lock"):
            pid = marker.stem.removeprefix("session-")
            if not pid.isdigit() or pid_alive(int(pid)):
                continue
            autosave = self.folder / f"autosave-{pid}.npz"
            if autosave.is_file():
                found.append((autosave.stat().st_mtime, autosave, marker))
            else:
                marker.unlink(missing_ok=True)
        return max(found)[1:] if found else None

    def _offer(self, autosave: Path, marker: Path) -> None:
        try:
            when = time.strftime("%H:%M on %d %b", time.localtime(autosave.stat().st_mtime))
        except OSError:  # another window took it meanwhile
            return
        self.offer = self.window.dialogs.ask(
            "Restore the autosaved run?",
            f"cnnviz did not close properly last time. Its run was autosaved at {when}.\n\n"
            "Yes opens it on the data being loaded; No deletes it.",
            lambda yes: self._answer(yes, autosave, marker))

    def _answer(self, yes: bool, autosave: Path, marker: Path) -> None:
        if self.offer is None:  # the window closed unanswered: offered again next time
            return
        self.offer = None
        if not yes:
            autosave.unlink(missing_ok=True)
            marker.unlink(missing_ok=True)
            return
        self._restoring = (autosave, marker)
        if self.window.dataset is not None:
            self._on_loaded()

    @Slot(object)
    def _on_loaded(self, _dataset=None) -> None:
        """Open the run being restored, now that data is loaded: it becomes this window's
        autosave (kept until a clean close), so a second crash still has it."""
        if self._restoring is None:
            return
        autosave, marker = self._restoring
        self._restoring = None
        try:
            os.replace(autosave, self.path)
            marker.unlink(missing_ok=True)
            autosave = self.path
        except OSError:  # open it where it is; it stays there for the next start
            pass
        self.window.controller.open(autosave)

    def close(self) -> None:
        """A clean close (after the training thread has ended): delete the files."""
        self.timer.stop()
        self.offer = None
        for path in (self.path, self.marker):
            try:
                path.unlink(missing_ok=True)
            except OSError:  # the folder could not be written from the start
                pass
