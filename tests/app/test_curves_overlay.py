"""CurvesPanel's overlay of an earlier run (set_overlay) and its step marker (set_marker);
pytest-qt on the offscreen platform."""

import numpy as np
import pytest

from cnnviz.app.panels.curves import CurvesPanel
from cnnviz.training.history import History, ema


def history(n, start=1, scale=2.0, seed=0, epoch_every=100):
    """A decaying fake run as a History: n step rows, an epoch end every `epoch_every`."""
    rng = np.random.default_rng(seed)
    s = np.arange(start, start + n, dtype=np.float64)
    loss = scale * np.exp(-s / 200) + 0.1 + rng.uniform(0, 0.1, n)
    acc = np.clip(1 - loss / 3, 0, 1)
    steps = np.c_[s, loss, acc, 0.01 * 0.999 ** s]
    ends = s[epoch_every - 1 :: epoch_every]
    epochs = [[e, k, 0.5, 0.8, 0.3 + 0.01 * e, 0.7 + 0.01 * e, 0.01, 2.0]
              for e, k in enumerate(ends)]
    return History.from_arrays({"steps": steps, "epochs": np.asarray(epochs)})


def npoints(item) -> int:
    """How many points a PlotDataItem was given (its xData is None when none)."""
    return 0 if item.xData is None else len(item.xData)


@pytest.fixture
def panel(qtbot):
    w = CurvesPanel()
    qtbot.addWidget(w)
    w.resize(700, 420)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_overlay_draws_the_old_run_smoothed(panel):
    new, old = history(300, seed=1), history(900, scale=1.5, seed=2)
    panel.set_history(new)
    panel.set_overlay(old, label="run A")
    panel.flush()
    steps = old.steps.rows()
    np.testing.assert_array_equal(panel.overlay_steps(), steps)
    w = panel.smoothing_weight()
    np.testing.assert_array_equal(panel.old_loss.xData, steps[:, 0])
    np.testing.assert_allclose(panel.old_loss.yData, ema(steps[:, 1], w))
    np.testing.assert_allclose(panel.old_acc.yData, ema(100 * steps[:, 2], w))
    np.testing.assert_allclose(panel.old_lr.yData, steps[:, 3])
    epochs = old.epochs.rows()
    np.testing.assert_array_equal(panel.old_val_loss.xData, epochs[:, 1])
    np.testing.assert_allclose(panel.old_val_loss.yData, epochs[:, 4])
    np.testing.assert_allclose(panel.old_val_acc.yData, 100 * epochs[:, 5])
    # the current run is drawn as before, and the step axis shows all of the old one
    np.testing.assert_allclose(panel.smooth_loss.yData,
                               ema(new.steps.rows()[:, 1], w))
    assert panel.loss_plot.viewRange()[0][1] >= 900
    legend = panel.hover.text()
    assert "loss, accuracy, lr (run A)" in legend and "validation (run A)" in legend


def test_overlay_survives_set_history_and_clear_and_none_removes_it(panel):
    old = history(500, seed=2)
    panel.set_overlay(old)
    panel.set_history(history(200, seed=1))
    assert npoints(panel.old_loss) == 500
    panel.clear()
    assert npoints(panel.old_loss) == 500
    assert "(before branch)" in panel.hover.text()
    assert panel.overlay_steps().shape == (500, 4)

    panel.set_overlay(None)
    assert panel.overlay_steps().shape == (0, 4)
    for item in (panel.old_loss, panel.old_acc, panel.old_lr, panel.old_val_loss,
                 panel.old_val_acc):
        assert npoints(item) == 0
    assert "before branch" not in panel.hover.text()
    assert panel.show_values_at(10) == ""  # nothing left to describe


def test_overlay_is_resmoothed_when_the_smoothing_changes(panel):
    old = history(400, seed=3)
    loss = old.steps.rows()[:, 1]
    panel.set_overlay(old)
    np.testing.assert_allclose(panel.old_loss.yData, ema(loss, 0.9))
    panel.set_smoothing(0.5)
    assert not np.allclose(panel.old_loss.yData, ema(loss, 0.9))
    np.testing.assert_allclose(panel.old_loss.yData, ema(loss, 0.5))
    acc = old.steps.rows()[:, 2]
    np.testing.assert_allclose(panel.old_acc.yData, ema(100 * acc, 0.5))


def test_overlay_follows_the_log_scale(panel):
    panel.set_overlay(history(100))
    panel.set_log_scale(True)
    assert panel.old_loss.opts["logMode"] == [False, True]
    assert panel.old_lr.opts["logMode"] == [False, True]
    assert panel.old_acc.opts["logMode"] == [False, False]
    panel.set_log_scale(False)
    assert panel.old_loss.opts["logMode"] == [False, False]


def test_hover_mentions_the_old_runs_loss_within_its_steps(panel):
    old = history(300, seed=4)
    panel.set_history(history(600, seed=5))
    panel.set_overlay(old)
    text = panel.show_values_at(150)
    expected = ema(old.steps.rows()[:, 1], 0.9)[149]  # step 150 is row 149
    assert f"before branch: smoothed loss {expected:.4f}" in text
    assert "before branch" not in panel.show_values_at(500)  # past the old run's end


def test_marker_is_shown_at_the_step_and_hidden_by_none(panel):
    panel.set_history(history(600))
    assert panel.marker_step() is None
    assert not any(line.isVisible() for line in panel.markers)
    panel.set_marker(400)
    assert panel.marker_step() == 400
    assert len(panel.markers) == 3
    for line in panel.markers:
        assert line.isVisible() and line.value() == 400 and not line.movable
    assert panel.markers[0].label.textItem.toPlainText() == "step 400"
    panel.set_marker(None)
    assert panel.marker_step() is None
    assert not any(line.isVisible() for line in panel.markers)
    panel.set_marker(1200)  # moved while hidden: the label still follows
    assert panel.markers[1].value() == 1200
    assert panel.markers[0].label.textItem.toPlainText() == "step 1200"
