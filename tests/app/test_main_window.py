"""The main window with its real panels, offscreen, on a small synthetic dataset."""

from __future__ import annotations

import csv
import os
import time

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from cnnviz.app.main_window import MainWindow
from cnnviz.backend import gpu_status
from cnnviz.core.optim import scheduled_momentum
from cnnviz.data.dataset import DataUnavailableError
from cnnviz.training.checkpoint import read_checkpoint
from tests.app.conftest import open_window

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def wait_steps(qtbot, w, n, timeout=30000):
    qtbot.waitUntil(lambda: w.panels["curves"].num_steps >= n, timeout=timeout)


def pause(qtbot, w):
    w.pause()
    qtbot.waitUntil(lambda: w.controller.state == "paused", timeout=10000)


def trained(w) -> int:
    """Steps the GUI has been told of (the newest StepMetrics drained)."""
    m = w.controller.last_step
    return m.step if m is not None else 0


def last_updates(w):
    """Every Updates the window receives from now on, collected in a list."""
    got = []
    w.controller.sigUpdates.connect(got.append)
    return got


def test_default_window_layout(window):
    assert (window.width(), window.height()) == (1600, 1000)
    for key in ("curves", "filters", "activations", "confusion", "digits"):
        dock = window.docks[key]
        assert dock.isVisible(), key
        assert dock.width() >= 400 and dock.height() >= 200, (key, dock.size())
    assert window.docks["controls"].isVisible()
    assert window.tabifiedDockWidgets(window.docks["controls"]) == [
        window.docks["architecture"]]


def test_actions_have_shortcuts_and_tooltips(window):
    keys = {a.text(): [s.toString() for s in a.shortcuts()] for a in window.actions()}
    assert {"Space", "F5"} <= set(keys["Start / Resume"])
    assert {"F10", "N"} <= set(keys["Step batch"])
    assert keys["Save checkpoint…"] == ["Ctrl+S"]
    assert keys["Open checkpoint…"] == ["Ctrl+O"]
    for a in (window.act["start"], window.act["pause"], window.act["step"], window.act["epoch"],
              window.act["stop"], window.act["reset"], window.act["save"], window.act["open"]):
        assert a.toolTip(), a.text()


def test_start_then_curves_receive_points(qtbot, window):
    assert window.panels["curves"].num_steps == 0
    window.start()
    wait_steps(qtbot, window, 10)
    assert window.controller.state == "running"
    assert window.act["pause"].isEnabled() and not window.act["start"].isEnabled()
    steps = window.panels["curves"].steps_array()
    assert np.all(np.diff(steps[:, 0]) == 1)
    assert np.all(np.isfinite(steps[:, 1]))
    assert window.status.labels["step"].text().startswith("step ")
    assert "img/s" in window.status.labels["speed"].text()
    window.flush_panels()
    x, y = window.panels["curves"].smooth_loss.getData()
    assert len(x) == window.panels["curves"].num_steps
    pause(qtbot, window)


def test_pause_then_step_advances_exactly_one_batch(qtbot, window):
    window.start()
    wait_steps(qtbot, window, 3)
    pause(qtbot, window)
    qtbot.wait(300)  # the last steps before the pause are drained
    before = trained(window)
    assert window.panels["curves"].num_steps == before
    with qtbot.waitSignal(window.controller.sigCommandDone, timeout=10000,
                          check_params_cb=lambda name: name == "step_batch"):
        window.act["step"].trigger()
    qtbot.waitUntil(lambda: window.panels["curves"].num_steps == before + 1, timeout=5000)
    qtbot.wait(300)
    assert trained(window) == window.panels["curves"].num_steps == before + 1
    assert window.controller.state == "paused"


def test_confusion_matrix_is_fed_and_sums_to_the_evaluated_count(qtbot, window, dataset):
    got = last_updates(window)
    window.act["step"].trigger()
    qtbot.waitUntil(lambda: window.panels["curves"].num_steps == 1, timeout=10000)
    window.panels["confusion"].refresh_button.click()  # sigRefreshRequested -> evaluate
    qtbot.waitUntil(lambda: any(u.evaluation is not None for u in got), timeout=20000)
    ev = [u.evaluation for u in got if u.evaluation is not None][-1]
    assert ev.confusion.sum() == len(dataset.test_labels)
    window.flush_panels()
    cells = window.panels["confusion"].cell_texts()
    shown = sum(int(t) for row in cells for t in row if t.strip().isdigit())
    assert shown == len(dataset.test_labels)
    # the test accuracy also shows in the curves
    assert len(window.panels["curves"].test_acc.getData()[0]) == 1


def test_epoch_end_evaluates_the_test_set(qtbot, window, dataset):
    window.act["epoch"].trigger()
    qtbot.waitUntil(lambda: window.controller.state == "paused"
                    and window.panels["curves"].num_epochs == 1, timeout=60000)
    qtbot.waitUntil(lambda: len(window.panels["confusion"].cell_texts()) == 10, timeout=10000)
    window.flush_panels()
    x, _ = window.panels["curves"].val_loss.getData()
    assert len(x) == 1
    x, y = window.panels["curves"].test_acc.getData()
    assert len(x) == 1 and 0 <= y[0] <= 100


def assert_activations_show(w, snap):
    """The activations panel's tiles are `snap`'s maps (one per channel) and the digits
    panel names its most probable class."""
    tiles, maps = w.panels["activations"].map_tiles(), dict(snap.maps)
    assert tiles and all(len(v) for v in tiles.values())
    for name, shown in tiles.items():
        np.testing.assert_array_equal(np.reshape(shown, maps[name].shape), maps[name])
    top = int(np.argmax(snap.probs))
    assert f">{top}</span> ({snap.probs[top]:.0%})" in w.panels["digits"].prediction.text()


def test_choosing_a_digit_updates_the_activations(qtbot, window, dataset):
    got = last_updates(window)
    window.panels["digits"].choose_index(11)

    def shown():
        snaps = [u.activations for u in got if u.activations is not None]
        return bool(snaps) and snaps[-1].label == int(dataset.test_labels[11])

    qtbot.waitUntil(shown, timeout=10000)
    window.flush_panels()
    snap = window.panels["activations"].snapshot
    label = int(dataset.test_labels[11])
    assert snap is not None and snap.label == label
    # the input shown is test digit 11 as the network sees it (normalised: an affine map)
    pixels = dataset.test_images[11].astype(np.float64).ravel()
    assert np.corrcoef(np.ravel(snap.image), pixels)[0, 1] > 0.9999
    assert_activations_show(window, snap)
    assert f"true {label}<" in window.panels["digits"].prediction.text()


def test_drawing_a_digit_updates_the_activations(qtbot, window):
    got = last_updates(window)
    drawing = np.zeros((28, 28), np.float32)
    drawing[4:24, 13:16] = 1.0
    window.panels["digits"].sigDigitChosen.emit(drawing)
    qtbot.waitUntil(lambda: any(u.activations is not None and u.activations.label is None
                                for u in got), timeout=10000)
    window.flush_panels()
    snap = window.panels["activations"].snapshot
    assert snap is not None and snap.label is None  # the drawing, not a test digit
    stroke, background = snap.image[4:24, 13:16], snap.image[:, :8]
    assert stroke.min() > background.max()  # the bright stroke reached the network
    assert_activations_show(window, snap)


def test_checkpoint_save_and_open_restore_curves_and_weights(qtbot, window, tmp_path):
    window.start()
    wait_steps(qtbot, window, 12)
    pause(qtbot, window)
    path = tmp_path / "run.npz"
    with qtbot.waitSignal(window.controller.sigSaved, timeout=10000):
        window.save_checkpoint(path)
    assert path.is_file()
    meta, weights = read_checkpoint(path)
    qtbot.waitUntil(lambda: window.panels["curves"].num_steps == meta["step"],
                    timeout=5000)
    curves = window.panels["curves"].steps_array()

    with qtbot.waitSignal(window.controller.sigSessionReady, timeout=15000):
        window.reset()
    qtbot.waitUntil(lambda: window.panels["curves"].num_steps == 0, timeout=5000)
    window.act["step"].trigger()
    qtbot.waitUntil(lambda: window.panels["curves"].num_steps == 1, timeout=10000)

    got = last_updates(window)
    with qtbot.waitSignal(window.controller.sigSessionReady, timeout=15000) as blocker:
        window.open_checkpoint(path)
    info = blocker.args[0]
    assert info.reason.startswith("opened") and info.step == meta["step"]
    again = tmp_path / "again.npz"
    with qtbot.waitSignal(window.controller.sigSaved, timeout=10000):
        window.save_checkpoint(again)  # what the training thread holds now
    _, restored = read_checkpoint(again)
    for name, value in weights.items():
        np.testing.assert_array_equal(restored[name], value)
    np.testing.assert_allclose(window.panels["curves"].steps_array(), curves)
    # the panels refresh: new kernels, activations and an evaluation arrive
    qtbot.waitUntil(lambda: any(u.evaluation is not None for u in got)
                    and any(u.filters is not None for u in got), timeout=20000)
    assert window.status.labels["step"].text() == f"step {meta['step']:,}"


def test_reset_applies_settings_and_clears_the_curves(qtbot, window):
    window.start()
    wait_steps(qtbot, window, 3)
    window.panels["controls"].batch_size.setValue(16)
    assert "batch size" in window.panels["controls"].pending.text()
    with qtbot.waitSignal(window.controller.sigSessionReady, timeout=15000) as blocker:
        window.act["reset"].trigger()
    assert blocker.args[0].step == 0 and window.controller.config.batch_size == 16
    assert window.panels["curves"].num_steps == 0
    assert window.panels["controls"].pending.text() == ""
    assert window.controller.state == "stopped"


def test_learning_rate_applies_live(qtbot, window):
    got = last_updates(window)
    window.start()
    wait_steps(qtbot, window, 2)
    window.panels["controls"].lr.setValue(0.0005)
    n = window.panels["curves"].num_steps
    wait_steps(qtbot, window, n + 4)
    lrs = [m.lr for u in got for m in u.steps]
    assert lrs[-1] == pytest.approx(0.0005)
    assert window.controller.state == "running"
    pause(qtbot, window)


def test_impossible_architecture_disables_start(qtbot, window):
    arch = window.panels["architecture"]
    assert window.act["start"].isEnabled()
    arch.set_layer(0, kernel_size=40)  # larger than the 28x28 input
    assert not arch.is_valid()
    assert "layer 0" in arch.error_text()
    assert arch.error.isVisibleTo(arch) and "color: #ef5350" in arch.error.styleSheet()
    assert not window.act["start"].isEnabled() and not window.act["reset"].isEnabled()
    arch.set_layer(0, kernel_size=3)
    assert arch.is_valid()
    assert window.act["start"].isEnabled()


def test_architecture_summary_matches_the_model(window):
    from cnnviz.core.model import build_model, resolve_spec

    arch = window.panels["architecture"]
    arch.preset.setCurrentText("lenet5")
    full, _ = resolve_spec(arch.spec())
    rows = build_model(full).summary()
    assert arch.summary.rowCount() == len(rows) + 1
    assert arch.summary.item(1, 1).text() == "×".join(map(str, rows[0]["output_shape"]))
    assert arch.summary.item(len(rows), 2).text() == f"{rows[-1]['params']:,}"
    arch.add_layer("Dropout", row=len(rows) - 2)
    assert arch.arch_name() == "custom" and arch.is_valid()
    arch.move_layer(-1, row=len(rows) - 1)
    arch.remove_layer(len(rows) - 2)
    assert arch.is_valid()


def test_divergence_pauses_and_shows_a_message(qtbot, window):
    window.panels["controls"].optimizer.setCurrentText("nesterov")  # at 10: NaN within 5 steps
    window.panels["controls"].lr.setValue(10.0)
    window.panels["controls"].schedule.setCurrentText("constant")
    window.start()  # no step yet: Start applies every setting
    qtbot.waitUntil(lambda: any(t == "Training diverged" for t, _ in window.dialogs.messages),
                    timeout=30000)
    text = dict(window.dialogs.messages)["Training diverged"]
    assert "diverged at step" in text and "Lower the learning rate" in text
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5000)
    assert window.act["start"].isEnabled()


def test_export_png_and_csv(qtbot, window, tmp_path):
    window.act["step"].trigger()
    window.act["step"].trigger()
    qtbot.waitUntil(lambda: window.panels["curves"].num_steps == 2, timeout=10000)
    png = window.export_png(tmp_path / "window.png")
    image = QtGui.QImage(str(png))
    assert (image.width(), image.height()) == (1600, 1000)
    panel = window.export_png(tmp_path / "curves.png", "curves")
    assert QtGui.QImage(str(panel)).width() == window.panels["curves"].width()
    path = window.panels["curves"].write_csv(tmp_path / "metrics.csv")
    rows = list(csv.DictReader(open(path)))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert float(rows[0]["batch_loss"]) > 0


def test_settings_persist(qtbot, settings, dataset, config):
    w = MainWindow(dataset=dataset, config=config, settings=settings)
    qtbot.addWidget(w)
    w.show()
    w.resize(1200, 700)  # the offscreen screen is 800x800: only the height fits it
    w.panels["controls"].lr.setValue(0.0123)
    w.panels["curves"].set_smoothing(0.5)
    w.docks["filters"].hide()
    w.close()
    assert not w.controller.is_running()

    w2 = MainWindow(dataset=dataset, settings=settings)
    qtbot.addWidget(w2)
    w2.show()
    try:
        assert w2.height() == 700
        assert settings.value("window/geometry") is not None
        assert w2.panels["controls"].lr.value() == pytest.approx(0.0123)
        assert w2.panels["curves"].smoothing_weight() == pytest.approx(0.5)
        assert not w2.docks["filters"].isVisible()
        assert w2.current_config().spec == config.spec
    finally:
        w2.close()
    assert not w2.controller.is_running()


def test_no_data_keeps_the_app_open_with_start_disabled(qtbot, settings, monkeypatch):
    import cnnviz.data.sources as sources

    def fail(*args, **kwargs):
        raise DataUnavailableError("MNIST could not be found or downloaded. Tried:\n"
                                   "  - cache /nowhere: missing\nTo provide the files...")

    monkeypatch.setattr(sources, "load_dataset", fail)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: bool(w.dialogs.messages), timeout=10000)
        title, text = w.dialogs.messages[-1]
        assert title == "No training data" and "Tried:" in text
        assert w.isVisible()
        assert not w.act["start"].isEnabled() and not w.act["step"].isEnabled()
        assert w.status.labels["dataset"].text() == "no data"
        assert w.panels["controls"].open_folder.isEnabled()
    finally:
        w.close()


def test_dataset_loads_in_the_background(qtbot, settings, tmp_path, monkeypatch, dataset):
    from cnnviz.data.idx import write_idx

    folder = tmp_path / "fashion-idx"
    folder.mkdir()
    for base, arr in (("train-images-idx3-ubyte", dataset.train_images),
                      ("train-labels-idx1-ubyte", dataset.train_labels),
                      ("t10k-images-idx3-ubyte", dataset.test_images),
                      ("t10k-labels-idx1-ubyte", dataset.test_labels)):
        write_idx(folder / base, arr)
    w = MainWindow(settings=settings, load_data=False)
    qtbot.addWidget(w)
    w.show()
    try:
        assert not w.act["start"].isEnabled()
        w.load_dataset("fashion-mnist", str(folder))
        qtbot.waitUntil(lambda: w.state.info is not None, timeout=15000)
        assert w.state.class_names[0] == "T-shirt/top"  # Fashion-MNIST shows its class names
        assert w.act["start"].isEnabled()
        assert "fashion" in w.panels["controls"].dataset_info.text()
    finally:
        w.close()


def test_close_during_training_exits_cleanly(qtbot, settings, dataset, config, qtlog):
    w = MainWindow(dataset=dataset, config=config, settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.act["start"].isEnabled(), timeout=15000)
    w.start()
    qtbot.waitUntil(lambda: w.panels["curves"].num_steps >= 5, timeout=20000)
    assert w.controller.state == "running"
    t0 = time.perf_counter()
    w.close()
    elapsed = time.perf_counter() - t0
    print(f"\nclose during training took {elapsed * 1e3:.0f} ms")
    assert not w.controller.is_running()
    assert elapsed < 2.0
    messages = [r.message for r in qtlog.records]
    assert not [m for m in messages if "QThread" in m], messages


def test_gui_latency_while_training(qtbot, settings, dataset_factory):
    """A 10 ms QTimer in the GUI thread keeps firing on time while the worker trains at
    full speed and every panel redraws (lenet5, batch 64; 12000 training images, so a 4 s
    probe sees steady training rather than an epoch end). Best of up to 3 probes: on a
    shared machine another process can hold a CPU for tens of ms now and then, but a slow
    redraw in the app would fail every probe."""
    from cnnviz.training import TrainConfig

    cfg = TrainConfig(arch="lenet5", batch_size=64, epochs=20, schedule="constant",
                      val_size=0)
    w = MainWindow(dataset=dataset_factory(12000, 500), config=cfg, settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.act["start"].isEnabled(), timeout=15000)
    stamps = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    worst = []
    try:
        w.start()
        wait_steps(qtbot, w, 3)
        for attempt in range(3):
            stamps.clear()
            steps0 = trained(w)
            timer.start()
            qtbot.wait(4000)
            timer.stop()
            steps = trained(w) - steps0
            gaps = np.diff(stamps) * 1e3
            worst.append(gaps.max() - 10)
            print(f"\nGUI latency while training, probe {attempt + 1}: {len(gaps)} ticks of a "
                  f"10 ms timer over 4 s, {steps} training steps; gap mean {gaps.mean():.1f} "
                  f"ms, p99 {np.percentile(gaps, 99):.1f} ms, max {gaps.max():.1f} ms "
                  f"(max delay {worst[-1]:.1f} ms)")
            assert steps > 0
            if worst[-1] < 50:
                break
    finally:
        w.close()
    assert min(worst) < 50, f"max delay of each probe: {worst} ms"


@pytest.mark.mnist
@pytest.mark.skipif(not os.environ.get("CNNVIZ_DATA"), reason="set CNNVIZ_DATA to MNIST")
def test_real_mnist_learns(qtbot, settings):
    from cnnviz.data.sources import load_dataset
    from cnnviz.training import TrainConfig

    ds = load_dataset()
    cfg = TrainConfig(arch="lenet5", epochs=1, val_size=1000, limit_test=1000)
    w = MainWindow(dataset=ds, config=cfg, settings=settings)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.act["start"].isEnabled(), timeout=30000)
        w.start()
        wait_steps(qtbot, w, 60, timeout=120000)
        pause(qtbot, w)
        got = last_updates(w)
        w.evaluate()
        qtbot.waitUntil(lambda: any(u.evaluation is not None for u in got), timeout=60000)
        ev = [u.evaluation for u in got if u.evaluation is not None][-1]
        assert ev.accuracy > 0.6
        assert ev.confusion.sum() == 1000
    finally:
        w.close()


def test_window_title_and_status_bar(window, dataset):
    assert "synthetic" in window.windowTitle()
    L = window.status.labels
    assert L["dataset"].text() == "synthetic"
    assert L["backend"].text() == "numpy (CPU)"
    assert L["epoch"].text() == "epoch 1/3"
    controls, (usable, reason) = window.panels["controls"], gpu_status()
    cupy = controls.backend.model().item(1)
    assert controls.gpu_usable == usable and cupy.isEnabled() == usable
    if usable:
        assert "cupy on the GPU" in controls.backend.toolTip()
    else:
        assert reason in cupy.toolTip() and f"cupy is disabled: {reason}" in \
            controls.backend.toolTip()


def test_qapplication_is_usable(qtbot):
    """pytest-qt's QApplication runs on the platform asked for (offscreen, from conftest),
    shows widgets and delivers queued events."""
    app = QtWidgets.QApplication.instance()
    assert app is not None and app.platformName() == os.environ["QT_QPA_PLATFORM"]
    label = QtWidgets.QLabel("usable")
    qtbot.addWidget(label)
    label.show()
    qtbot.waitExposed(label, timeout=2000)
    fired = []
    QtCore.QTimer.singleShot(0, lambda: fired.append(label.isVisible()))
    qtbot.waitUntil(lambda: fired == [True], timeout=2000)
    assert not label.grab().isNull()


def test_space_starts_and_pauses(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5000)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.controller.state == "running", timeout=10000)
    qtbot.waitUntil(lambda: not window.act["start"].isEnabled(), timeout=5000)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=10000)
    qtbot.waitUntil(lambda: window.act["start"].isEnabled(), timeout=5000)
    qtbot.wait(300)  # the last steps before the pause are drained
    before = trained(window)
    with qtbot.waitSignal(window.controller.sigCommandDone, timeout=10000,
                          check_params_cb=lambda name: name == "step_batch"):
        qtbot.keyClick(window, QtCore.Qt.Key.Key_N)
    qtbot.waitUntil(lambda: trained(window) == before + 1, timeout=5000)


def test_resume_applies_epochs_and_schedule(qtbot, window):
    window.start()
    wait_steps(qtbot, window, 2)
    pause(qtbot, window)
    window.panels["controls"].epochs.setValue(7)
    window.panels["controls"].schedule.setCurrentText("cosine")
    window.panels["controls"].seed.setValue(5)
    with qtbot.waitSignal(window.controller.sigStateChanged, timeout=10000):
        window.start()
    qtbot.waitUntil(lambda: window.controller.config.epochs == 7, timeout=5000)
    cfg = window.controller.config
    assert cfg.epochs == 7 and cfg.schedule == "cosine"
    assert cfg.seed == 0  # the seed waits for Reset
    assert window.panels["curves"].num_steps >= 2  # the run went on, nothing was reset
    pause(qtbot, window)
    window.flush_panels()
    assert window.status.labels["epoch"].text().endswith("/7")


def test_the_momentum_box_moves_the_optimizer_under_one_cycle_or_says_why_not(
        qtbot, settings, dataset, config):
    config.optimizer, config.schedule, config.momentum = "nesterov", "onecycle", 0.9
    with open_window(qtbot, settings, dataset, config) as w:
        got = last_updates(w)
        w.step_batch()
        qtbot.waitUntil(lambda: trained(w) == 1, timeout=10000)
        w.panels["controls"].momentum.setValue(0.5)
        qtbot.waitUntil(lambda: w.controller.config.momentum == 0.5, timeout=5000)
        w.step_batch()
        qtbot.waitUntil(lambda: trained(w) == 2, timeout=10000)
        momentum = {m.step: m.momentum for u in got for m in u.steps}
        total = w.state.info.steps_per_epoch * config.epochs
        assert momentum[1] == pytest.approx(scheduled_momentum("onecycle", 0.9, 0, total))
        assert momentum[2] == pytest.approx(scheduled_momentum("onecycle", 0.5, 1, total))
        assert momentum[2] < momentum[1] - 0.3
        # an optimizer without momentum: the box is off, and its tooltip says why
        assert w.panels["controls"].momentum.isEnabled()
        w.panels["controls"].optimizer.setCurrentText("sgd")
        with qtbot.waitSignal(w.controller.sigSessionReady, timeout=15000):
            w.reset()
        box = w.panels["controls"].momentum
        assert not box.isEnabled() and "sgd has no momentum" in box.toolTip()
