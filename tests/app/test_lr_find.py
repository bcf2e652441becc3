"""The learning-rate range test in the app: the Controls button, the training thread, the
dialog with its curve and suggestion, and Use."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from PySide6 import QtCore

from cnnviz.app.lr_find_dialog import LrFindDialog, format_lr, usable_lr
from cnnviz.app.main_window import MainWindow
from cnnviz.app.panels.controls import FIND_LR, FINDING_LR
from cnnviz.training.lr_find import METHODS, LRFind

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

LEFT = QtCore.Qt.MouseButton.LeftButton


def wait_dialog(qtbot, w, timeout=60000):
    qtbot.waitUntil(lambda: w.lr_dialog is not None and w.lr_dialog.isVisible(),
                    timeout=timeout)
    qtbot.waitUntil(lambda: w.panels["controls"].find_lr.isEnabled(), timeout=5000)
    return w.lr_dialog


def test_the_button_runs_the_test_on_the_training_thread_and_shows_the_curve(
        qtbot, window, monkeypatch):
    import cnnviz.training.lr_find as lf

    threads, real = [], lf.lr_find

    def spy(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(lf, "lr_find", spy)
    busy, seen = [], []
    window.controller.sigBusy.connect(busy.append)
    ticker = QtCore.QTimer()  # the GUI thread goes on handling events during the test
    ticker.timeout.connect(lambda: seen.append(window.status.labels["state"].text()))
    ticker.start(10)
    button = window.panels["controls"].find_lr
    assert button.isEnabled() and button.text() == FIND_LR
    qtbot.mouseClick(button, LEFT)
    assert not button.isEnabled() and button.text() == FINDING_LR
    for key in ("start", "step", "epoch", "reset"):
        assert not window.act[key].isEnabled(), key
    dlg = wait_dialog(qtbot, window)
    ticker.stop()
    assert threads and threads[0] != threading.get_ident()
    assert "finding the lr: step 50/100" in busy and busy[-1] == ""
    assert any(t.startswith("finding the lr: step") for t in seen)
    assert button.text() == FIND_LR and window.act["start"].isEnabled()

    r = dlg.result
    assert isinstance(r, LRFind) and len(r.lrs) >= 10
    np.testing.assert_array_equal(dlg.raw_curve.xData, r.lrs)
    np.testing.assert_array_equal(dlg.raw_curve.yData, r.losses)
    np.testing.assert_array_equal(dlg.smooth_curve.yData, r.smoothed)
    assert dlg.plot.getAxis("bottom").logMode
    assert dlg.smooth_curve.opts["pen"].widthF() > dlg.raw_curve.opts["pen"].widthF()
    assert dlg.raw_curve.opts["pen"].color().alpha() < 255  # faint
    assert 1e-6 <= r.suggestion <= 1.0
    assert dlg.line.value() == pytest.approx(math.log10(r.suggestion))
    shown = format_lr(float(f"{r.suggestion:.2g}"), 12)
    assert shown in dlg.line.label.toPlainText()
    assert shown in dlg.summary.text() and METHODS[r.method] in dlg.summary.text()
    assert dlg.use.text() == f"Use {format_lr(dlg.value)}"
    assert dlg.note.isHidden() == (not r.stopped_early)
    assert "step 0" in dlg.context.text()


def test_use_puts_the_suggestion_in_the_field_and_the_run_applies_it(qtbot, window):
    controls = window.panels["controls"]
    controls.lr.setValue(0.5)
    qtbot.waitUntil(lambda: window.controller.config.lr == 0.5, timeout=10000)
    window.find_lr(steps=40)
    dlg = wait_dialog(qtbot, window)
    value = dlg.value
    assert value != 0.5 and value == usable_lr(dlg.result.suggestion)
    with qtbot.waitSignal(window.controller.sigApplied, timeout=10000) as blocker:
        qtbot.mouseClick(dlg.use, LEFT)
    assert not dlg.isVisible()
    assert controls.lr.value() == pytest.approx(value)
    assert blocker.args[0].lr == pytest.approx(value)
    assert window.controller.config.lr == pytest.approx(value)
    got = []
    window.controller.sigUpdates.connect(lambda up: got.extend(up.steps))
    window.act["step"].trigger()
    qtbot.waitUntil(lambda: len(got) == 1, timeout=10000)
    assert got[0].lr == pytest.approx(value)  # constant schedule: the step used it


def test_the_run_is_untouched_by_the_test(qtbot, window):
    for n in (1, 2, 3):
        window.act["step"].trigger()
        qtbot.waitUntil(lambda n=n: window.panels["curves"].num_steps == n, timeout=10000)
    session = window.controller.worker.driver.session  # idle between commands
    weights, opt = session.model.state_dict(), session.optimizer.state_dict()
    batches, config = session.batches.state_dict(), session.config.to_dict()
    qtbot.mouseClick(window.panels["controls"].find_lr, LEFT)
    wait_dialog(qtbot, window)
    after = session.model.state_dict()
    assert after.keys() == weights.keys()
    for name, arr in weights.items():
        assert after[name].tobytes() == arr.tobytes(), name
    for key, arr in opt["state"].items():
        assert session.optimizer.state_dict()["state"][key].tobytes() == arr.tobytes(), key
    assert session.batches.state_dict() == batches and session.config.to_dict() == config
    assert session.step_count == 3 and window.controller.last_step.step == 3
    assert window.panels["curves"].num_steps == 3 and window.controller.state == "paused"
    assert window.controller.worker.driver.session is session


def test_the_button_waits_for_a_pause_and_for_data(qtbot, window, settings):
    button = window.panels["controls"].find_lr
    window.start()
    qtbot.waitUntil(lambda: window.controller.state == "running", timeout=10000)
    assert not button.isEnabled() and "Pause training first" in button.toolTip()
    window.pause()
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=10000)

    w = MainWindow(settings=settings, load_data=False)
    qtbot.addWidget(w)
    try:
        b = w.panels["controls"].find_lr
        assert not b.isEnabled() and "Load a dataset first" in b.toolTip()
        w.find_lr()  # refused: nothing is sent
        assert b.text() == FIND_LR and w.controller.commands.empty()
    finally:
        w.close()


def test_a_loss_that_blows_up_at_once_is_explained(qtbot, window):
    window.find_lr(steps=20, start=1e3, end=1e6)
    qtbot.waitUntil(lambda: bool(window.dialogs.messages), timeout=30000)
    title, text = window.dialogs.messages[-1]
    assert "blew up already at a rate of" in text and "Reset" in text
    qtbot.waitUntil(lambda: window.panels["controls"].find_lr.isEnabled(), timeout=5000)
    assert window.lr_dialog is None and window.act["start"].isEnabled()


def test_closing_the_window_mid_test_ends_it_quickly(qtbot, settings, dataset, config):
    w = MainWindow(dataset=dataset, config=config, settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.act["start"].isEnabled(), timeout=15000)
    w.find_lr(steps=100000, end=1e-3)  # far longer than the test waits
    qtbot.waitUntil(lambda: w.controller.busy.startswith("finding the lr: step"),
                    timeout=15000)
    t0 = time.perf_counter()
    w.close()
    assert time.perf_counter() - t0 < 2.0
    assert not w.controller.is_running() and w.lr_dialog is None


def fake_result(k=40, stopped=False):
    lrs = np.geomspace(1e-5, 1e-5 * 1.2 ** (k - 1), k)
    smoothed = np.r_[np.linspace(2.3, 0.5, k - 5), np.linspace(0.9, 12.0, 5)]
    losses = smoothed + np.random.default_rng(0).normal(0, 0.1, k)
    from cnnviz.training.lr_find import suggest

    return LRFind(lrs, losses, smoothed, suggest(lrs, smoothed)[0], stopped)


def test_the_dialog_says_when_the_test_stopped_early_and_use_emits_the_rate(qtbot):
    r = fake_result(stopped=True)
    dlg = LrFindDialog(r, "context", (1e-6, 10.0), 6)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.note.isVisible() and "stopped early: after 40 steps" in dlg.note.text()
    (top,) = dlg.plot.viewRange()[1][1:]
    assert top < 12.0  # the blow-up at the end does not flatten the fall
    with qtbot.waitSignal(dlg.sigUse) as blocker:
        dlg.use.click()
    assert blocker.args == [usable_lr(r.suggestion)] and not dlg.isVisible()


def test_a_suggestion_is_offered_as_the_field_can_hold_it():
    assert usable_lr(0.0012345) == 0.0012 and format_lr(0.0012) == "0.0012"
    assert usable_lr(3.7e-5) == 3.7e-5 and format_lr(3.7e-5) == "0.000037"
    assert usable_lr(1e-8) == 1e-6 and usable_lr(40.0) == 10.0
    assert format_lr(2.0) == "2"
