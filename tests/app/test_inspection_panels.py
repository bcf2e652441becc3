"""The inspection panels (attribution, top digits, step debugger, embedding, timeline),
driven with hand-made events and with real ones from a tiny session on synthetic digits;
pytest-qt on the offscreen platform."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from cnnviz.app.panels.attribution import PREDICTED, AttributionPanel
from cnnviz.app.panels.debugger import HISTORY, DebuggerPanel
from cnnviz.app.panels.embedding import EmbeddingPanel
from cnnviz.app.panels.timeline import TimelinePanel
from cnnviz.app.panels.top_digits import TopDigitsPanel, upsample_nearest
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig
from cnnviz.training.events import Attribution, Embedding, LayerStats, TopActivations
from cnnviz.training.inspect import explain_layer
from cnnviz.training.session import TrainingSession
from tests.specs import two_conv

NAMES = tuple(str(i) for i in range(10))
SPEC = two_conv(hidden=16)


def show(qtbot, widget, size=(600, 420)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    QtCore.QCoreApplication.processEvents()
    return widget


def mouse_click(view, scene_pos):
    """A left click on a GraphicsView's viewport at a scene point."""
    pos = QtCore.QPointF(view.mapFromScene(scene_pos))
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    for kind, buttons in ((QtCore.QEvent.Type.MouseButtonPress, left),
                          (QtCore.QEvent.Type.MouseButtonRelease, none)):
        ev = QtGui.QMouseEvent(kind, pos, view.viewport().mapToGlobal(pos), left, buttons,
                               QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(view.viewport(), ev)


def mouse_move(view, scene_pos):
    """The mouse moved onto a GraphicsView's viewport at a scene point."""
    pos = QtCore.QPointF(view.mapFromScene(scene_pos))
    none = QtCore.Qt.MouseButton.NoButton
    ev = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, pos, view.viewport().mapToGlobal(pos),
                           none, none, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(view.viewport(), ev)


def not_blank(widget) -> bool:
    """The rendered widget has many distinct colours (plots drawn, not an empty canvas)."""
    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    w, h = img.width(), img.height()
    a = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(h, -1)[:, : 4 * w]
    return len(np.unique(a.reshape(h, w, 4)[..., :3].reshape(-1, 3), axis=0)) > 50


@pytest.fixture(scope="module")
def session():
    """A tiny network trained a few steps on synthetic digits (300 train, 100 test)."""
    s = TrainingSession(TrainConfig(spec=[dict(e) for e in SPEC], val_size=0, batch_size=32,
                                    schedule="constant", seed=0),
                        synthetic_dataset(300, 100))
    for _ in range(8):
        s.step()
    return s


# -- attribution -----------------------------------------------------------------------------


def make_attribution(rng, target=7, label=7, layer="3.Conv2D"):
    probs = np.full(10, 0.02 / 9, np.float32)
    probs[target] = 0.98
    occ = rng.normal(scale=0.05, size=(28, 28)).astype(np.float32)
    return Attribution(500, rng.random((28, 28), np.float32), target, layer,
                       rng.random((28, 28), np.float32), rng.random((28, 28), np.float32),
                       occ, probs, label)


def test_attribution_shows_the_three_maps_over_the_digit(qtbot):
    rng = np.random.default_rng(0)
    panel = show(qtbot, AttributionPanel())
    panel.set_layers(["0.Conv2D", "3.Conv2D"])
    ev = make_attribution(rng)
    with qtbot.assertNotEmitted(panel.sigRequest):
        panel.set_attribution(ev, NAMES)
    shown = panel.shown()
    for key in ("saliency", "grad_cam", "occlusion"):
        np.testing.assert_array_equal(shown[key], getattr(ev, key))
        np.testing.assert_array_equal(panel.overlays[key].image, getattr(ev, key))
        np.testing.assert_allclose(panel.digits[key].image,  # as pixels (MNIST's norm)
                                   np.clip(ev.image * 0.3081 + 0.1307, 0, 1), rtol=1e-6)
    assert "for class 7 (p = 0.98)" in panel.title.text()
    assert "true label 7" in panel.title.text()
    lo, hi = panel.overlays["occlusion"].getLevels()  # diverging, centred on 0
    assert lo == -hi and hi == pytest.approx(np.abs(ev.occlusion).max())
    assert tuple(panel.overlays["saliency"].getLevels()) == (0, 1)
    assert "Grad-CAM" in panel.plots["grad_cam"].titleLabel.text
    assert panel.class_combo.currentText() == PREDICTED
    assert panel.class_combo.count() == 11
    assert panel.layer() == "3.Conv2D"

    # hovering the middle of a view reports the three values there
    vb = panel.plots["occlusion"].getViewBox()
    panel._on_mouse_moved(vb.mapViewToScene(QtCore.QPointF(5.5, 3.5)))
    assert f"occlusion {ev.occlusion[3, 5]:+.3f}" in panel.hover.text()


def test_attribution_combos_ask_for_a_class_and_layer(qtbot):
    rng = np.random.default_rng(1)
    panel = show(qtbot, AttributionPanel())
    panel.set_layers(["0.Conv2D", "3.Conv2D"])
    panel.set_attribution(make_attribution(rng), NAMES)
    with qtbot.waitSignal(panel.sigRequest) as blocker:
        panel.choose(target=3)
    assert blocker.args == [3, "3.Conv2D"]
    with qtbot.waitSignal(panel.sigRequest) as blocker:
        panel.choose(layer="0.Conv2D")
    assert blocker.args == [3, "0.Conv2D"]
    with qtbot.waitSignal(panel.sigRequest) as blocker:
        panel.choose(None)
    assert blocker.args == [None, "0.Conv2D"]

    # an answer for another class than the predicted one shows that class in the combo
    with qtbot.assertNotEmitted(panel.sigRequest):
        panel.set_attribution(make_attribution(rng, target=2, layer="0.Conv2D"), NAMES)
    assert panel.target() is None  # the event's target was the predicted class
    probs = np.full(10, 0.1, np.float32)
    probs[5] = 0.5
    ev = Attribution(3, np.zeros((28, 28), np.float32), 2, "0.Conv2D",
                     *(np.zeros((28, 28), np.float32),) * 3, probs, None)
    panel.set_attribution(ev, NAMES)
    assert panel.target() == 2
    assert "for class 2 (p = 0.10), predicted 5" in panel.title.text()


def test_attribution_from_a_real_session(qtbot, session):
    panel = show(qtbot, AttributionPanel())
    panel.set_layers(session.conv_layers())
    ev = session.attribution(0)
    panel.set_attribution(ev, session.class_names)
    assert panel.layer() == ev.layer == session.conv_layers()[-1]
    np.testing.assert_array_equal(panel.shown()["grad_cam"], ev.grad_cam)
    assert f"true label {ev.label}" in panel.title.text()
    assert not_blank(panel)


# -- top digits ------------------------------------------------------------------------------


def make_top(rng, channels=4, k=9, h=7, layer="3.Conv2D", n=200):
    idx = np.stack([rng.choice(n, k, replace=False) for _ in range(channels)]).astype(np.int64)
    scores = -np.sort(-rng.random((channels, k)), axis=1).astype(np.float32)
    maps = rng.normal(size=(channels, k, h, h)).astype(np.float32)
    return TopActivations(500, layer, idx, scores, maps, 2.1)


def test_top_digits_show_the_chosen_channels_digits_and_maps(qtbot):
    rng = np.random.default_rng(2)
    panel = show(qtbot, TopDigitsPanel())
    images = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    panel.set_test_images(images)
    panel.set_layers(["0.Conv2D", "3.Conv2D"])
    ev = make_top(rng)
    panel.set_top(ev)
    assert panel.layer() == "3.Conv2D"
    assert panel.shown_indices() == ev.indices[0].tolist()
    panel.set_channel(2)
    assert panel.shown_indices() == ev.indices[2].tolist()
    assert panel.shown_scores() == pytest.approx(ev.scores[2].tolist())
    assert panel.channel_count.text() == "of 4"
    assert panel.info.text() == "computed in 2.1 s at step 500"
    # each cell: the digit, then the channel's map enlarged to 28 x 28 beside it
    g = panel.gallery
    digits, maps = (item.image for item in g.image_items)
    x, y = g.cell_origin(0)
    np.testing.assert_array_equal(digits[y : y + 28, x : x + 28], images[ev.indices[2, 0]])
    np.testing.assert_array_equal(maps[y : y + 28, x + 29 : x + 57],
                                  upsample_nearest(ev.maps[2, 0], (28, 28)))
    assert np.isnan(maps[y : y + 28, x : x + 28]).all()
    assert np.isnan(digits[y : y + 28, x + 29 : x + 57]).all()
    lo, hi = g.image_items[1].getLevels()
    assert lo == -hi and hi == pytest.approx(np.abs(ev.maps[2]).max())
    texts = g.labels()
    assert len(texts) == 9 and texts[0].startswith(f"#{ev.indices[2, 0]}")

    with qtbot.waitSignal(panel.sigDigitChosen) as blocker:
        panel.choose(4)
    assert blocker.args == [int(ev.indices[2, 4])]
    assert g.selected() == 4

    # a click on the fifth cell (row 1, col 1) chooses that digit; hovering one describes it
    x, y = g.cell_origin(4)
    scene = g.vb.mapViewToScene(QtCore.QPointF(x + 10, y + 10))
    with qtbot.waitSignal(panel.sigDigitChosen) as blocker:
        mouse_click(g.view, scene)
    assert blocker.args == [int(ev.indices[2, 4])]
    x, y = g.cell_origin(7)
    mouse_move(g.view, g.vb.mapViewToScene(QtCore.QPointF(x + 40, y + 5)))
    assert panel.status.text() == f"test #{ev.indices[2, 7]}: rank 8, peak {ev.scores[2, 7]:.4g}"

    with pytest.raises(IndexError):
        panel.set_channel(4)


def test_top_digits_layer_choice_is_asked_for_and_kept(qtbot):
    rng = np.random.default_rng(3)
    panel = show(qtbot, TopDigitsPanel())
    with qtbot.assertNotEmitted(panel.sigLayerChosen):
        panel.set_layers(["0.Conv2D", "3.Conv2D"])
        panel.set_top(make_top(rng, layer="0.Conv2D", h=28))
    with qtbot.waitSignal(panel.sigLayerChosen) as blocker:
        panel.choose_layer("3.Conv2D")
    assert blocker.args == ["3.Conv2D"]
    with qtbot.waitSignal(panel.sigLayerChosen) as blocker:
        panel.recompute_button.click()
    assert blocker.args == ["3.Conv2D"]
    ev = make_top(rng, channels=6)
    panel.set_channel(3)
    panel.set_top(ev)
    assert panel.channel() == 3 and panel.shown_indices() == ev.indices[3].tolist()


def test_top_digits_from_a_real_session(qtbot, session):
    panel = show(qtbot, TopDigitsPanel())
    panel.set_test_images(session.test_images)
    panel.set_layers(session.conv_layers())
    ev = session.top_activations("1.ReLU")
    panel.set_top(ev)
    panel.set_channel(1)
    assert panel.layer() == "1.ReLU"
    assert panel.shown_indices() == ev.indices[1].tolist()
    assert not_blank(panel)


# -- step debugger -----------------------------------------------------------------------------

LAYERS = ("0.Conv2D", "1.ReLU", "2.MaxPool2D", "3.Flatten", "4.Dense", "5.ReLU", "6.Dense")


def make_stats(step, ratio=1e-3, dead=0.1, first_ratio=None):
    nan = math.nan
    n = len(LAYERS)
    grad = np.array([0.5, nan, nan, nan, 1.2, nan, 0.8])
    upd = np.array([first_ratio or ratio, nan, nan, nan, ratio, nan, ratio])
    dead_f = np.array([nan, dead, nan, nan, nan, 0.2, nan])
    return LayerStats(step, LAYERS, grad, upd, dead_f, np.linspace(1, 2, n), np.linspace(2, 3, n))


def test_debugger_lists_weight_and_relu_layers_and_flags_the_unhealthy(qtbot):
    panel = show(qtbot, DebuggerPanel())
    panel.set_stats(make_stats(1))
    assert panel.rows() == ["0.Conv2D", "1.ReLU", "4.Dense", "5.ReLU", "6.Dense"]
    assert panel.flagged() == {}
    assert "healthy" in panel.status.text()
    assert panel.cell_text("0.Conv2D", 2) == "1.0e-03"
    assert panel.cell_text("1.ReLU", 3) == "10%"
    assert panel.cell_text("1.ReLU", 1) == "–"  # no weights

    panel.set_stats(make_stats(2, first_ratio=5e-2, dead=0.8))
    flagged = panel.flagged()
    assert set(flagged) == {"0.Conv2D", "1.ReLU"}
    assert flagged["0.Conv2D"] == explain_layer(5e-2, math.nan)
    assert flagged["1.ReLU"] == explain_layer(math.nan, 0.8)
    assert "too high" in flagged["0.Conv2D"]
    row = panel.rows().index("0.Conv2D")
    item = panel.table.item(row, 2)
    assert item.background().color().alpha() > 0
    assert flagged["0.Conv2D"] in item.toolTip()
    assert flagged["0.Conv2D"] in panel.status.text()
    assert panel.table.item(panel.rows().index("4.Dense"), 2).background().style() == \
        QtCore.Qt.BrushStyle.NoBrush

    panel.set_stats(make_stats(3))  # healthy again: the highlight goes
    assert panel.flagged() == {}
    assert panel.table.item(row, 2).background().style() == QtCore.Qt.BrushStyle.NoBrush


def test_debugger_history_is_bounded_and_redraws_are_coalesced(qtbot, monkeypatch):
    panel = show(qtbot, DebuggerPanel())
    draws = []
    real = panel._redraw
    monkeypatch.setattr(panel._coalesce, "_fn", lambda: (draws.append(1), real()))
    for step in range(1, 251):
        panel.set_stats(make_stats(step, ratio=10 ** -(2 + step / 250)))
    qtbot.waitUntil(lambda: not panel._coalesce.pending, timeout=2000)
    assert len(draws) <= 3
    hist = panel.history("4.Dense")
    assert len(hist) == HISTORY and hist[-1] == pytest.approx(1e-3)
    x, y = panel._sparks[panel.rows().index("4.Dense")].curve.getData()
    assert len(x) == HISTORY and x[-1] == 250
    assert y[-1] == pytest.approx(-3)  # log10 of the ratio

    panel.set_stats(make_stats(10))  # the run went back (reset or branch): history restarts
    assert len(panel.history("4.Dense")) == 1


def test_debugger_from_a_real_session(qtbot, session):
    panel = show(qtbot, DebuggerPanel())
    events = []
    session.listeners.append(events.append)
    session.collect_layer_stats = True
    try:
        for _ in range(3):
            session.step()
    finally:
        session.collect_layer_stats = False
        session.listeners.remove(events.append)
    stats = [e for e in events if isinstance(e, LayerStats)]
    assert len(stats) == 3
    for ev in stats:
        panel.set_stats(ev)
    assert panel.rows() == ["0.Conv2D", "1.ReLU", "3.Conv2D", "4.ReLU", "7.Dense", "8.ReLU",
                            "9.Dense"]
    # the flags are explain_layer's diagnosis of the last step's real statistics: the update
    # ratio of the layers with weights, the dead share of the ReLUs
    last, nan = stats[-1], math.nan
    expected = {}
    for i, name in enumerate(last.names):
        relu = name.endswith("ReLU")
        why = explain_layer(nan if relu else float(last.update_ratio[i]),
                            float(last.dead_fraction[i]) if relu else nan)
        if why and name in panel.rows():
            expected[name] = why
    assert expected, "these statistics should flag a layer (Adam at 5e-3 on a fresh net)"
    flagged = panel.flagged()
    assert flagged == expected
    for name in panel.rows():
        item = panel.table.item(panel.rows().index(name), 0)
        assert item.text() == (f"⚠ {name}" if name in flagged else name)
        assert (flagged.get(name) or "looks healthy") in item.toolTip()
    assert panel.cell_text("3.Conv2D", 2) == f"{stats[-1].update_ratio[3]:.1e}"
    assert f"step {stats[-1].step}" in panel.title.text()
    assert not_blank(panel)


# -- embedding -------------------------------------------------------------------------------


def make_embedding(rng, n=300):
    labels = rng.integers(0, 10, n)
    preds = np.where(rng.random(n) < 0.2, rng.integers(0, 10, n), labels)
    coords = (rng.normal(size=(n, 2)) + labels[:, None] * 2).astype(np.float32)
    indices = rng.choice(1000, n, replace=False).astype(np.int64)
    return Embedding(42, "7.Dense", coords, labels, preds, indices,
                     np.array([0.24, 0.11], np.float32))


def test_embedding_scatter_colours_marks_and_emits_the_clicked_digit(qtbot):
    rng = np.random.default_rng(5)
    panel = show(qtbot, EmbeddingPanel())
    images = rng.integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    panel.set_test_images(images)
    ev = make_embedding(rng)
    panel.set_embedding(ev, NAMES)
    x, y = panel.scatter.getData()
    np.testing.assert_allclose(np.column_stack([x, y]), ev.coords)
    wrong = ev.labels != ev.predictions
    assert len(panel.rings.getData()[0]) == wrong.sum()
    brushes = [s.brush().color().name() for s in panel.scatter.points()[:5]]
    from cnnviz.app.panels.embedding import class_colours

    assert brushes == [class_colours(10)[c] for c in ev.labels[:5]]
    assert panel.plot.getAxis("bottom").labelText == "PC1 (24% var)"
    assert panel.plot.getAxis("left").labelText == "PC2 (11% var)"
    assert len(panel.legend.items) == 11

    with qtbot.waitSignal(panel.sigDigitChosen) as blocker:
        panel.click_point(17)
    assert blocker.args == [int(ev.indices[17])]
    assert panel.chosen() == 17
    np.testing.assert_array_equal(panel.thumb.image, images[ev.indices[17]])

    # the mouse: hover shows a digit, a click emits the point under it
    qtbot.wait(50)  # let the view fit the data
    vb = panel.plot.getViewBox()
    i = int(np.argmax(ev.coords[:, 0]))  # the rightmost point, alone at the edge
    scene = vb.mapViewToScene(QtCore.QPointF(*map(float, ev.coords[i])))
    assert panel.point_at(scene) == i
    panel._on_mouse_moved(scene)
    assert f"test #{ev.indices[i]}" in panel.status.text()
    np.testing.assert_array_equal(panel.thumb.image, images[ev.indices[i]])
    with qtbot.waitSignal(panel.sigDigitChosen) as blocker:
        mouse_click(panel.graphics, scene)
    assert blocker.args == [int(ev.indices[i])]

    with qtbot.waitSignal(panel.sigRefreshRequested):
        panel.refresh_button.click()


def test_embedding_from_a_real_session(qtbot, session):
    panel = show(qtbot, EmbeddingPanel())
    panel.set_test_images(session.test_images)
    ev = session.embedding(100)
    panel.set_embedding(ev, session.class_names)
    with qtbot.waitSignal(panel.sigDigitChosen) as blocker:
        panel.click_point(5)
    assert blocker.args == [int(ev.indices[5])]
    assert panel.plot.getAxis("bottom").labelText == f"PC1 ({ev.explained[0]:.0%} var)"
    assert not_blank(panel)


# -- timeline --------------------------------------------------------------------------------


def test_timeline_scrubs_goes_live_and_branches_with_the_step(qtbot):
    panel = show(qtbot, TimelinePanel(), size=(600, 200))
    assert not panel.slider.isEnabled() and not panel.branch_button.isEnabled()
    steps = list(range(0, 3401, 200))
    with qtbot.assertNotEmitted(panel.sigScrub), qtbot.assertNotEmitted(panel.sigLive):
        panel.set_moments(steps, 5.1, 64, 27.4)
    assert panel.is_live() and panel.slider.value() == len(steps) - 1
    assert not panel.branch_button.isEnabled()
    assert "18 snapshots, 5.1 of 64 MB, 27 MB on disk" in panel.info.text()

    with qtbot.waitSignal(panel.sigScrub) as blocker:
        panel.slider.setValue(6)
    assert blocker.args == [1200]
    assert panel.selected_step() == 1200 and not panel.is_live()
    assert panel.branch_button.isEnabled()
    assert panel.info.text().startswith("step 1200 of 3400 | 18 snapshots")
    assert "1200" in panel.branch_button.toolTip()
    assert "optimizer state" in panel.branch_button.toolTip()

    # new moments while scrubbing keep the chosen one; thinning falls back to the one before
    with qtbot.assertNotEmitted(panel.sigScrub):
        panel.set_moments(steps + [3600], 5.4, 64)
        assert panel.selected_step() == 1200
        panel.set_moments([0, 800, 1600, 2400, 3600], 2.0, 64)
    assert panel.selected_step() == 800 and panel.slider.value() == 1

    got = []
    panel.sigBranch.connect(lambda step: got.append(("branch", step)))
    panel.sigLive.connect(lambda: got.append(("live",)))
    panel.branch()
    assert got == [("branch", 800), ("live",)]  # branch, then back to live view
    assert panel.is_live() and not panel.branch_button.isEnabled()

    with qtbot.waitSignal(panel.sigScrub) as blocker:
        panel.select_step(2000)
    assert blocker.args == [1600]
    with qtbot.waitSignal(panel.sigLive):
        panel.live_button.click()
    assert panel.is_live() and panel.selected_step() is None
    assert panel.slider.value() == 4


def test_timeline_strip_click_shows_the_nearest_moment(qtbot):
    panel = show(qtbot, TimelinePanel(), size=(600, 200))
    panel.set_moments([0, 100, 200, 1000], 1.0, 64)
    qtbot.wait(20)
    vb = panel.strip.getPlotItem().getViewBox()
    with qtbot.waitSignal(panel.sigScrub) as blocker:
        mouse_click(panel.strip, vb.mapViewToScene(QtCore.QPointF(880, 0)))
    assert blocker.args == [1000]
    assert not panel.is_live()
    assert not_blank(panel)
