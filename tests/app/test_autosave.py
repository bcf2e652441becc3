"""Autosave: the run written every few minutes, offered back after an abnormal exit, never
offered after a clean one, off by a setting; a failed write goes to the status bar."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PySide6 import QtWidgets

from cnnviz.training import TrainingSession
from cnnviz.training.checkpoint import read_checkpoint
from tests.app.conftest import open_window

YES, NO = QtWidgets.QMessageBox.StandardButton.Yes, QtWidgets.QMessageBox.StandardButton.No
FAST = 0.005  # minutes: an autosave every 300 ms


@pytest.fixture
def state(tmp_path, monkeypatch):
    """This test's own state folder."""
    folder = tmp_path / "state"
    monkeypatch.setenv("CNNVIZ_STATE", str(folder))
    return folder


def dead_pid() -> int:
    """The pid of a process that has ended (as a crashed cnnviz's)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def step(qtbot, w, n: int) -> None:
    """Train `n` more single steps and wait until the GUI has them all."""
    last = w.controller.last_step
    target = (last.step if last is not None else w.state.info.step) + n
    for _ in range(n):
        w.step_batch()
    qtbot.waitUntil(lambda: w.controller.last_step is not None
                    and w.controller.last_step.step == target, timeout=15000)


def autosaved(qtbot, w):
    """Wait for the window's next autosave; returns its checkpoint's meta."""
    path = str(w.autosave.path)
    with qtbot.waitSignal(w.controller.sigSaved, check_params_cb=lambda p: p == path,
                          timeout=10000):
        pass
    return read_checkpoint(path)[0]


def crashed_run(state, autosave=None) -> tuple:
    """A marker and an autosave (a copy of `autosave`, else a dummy) as a crashed process
    leaves them."""
    pid = dead_pid()
    state.mkdir(parents=True, exist_ok=True)
    marker, saved = state / f"session-{pid}.lock", state / f"autosave-{pid}.npz"
    marker.write_text(f"{pid}\n")
    if autosave is None:
        saved.write_bytes(b"not opened")
    else:
        shutil.copy(autosave, saved)
    return marker, saved


def test_autosave_writes_the_run_at_its_step_when_it_has_new_steps(qtbot, settings, dataset,
                                                                   config, state):
    settings.setValue("autosave/minutes", FAST)
    with open_window(qtbot, settings, dataset, config) as w:
        a = w.autosave
        assert w.act["autosave"].isChecked() and a.timer.isActive()
        assert a.timer.interval() == 300 and "0.005 minutes" in w.act["autosave"].text()
        assert a.path.parent == state and a.marker.read_text().strip() == str(os.getpid())
        qtbot.wait(400)
        assert not a.path.exists()  # no steps yet: nothing to save
        step(qtbot, w, 3)
        assert autosaved(qtbot, w)["step"] == 3
        assert "autosaved" in w.statusBar().currentMessage()
        saves = []
        w.controller.sigSaved.connect(saves.append)
        qtbot.wait(700)
        assert saves == []  # nothing new since
        step(qtbot, w, 2)
        assert autosaved(qtbot, w)["step"] == 5
        assert w.dialogs.messages == []
    assert list(state.iterdir()) == []  # a clean close: nothing to offer at the next start


def test_after_an_abnormal_exit_yes_restores_the_step_and_weights(qtbot, settings, dataset,
                                                                   config, state, tmp_path):
    run = TrainingSession(config, dataset)
    for _ in range(5):
        run.step()
    run.save(tmp_path / "run.npz")
    marker, saved = crashed_run(state, tmp_path / "run.npz")
    _, arrays = read_checkpoint(tmp_path / "run.npz")

    with open_window(qtbot, settings, dataset, config) as w:
        qtbot.waitUntil(lambda: w.autosave.offer is not None, timeout=5000)
        assert w.dialogs.messages == [("Restore the autosaved run?", w.dialogs.messages[0][1])]
        with qtbot.waitSignal(w.controller.sigSessionReady, timeout=15000) as blocker:
            w.autosave.offer.button(YES).click()
        info = blocker.args[0]
        assert info.reason == f"opened {w.autosave.path}" and info.step == 5
        qtbot.waitUntil(lambda: not w.controller.busy, timeout=15000)
        session = w.controller.worker.driver.session  # the training thread is idle
        assert session.step_count == 5
        for name, value in session.model.state_dict().items():
            np.testing.assert_array_equal(value, arrays[f"model/{name}"])
        # the restored run is this window's autosave now, until a clean close
        assert w.autosave.path.is_file() and not saved.exists() and not marker.exists()
        step(qtbot, w, 1)
        assert w.controller.last_step.step == 6  # and it trains on
    assert list(state.iterdir()) == []


def test_closing_unanswered_keeps_the_crashed_run_and_no_deletes_it(qtbot, settings, dataset,
                                                                    config, state):
    marker, saved = crashed_run(state)
    with open_window(qtbot, settings, dataset, config) as w:
        qtbot.waitUntil(lambda: w.autosave.offer is not None, timeout=5000)
        offer = w.autosave.offer
    offer.close()  # were it answered now, it would be No
    assert saved.exists() and marker.exists()
    with open_window(qtbot, settings, dataset, config) as w:
        qtbot.waitUntil(lambda: w.autosave.offer is not None, timeout=5000)
        w.autosave.offer.button(NO).click()
        assert not saved.exists() and not marker.exists()
        qtbot.wait(200)
        assert w.state.info.reason == "new"


def test_no_offer_for_a_live_process_or_without_an_autosave(qtbot, settings, dataset, config,
                                                            state):
    state.mkdir()
    live = os.getppid()  # another process that is running: its files are not ours
    (state / f"session-{live}.lock").write_text(f"{live}\n")
    (state / f"autosave-{live}.npz").write_bytes(b"someone else's")
    dead = dead_pid()
    (state / f"session-{dead}.lock").write_text(f"{dead}\n")  # crashed before any autosave
    with open_window(qtbot, settings, dataset, config) as w:
        qtbot.wait(300)
        assert w.autosave.offer is None and w.dialogs.messages == []
        assert not (state / f"session-{dead}.lock").exists()  # nothing to offer: tidied
        assert (state / f"autosave-{live}.npz").exists()


def test_the_setting_turns_autosave_off_and_on(qtbot, settings, dataset, config, state):
    settings.setValue("autosave/enabled", "false")
    settings.setValue("autosave/minutes", FAST)
    with open_window(qtbot, settings, dataset, config) as w:
        a = w.autosave
        assert not w.act["autosave"].isChecked() and not a.timer.isActive()
        step(qtbot, w, 2)
        qtbot.wait(800)
        assert not a.path.exists()
        w.act["autosave"].trigger()  # File > Autosave every ... minutes
        assert settings.value("autosave/enabled") == "true" and a.timer.isActive()
        assert autosaved(qtbot, w)["step"] == 2
        w.act["autosave"].trigger()
        assert settings.value("autosave/enabled") == "false" and not a.timer.isActive()


def test_a_failed_autosave_is_reported_once_and_training_goes_on(qtbot, settings, dataset,
                                                                  config, state):
    settings.setValue("autosave/minutes", FAST)
    config.epochs = 100  # it runs while autosaves fail
    with open_window(qtbot, settings, dataset, config) as w:
        a = w.autosave
        a.path.mkdir()
        (a.path / "blocker").write_text("")  # the checkpoint cannot be renamed into place
        done = []
        w.controller.sigCommandDone.connect(lambda name: done.append(name))
        w.start()
        qtbot.waitUntil(lambda: bool(a.error), timeout=10000)
        assert "autosave failed" in w.statusBar().currentMessage() and a.error in (
            w.statusBar().currentMessage())
        w.statusBar().clearMessage()
        n = done.count("save")
        qtbot.waitUntil(lambda: done.count("save") >= n + 2, timeout=10000)  # two more fail
        assert w.statusBar().currentMessage() == "" and w.dialogs.messages == []
        assert w.controller.state == "running"
        before = w.controller.last_step.step
        qtbot.waitUntil(lambda: w.controller.last_step.step > before + 3, timeout=10000)
        w.pause()
