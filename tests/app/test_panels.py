"""The inspection panels (filters, activations, confusion matrix, digits), driven with small
synthetic events; pytest-qt on the offscreen platform (QT_QPA_PLATFORM=offscreen)."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from cnnviz.app.panels.activation_maps import layer_mosaic, pick_layers
from cnnviz.app.panels.activations import ALL_LAYERS, ActivationsPanel
from cnnviz.app.panels.architecture import ArchitecturePanel
from cnnviz.app.panels.colormaps import ACCENT
from cnnviz.app.panels.confusion import PAGE_SIZE, ConfusionPanel
from cnnviz.app.panels.curves import CurvesPanel
from cnnviz.app.panels.digits import CANVAS, EMIT_INTERVAL_MS, DigitsPanel
from cnnviz.app.panels.filters import FiltersPanel
from cnnviz.app.widgets.mosaic import build_mosaic
from cnnviz.core.presets import preset
from cnnviz.data.drawing import preprocess_drawing
from cnnviz.training.events import ActivationSnapshot, Evaluation, FilterSnapshot
from cnnviz.training.history import History, ema
from cnnviz.training.metrics import confusion_matrix

NAMES = tuple(str(i) for i in range(10))


def show(qtbot, widget, size=(500, 400)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    QtCore.QCoreApplication.processEvents()
    return widget


def make_filters(rng, step=1):
    return FilterSnapshot(step, {
        "0.Conv2D": rng.normal(size=(6, 1, 5, 5)).astype(np.float32),
        "3.Conv2D": rng.normal(size=(16, 6, 3, 3)).astype(np.float32),
    })


def make_activations(rng, label=3):
    maps = [
        ("0.Conv2D", rng.normal(size=(4, 8, 8)).astype(np.float32)),
        ("1.ReLU", np.abs(rng.normal(size=(4, 8, 8))).astype(np.float32)),
        ("2.MaxPool2D", rng.normal(size=(4, 4, 4)).astype(np.float32)),
        ("3.Flatten", rng.normal(size=64).astype(np.float32)),
        ("4.Dense", rng.normal(size=10).astype(np.float32)),
    ]
    probs = rng.dirichlet(np.ones(10)).astype(np.float32)
    image = rng.normal(size=(28, 28)).astype(np.float32)
    return ActivationSnapshot(7, image, maps, probs, label)


def make_evaluation(rng, n=1500, k=10, error_rate=0.3):
    labels = rng.integers(0, k, n)
    preds = np.where(rng.random(n) < error_rate, rng.integers(0, k, n), labels)
    probs = rng.dirichlet(np.ones(k), n)
    probs[np.arange(n), preds] += 1.0  # the predicted class is the most probable
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
    cm = confusion_matrix(labels, preds, k)
    return Evaluation("test", 42, 0.7, float((preds == labels).mean()), cm, preds, labels, probs)


def _mouse(view, kind, scene_pos, buttons):
    """Send a mouse event to a GraphicsView's viewport at a scene point."""
    pos = QtCore.QPointF(view.mapFromScene(scene_pos))
    left = QtCore.Qt.MouseButton.LeftButton
    button = QtCore.Qt.MouseButton.NoButton if kind == QtCore.QEvent.Type.MouseMove else left
    ev = QtGui.QMouseEvent(kind, pos, view.viewport().mapToGlobal(pos), button, buttons,
                           QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(view.viewport(), ev)


def mouse_drag(qtbot, view, scene_points):
    """Press at the first point, move through the others (slower than pyqtgraph's 100 Hz
    move rate limit), release at the last."""
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    _mouse(view, QtCore.QEvent.Type.MouseButtonPress, scene_points[0], left)
    for p in scene_points[1:]:
        qtbot.wait(12)
        _mouse(view, QtCore.QEvent.Type.MouseMove, p, left)
    _mouse(view, QtCore.QEvent.Type.MouseButtonRelease, scene_points[-1], none)


def mouse_click(view, scene_pos):
    _mouse(view, QtCore.QEvent.Type.MouseButtonPress, scene_pos, QtCore.Qt.MouseButton.LeftButton)
    _mouse(view, QtCore.QEvent.Type.MouseButtonRelease, scene_pos, QtCore.Qt.MouseButton.NoButton)


def fits_small_dock(widget):
    hint = widget.minimumSizeHint()
    return hint.width() <= 400 and hint.height() <= 350


# -- building blocks -----------------------------------------------------------------------


def test_mosaic_places_every_tile_with_separators():
    blocks = [np.arange(5 * 3 * 3, dtype=np.float32).reshape(5, 3, 3)]
    m = build_mosaic(blocks, columns=2, min_tile=6)
    assert len(m.tiles) == 5 and m.columns == 2
    assert m.image.shape == (3 * 7 - 1, 2 * 7 - 1)  # 3x3 tiles upscaled x2 + 1-px gaps
    t = m.tiles[3]
    assert (t.x, t.y, t.factor) == (7, 7, 2)
    np.testing.assert_array_equal(m.image[7:13:2, 7:13:2], blocks[0][3])
    assert np.isnan(m.image[6]).all() and np.isnan(m.image[:, 6]).all()
    hit = m.locate(t.x + 3, t.y + 5)
    assert hit[0] is t and hit[1:] == (2, 1)
    assert m.locate(6.5, 0) is None


def test_snapshots_arriving_fast_are_drawn_once_with_the_newest(qtbot, monkeypatch):
    rng = np.random.default_rng(8)
    panel = show(qtbot, ActivationsPanel())
    draws = []
    real = panel._redraw_maps
    monkeypatch.setattr(panel, "_redraw_maps", lambda: (draws.append(1), real()))
    snaps = [make_activations(rng) for _ in range(10)]
    for snap in snaps:
        panel.set_activations(snap, NAMES)
    qtbot.waitUntil(lambda: not panel._coalesce.pending, timeout=1000)
    assert len(draws) == 1
    np.testing.assert_array_equal(panel.map_tiles()["0.Conv2D"][0], snaps[-1].maps[0][1][0])


# -- curves --------------------------------------------------------------------------------


def fake_run(n=30, epoch_every=10):
    """A History of n steps with falling loss and an epoch end every `epoch_every` steps."""
    h = History()
    s = np.arange(1, n + 1, dtype=np.float64)
    h.steps.append(np.c_[s, 2 / s, 1 - 1 / s, 0.01 * 0.99**s])
    ends = s[epoch_every - 1 :: epoch_every]
    h.epochs.append([(e, k, 0.5, 0.8, 0.3, 0.9 + 0.01 * e, 0.01, 1.5)
                     for e, k in enumerate(ends)])
    return h


def test_curves_draw_a_history_and_the_points_that_follow(qtbot):
    panel = show(qtbot, CurvesPanel())
    h = fake_run()
    panel.set_history(h)
    h.steps.append((31, 9.0, 0.0, 0.01))  # the panel drew a copy
    assert (panel.num_steps, panel.num_epochs) == (30, 3)
    np.testing.assert_array_equal(panel.steps_array(), h.steps.rows()[:30])
    np.testing.assert_allclose(panel.raw_acc.yData, 100 * h.steps["accuracy"][:30])
    np.testing.assert_allclose(panel.smooth_loss.yData, ema(h.steps["loss"][:30], 0.9))
    np.testing.assert_array_equal(panel.val_acc.yData, 100 * h.epochs["val_accuracy"])

    panel.append_steps([(29, 5.0, 0.5, 0.01), (31, 0.05, 0.97, 0.005)])  # 29 is old: ignored
    panel.append_epochs([(3, 31, 0.4, 0.85, math.nan, math.nan, 0.005, 1.0)])
    panel.add_evaluation(31, 0.2, 0.93)
    panel.add_evaluation(31, 0.2, 0.93)  # the same evaluation again: one point
    panel.flush()
    assert panel.num_steps == 31
    assert panel.steps_array()[-1].tolist() == [31, 0.05, 0.97, 0.005]
    loss = np.r_[h.steps["loss"][:30], 0.05]
    np.testing.assert_allclose(panel.smooth_loss.yData, ema(loss, 0.9))
    assert len(panel.val_loss.xData) == 3  # an epoch without validation draws no point
    assert panel.test_acc.xData.tolist() == [31] and panel.test_acc.yData.tolist() == [93.0]
    text = panel.show_values_at(30.8)
    assert "step 31" in text and "loss 0.0500" in text and "accuracy 97.0%" in text
    assert "test 93.00% (step 31)" in text
    assert "val loss" not in text  # the last epoch end (step 31) had no validation
    text = panel.show_values_at(29.9)
    assert "step 30" in text and "epoch 3: val loss 0.3000, val accuracy 92.00%" in text
    assert "test" not in text

    panel.set_smoothing(0.5)  # smoothed again from the first step
    np.testing.assert_allclose(panel.smooth_acc.yData, ema(100 * panel.steps_array()[:, 2], 0.5))
    panel.clear()
    assert panel.num_steps == panel.num_epochs == 0
    assert panel.raw_loss.xData is None and panel.test_acc.xData is None  # nothing drawn


def test_curves_redraw_fast_points_once_until_flushed(qtbot, monkeypatch):
    panel = show(qtbot, CurvesPanel())
    draws = []
    real = panel.raw_loss.setData
    monkeypatch.setattr(panel.raw_loss, "setData",
                        lambda *a: (draws.append(len(a[0])), real(*a)))
    for i in range(1, 51):
        panel.append_steps([(i, 1.0 / i, 0.5, 0.01)])
    qtbot.waitUntil(lambda: draws == [50], timeout=1000)
    panel.append_steps([(51, 0.01, 0.5, 0.01)])
    panel.flush()  # drawn now, not after the interval
    assert draws == [50, 51]


def test_curves_csv_is_the_histories_with_the_panels_smoothing(qtbot, tmp_path):
    panel = show(qtbot, CurvesPanel())
    h = fake_run(25)
    panel.set_history(h)
    panel.add_evaluation(20, 0.3, 0.9)
    panel.set_smoothing(0.7)
    h.tests.append((20, 0.3, 0.9))
    got = panel.write_csv(tmp_path / "panel.csv").read_text()
    assert got == h.write_csv(tmp_path / "history.csv", smoothing=0.7).read_text()
    lines = got.splitlines()
    assert lines[0].startswith("step,batch_loss,batch_accuracy,lr,smoothed_loss,epoch,")
    assert len(lines) == 26 and lines[20].startswith("20,0.1,0.95,")
    assert lines[20].endswith(",0.3,0.9")


# -- filters -------------------------------------------------------------------------------


def test_filters_show_one_tile_per_output_channel_with_symmetric_levels(qtbot):
    rng = np.random.default_rng(0)
    panel = show(qtbot, FiltersPanel())
    assert fits_small_dock(panel)
    snap = make_filters(rng)
    panel.set_filters(snap)
    assert panel.current_layer() == "0.Conv2D"
    w = snap.filters["0.Conv2D"]
    tiles = panel.filter_tiles()
    assert len(tiles) == 6 and len(panel._mosaic.tiles) == 6
    for t, k in zip(tiles, w[:, 0]):
        np.testing.assert_allclose(t, k)
    lo, hi = panel.levels()
    assert lo == -hi and hi == pytest.approx(np.abs(w).max(), rel=1e-6)
    assert tuple(panel.image.getLevels()) == pytest.approx((lo, hi))
    assert np.isnan(panel.image.image).any()  # 1-px separators between tiles

    panel.set_layer("3.Conv2D")
    w3 = snap.filters["3.Conv2D"]
    tiles = panel.filter_tiles()
    assert len(tiles) == 16 and all(t.shape == (3, 3) for t in tiles)
    np.testing.assert_allclose(np.stack(tiles), w3.mean(axis=1), rtol=1e-6)
    assert panel.input_combo.count() == 1 + 6
    panel.set_input_channel(2)
    np.testing.assert_allclose(np.stack(panel.filter_tiles()), w3[:, 2])
    lo, hi = panel.levels()
    assert lo == -hi and hi == pytest.approx(np.abs(w3[:, 2]).max(), rel=1e-6)

    panel.set_filters(make_filters(rng, step=2))  # a newer snapshot keeps the choices
    assert panel.current_layer() == "3.Conv2D"
    assert panel.input_combo.currentText() == "2"
    assert "step 2" in panel.plot.titleLabel.text


# -- activations ---------------------------------------------------------------------------


def test_activations_show_one_map_per_channel_per_layer(qtbot):
    rng = np.random.default_rng(1)
    panel = show(qtbot, ActivationsPanel())
    assert fits_small_dock(panel)
    snap = make_activations(rng)
    maps = dict(snap.maps)
    panel.set_activations(snap, NAMES)
    assert panel.current_layer() == "0.Conv2D"  # the first conv by default
    shown = panel.map_tiles()
    assert list(shown) == ["0.Conv2D"]
    assert len(shown["0.Conv2D"]) == 4
    for c, tile in enumerate(shown["0.Conv2D"]):
        np.testing.assert_array_equal(tile, maps["0.Conv2D"][c])

    panel.set_layer(ALL_LAYERS)
    shown = panel.map_tiles()
    assert list(shown) == ["0.Conv2D", "2.MaxPool2D"]  # conv and pool layers, stacked
    assert [t.shape for t in shown["2.MaxPool2D"]] == [(4, 4)] * 4
    assert len(panel._maps.mosaic.tiles) == 8

    panel.set_layer("4.Dense")  # a 1-D output is one strip
    shown = panel.map_tiles()
    assert list(shown) == ["4.Dense"] and shown["4.Dense"][0].shape == (1, 10)

    panel.set_layer("2.MaxPool2D")
    panel.set_activations(make_activations(rng), NAMES)  # the choice survives updates
    assert panel.current_layer() == "2.MaxPool2D"

    # probabilities: one bar per class, the top one highlighted, the true label named
    probs = panel._snap.probs
    bars = panel.prob_plot.bars
    np.testing.assert_allclose(bars.opts["height"], probs)
    top = int(np.argmax(probs))
    brushes = bars.opts["brushes"]
    assert brushes[top].color().name() == QtGui.QColor(ACCENT).name()
    assert "true 3" in panel.prob_plot.titleLabel.text


def test_activation_tiles_enlarge_and_report_values_on_hover(qtbot):
    rng = np.random.default_rng(2)
    panel = show(qtbot, ActivationsPanel())
    snap = make_activations(rng)
    panel.set_activations(snap, NAMES)
    pool = dict(snap.maps)["2.MaxPool2D"]

    panel.enlarge("2.MaxPool2D", 3)
    assert panel.enlarged() == ("2.MaxPool2D", 3)
    np.testing.assert_array_equal(panel.enlarged_image(), pool[3])
    vb = panel.zoom_plot.getViewBox()
    panel._on_mouse_moved(vb.mapViewToScene(QtCore.QPointF(2.5, 1.5)))  # col 2, row 1
    assert panel.hover.text() == f"2.MaxPool2D, channel 3, (1, 2) = {pool[3, 1, 2]:+.4g}"

    # the mosaic under the mouse: tile 1 of the chosen layer
    conv = dict(snap.maps)["0.Conv2D"]
    tile = panel._maps.mosaic.tiles[1]
    centre = QtCore.QPointF(tile.x + (4 + 0.5) * tile.factor, tile.y + (5 + 0.5) * tile.factor)
    hit = panel._map_hit(panel.map_plot.getViewBox().mapViewToScene(centre))
    assert hit == ("0.Conv2D", 1, 5, 4, pytest.approx(float(conv[1, 5, 4])))

    mouse_click(panel.graphics, panel.map_plot.getViewBox().mapViewToScene(centre))
    assert panel.enlarged() == ("0.Conv2D", 1)
    np.testing.assert_array_equal(panel.enlarged_image(), conv[1])

    with pytest.raises(IndexError):
        panel.enlarge("0.Conv2D", 4)


def test_activation_mosaic_wraps_a_vector_and_finds_each_value():
    rng = np.random.default_rng(9)
    snap = make_activations(rng)
    layers = pick_layers(snap.maps, "3.Flatten")
    maps = layer_mosaic(layers, per_map=False, view_size=(300, 100))
    flat = dict(snap.maps)["3.Flatten"]
    assert maps.scale == pytest.approx(np.abs(flat).max())
    np.testing.assert_array_equal(maps.tiles()["3.Flatten"][0], flat[None, :])
    tile = maps.mosaic.tiles[0]
    assert tile.w * tile.h >= flat.size and tile.w > tile.h  # a strip, wider than tall
    for unit in (0, 17, flat.size - 1):
        r, c = divmod(unit, tile.w)
        x, y = tile.x + (c + 0.5) * tile.factor, tile.y + (r + 0.5) * tile.factor
        assert maps.value_at(x, y) == ("3.Flatten", 0, 0, unit, pytest.approx(flat[unit]))
    assert [n for n, _ in pick_layers(snap.maps, ALL_LAYERS)] == ["0.Conv2D", "2.MaxPool2D"]
    both = layer_mosaic(pick_layers(snap.maps, ALL_LAYERS), per_map=False, view_size=(300, 200))
    assert both.scale == 1 and len(both.mosaic.block_tops) == 2


# -- architecture ----------------------------------------------------------------------------


def test_architecture_shows_why_a_spec_is_impossible(qtbot):
    panel = show(qtbot, ArchitecturePanel())
    assert panel.is_valid() and panel.summary.rowCount() > 1
    with qtbot.waitSignal(panel.sigSpecChanged, timeout=1000):
        panel.table.item(0, 2).setText("x")  # the first layer's kernel size
    assert not panel.is_valid() and "kernel_size must be a whole number" in panel.error_text()
    assert panel.error.isVisibleTo(panel) and panel.summary.rowCount() == 0
    panel.set_layer(0, kernel_size=3)
    assert panel.is_valid() and not panel.error.isVisibleTo(panel)
    assert panel.summary.rowCount() > 1 and panel.totals.text().startswith("Total: ")


def test_architecture_summary_names_the_convolution_algorithm(qtbot):
    panel = show(qtbot, ArchitecturePanel())
    panel.set_spec(preset("cnn-bn"), "cnn-bn")
    names = [panel.summary.item(r, 0).text() for r in range(panel.summary.rowCount())]
    assert "0.Conv2D" in names and "4.Conv2D (W)" in names
    item = panel.summary.item(names.index("4.Conv2D (W)"), 0)
    assert "F(2x2, 3x3)" in item.toolTip()
    assert "im2col" in panel.summary.item(names.index("0.Conv2D"), 0).toolTip()


def test_architecture_follows_the_loaded_data(qtbot):
    panel = show(qtbot, ArchitecturePanel())
    panel.set_spec(preset("cnn-bn"), "cnn-bn")
    panel.set_data((3, 32, 32), 5)  # CIFAR-like colour images in 5 classes
    assert panel.is_valid() and panel.arch_name() == "cnn-bn"
    assert "input 3×32×32, 5 classes" in panel.caption.text()
    rows = [panel.summary.item(r, 1).text() for r in range(panel.summary.rowCount())]
    assert rows[0] == "3×32×32" and rows[1] == "32×32×32" and rows[-1] == "5"
    panel.preset.setCurrentText("lenet5")  # a preset chosen now fits the data too
    assert panel.is_valid() and panel.spec()[-1]["out_features"] == 5
    assert panel.config_fields() == {"arch": "lenet5", "spec": None}


# -- confusion matrix ------------------------------------------------------------------------


def test_confusion_texts_sum_to_the_evaluated_count(qtbot):
    rng = np.random.default_rng(3)
    panel = show(qtbot, ConfusionPanel())
    assert fits_small_dock(panel)
    ev = make_evaluation(rng)
    images = rng.integers(0, 256, (len(ev.labels), 28, 28), dtype=np.uint8)
    panel.set_evaluation(ev, images, NAMES)
    texts = panel.cell_texts()
    counts = np.array([[int(t) if t else 0 for t in row] for row in texts])
    np.testing.assert_array_equal(counts, ev.confusion)
    assert counts.sum() == len(ev.labels)
    assert f"{ev.accuracy:.1%}" in panel.title.text()
    right = panel.plot.getAxis("right")._tickLevels[0]
    assert right[2][1] == f"{ev.confusion[2, 2] / ev.confusion[2].sum():.0%}"

    panel.scale_combo.setCurrentText("row %")
    row = [float(t) if t else 0.0 for t in panel.cell_texts()[4]]
    assert sum(row) == pytest.approx(100, abs=1.0)


def test_confusion_cell_lists_exactly_its_digits_and_emits_the_chosen_one(qtbot):
    rng = np.random.default_rng(4)
    panel = show(qtbot, ConfusionPanel(), size=(700, 500))
    ev = make_evaluation(rng, n=3000)
    images = rng.integers(0, 256, (len(ev.labels), 28, 28), dtype=np.uint8)
    panel.set_evaluation(ev, images, NAMES)

    vb = panel.plot.getViewBox()
    mouse_click(panel.graphics, vb.mapViewToScene(QtCore.QPointF(5.1, 3.2)))  # row 3, col 5
    assert panel.selected_cell() == (3, 5)
    want = np.flatnonzero((ev.labels == 3) & (ev.predictions == 5))
    got = panel.gallery_indices()
    assert sorted(got) == want.tolist()
    conf = ev.probs[got, 5]
    assert (np.diff(conf) <= 0).all()  # errors: most confident first
    assert panel.gallery_box.isVisible()

    panel.select_cell(2, 2)  # a big diagonal cell: pages of PAGE_SIZE
    want = np.flatnonzero((ev.labels == 2) & (ev.predictions == 2))
    got = panel.gallery_indices()
    assert len(want) > PAGE_SIZE and sorted(got) == want.tolist()
    assert panel.page() == (0, math.ceil(len(want) / PAGE_SIZE))
    g = panel.gallery
    assert g.count() == PAGE_SIZE and g.labels()[0] == f"#{got[0]}\n{ev.probs[got[0], 2]:.0%}"
    x, y = g.cell_origin(0)
    np.testing.assert_array_equal(g.image_items[0].image[y : y + 28, x : x + 28], images[got[0]])

    with qtbot.waitSignal(panel.sigDigitChosen, timeout=1000) as blocker:
        panel.choose_gallery_item(PAGE_SIZE + 1)
    assert blocker.args == [got[PAGE_SIZE + 1]]
    assert panel.page()[0] == 1

    # a click on the second thumbnail of the first page emits its index too
    panel.set_page(0)
    x, y = g.cell_origin(1)
    pos = g.vb.mapViewToScene(QtCore.QPointF(x + 10, y + 10))
    assert g.position_at(pos) == 1
    with qtbot.waitSignal(panel.sigDigitChosen, timeout=1000) as blocker:
        mouse_click(g.view, pos)
    assert blocker.args == [got[1]]
    _mouse(g.view, QtCore.QEvent.Type.MouseMove, g.vb.mapViewToScene(QtCore.QPointF(x, y + 40)),
           QtCore.Qt.MouseButton.NoButton)  # over the label of the second thumbnail
    p = ev.probs[got[1], 2]
    assert panel.status.text() == f"#{got[1]}: true 2, predicted 2 ({p:.0%}) · click to inspect"

    # a newer evaluation refreshes the open cell
    ev2 = make_evaluation(np.random.default_rng(5), n=3000)
    panel.set_evaluation(ev2, images, NAMES)
    want = np.flatnonzero((ev2.labels == 2) & (ev2.predictions == 2))
    assert sorted(panel.gallery_indices()) == want.tolist()

    with qtbot.waitSignal(panel.sigRefreshRequested, timeout=1000):
        qtbot.mouseClick(panel.refresh_button, QtCore.Qt.MouseButton.LeftButton)


# -- digits ----------------------------------------------------------------------------------


def test_drawing_a_stroke_emits_the_preprocessed_digit(qtbot):
    rng = np.random.default_rng(6)
    panel = show(qtbot, DigitsPanel())
    assert fits_small_dock(panel)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    panel.set_test_set(images, rng.integers(0, 10, 50), NAMES)

    with qtbot.waitSignal(panel.sigDigitChosen, timeout=1000) as blocker:
        panel.draw_stroke([(140, 50), (140, 150), (140, 230)])
    first = blocker.args[0]
    assert isinstance(first, np.ndarray) and first.shape == (28, 28)
    assert first.dtype == np.float32 and first.min() >= 0 and first.max() == pytest.approx(1)
    assert panel.canvas()[140, 140] == 1 and panel.canvas()[140, 10] == 0
    np.testing.assert_array_equal(panel.network_input(), first)

    with qtbot.waitSignal(panel.sigDigitChosen, timeout=1000) as blocker:
        panel.draw_stroke([(60, 140), (220, 140)])  # a cross now
    second = blocker.args[0]
    assert second.shape == (28, 28) and not np.array_equal(first, second)

    panel.clear_drawing()
    assert panel.canvas().max() == 0 and panel.network_input().max() == 0

    # a real mouse drag: pyqtgraph drag events on the pad's ImageItem, once the layout has
    # settled (the titles changed with the drawings: the pad's view may have moved)
    QtCore.QCoreApplication.processEvents()
    got = []
    panel.sigDigitChosen.connect(got.append)
    points = [panel.pad_image.mapToScene(QtCore.QPointF(140, y)) for y in range(40, 241, 10)]
    mouse_drag(qtbot, panel.graphics, points)
    canvas = panel.canvas()
    assert canvas[40:240:20, 140].min() == 1 and canvas[140, 20] == 0
    assert got and all(isinstance(g, np.ndarray) and g.shape == (28, 28) for g in got)
    np.testing.assert_array_equal(got[-1], panel.network_input())


class FakeClockTimer:
    """Stands in for a single-shot QTimer on a fake clock: advance(ms) moves the clock and
    calls `fire` when the timer is due (no real time passes)."""

    def __init__(self, interval_ms, fire):
        self.now, self.interval, self.due, self.fire = 0, interval_ms, None, fire

    def isActive(self):
        return self.due is not None

    def start(self):
        self.due = self.now + self.interval

    def stop(self):
        self.due = None

    def advance(self, ms):
        self.now += ms
        if self.due is not None and self.now >= self.due:
            self.due = None
            self.fire()


def test_drawings_go_out_at_most_20_times_a_second_while_the_mouse_moves(qtbot, monkeypatch):
    panel = show(qtbot, DigitsPanel())
    panel.set_test_set(np.zeros((5, 28, 28), np.uint8), np.arange(5), NAMES)
    pad = panel.pad_image
    assert EMIT_INTERVAL_MS == pad._emit_timer.interval() == 50  # 20 a second at most
    clock = FakeClockTimer(pad._emit_timer.interval(), pad._emit)
    monkeypatch.setattr(pad, "_emit_timer", clock)
    sent = []
    panel.sigDigitChosen.connect(lambda x: sent.append(clock.now))
    # one second of drawing, the mouse moving every 4 ms (250 moves)
    pad.stroke_begin((40.0, 40.0))
    for t in range(1, 251):
        clock.advance(4)
        pad.stroke_to((40.0 + 0.8 * t, 40.0 + 0.6 * t))
    assert clock.now == 1000
    assert 15 <= len(sent) <= 1000 // EMIT_INTERVAL_MS, sent  # sent while drawing, <= 20/s
    assert min(np.diff(sent)) >= EMIT_INTERVAL_MS
    during = len(sent)
    pad.stroke_end()  # releasing the mouse sends the finished drawing at once
    assert len(sent) == during + 1 and sent[-1] == 1000
    np.testing.assert_array_equal(panel.network_input(), preprocess_drawing(pad.canvas))
    clock.advance(1000)
    assert sent[-1] == 1000  # nothing pending once the stroke ended


def test_browsing_the_test_set_emits_indices(qtbot):
    rng = np.random.default_rng(7)
    panel = show(qtbot, DigitsPanel())
    n = 200
    labels = rng.integers(0, 10, n)
    panel.set_test_set(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), labels, NAMES)
    assert not panel.wrong_button.isEnabled()

    with qtbot.waitSignal(panel.sigDigitChosen, timeout=1000) as blocker:
        panel.choose_index(5)
    assert blocker.args == [5] and panel.current_index() == 5

    with qtbot.waitSignal(panel.sigDigitChosen, timeout=1000):
        panel.index_spin.setValue(9)
    assert panel.current_index() == 9

    panel.class_combo.setCurrentText("3")  # the filter moves to a 3
    assert labels[panel.current_index()] == 3
    for _ in range(5):
        qtbot.mouseClick(panel.random_button, QtCore.Qt.MouseButton.LeftButton)
        assert labels[panel.current_index()] == 3

    preds = labels.copy()
    wrong = np.flatnonzero(labels == 3)[[1, 3]]
    preds[wrong] = (labels[wrong] + 1) % 10
    preds[labels == 4] = 5  # misclassified, but not of class 3
    panel.set_predictions(preds)
    assert panel.wrong_button.isEnabled()
    panel.choose_index(0)
    seen = []
    for _ in range(3):
        with qtbot.waitSignal(panel.sigDigitChosen, timeout=1000) as blocker:
            qtbot.mouseClick(panel.wrong_button, QtCore.Qt.MouseButton.LeftButton)
        seen.append(blocker.args[0])
    assert seen == [wrong[0], wrong[1], wrong[0]]

    probs = np.full(10, 0.01)
    probs[3] = 0.91
    panel.set_prediction(probs)
    text = panel.prediction.text()
    assert "predicted" in text and ">3<" in text and "(91%)" in text and "true 3" in text


# -- with a real (tiny) session --------------------------------------------------------------


def _session(dataset, **cfg):
    from cnnviz.training import TrainConfig, TrainingSession

    return TrainingSession(TrainConfig(**cfg), dataset)


def feed(qtbot, session, size=(500, 400)):
    """Every panel, fed from the session's own events as the main window would."""
    ds = session.dataset
    test_images = session.test_images
    ev = session.evaluate("test")
    fil = session.filters()
    act = session.activations(1)
    panels = {
        "filters": show(qtbot, FiltersPanel(), size),
        "activations": show(qtbot, ActivationsPanel(), size),
        "confusion": show(qtbot, ConfusionPanel(), size),
        "digits": show(qtbot, DigitsPanel(), size),
    }
    panels["filters"].set_filters(fil)
    panels["activations"].set_activations(act, ds.class_names)
    panels["confusion"].set_evaluation(ev, test_images, ds.class_names)
    d = panels["digits"]
    d.set_test_set(test_images, session.splits["test"][1], ds.class_names)
    d.set_predictions(ev.predictions)
    d.choose_index(1)
    d.set_prediction(act.probs)
    return panels, ev, fil, act


def test_panels_take_a_real_sessions_events(qtbot):
    from cnnviz.data.synthetic import synthetic_dataset

    spec = [
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 10},
    ]
    s = _session(synthetic_dataset(64, 40), spec=spec, batch_size=16, val_size=0)
    s.step()
    panels, ev, fil, act = feed(qtbot, s)
    tiles = panels["activations"].map_tiles()["0.Conv2D"]
    assert len(tiles) == 4 and tiles[0].shape == (28, 28)
    assert len(panels["filters"].filter_tiles()) == 4
    texts = panels["confusion"].cell_texts()
    assert sum(int(t) for row in texts for t in row if t) == 40


@pytest.mark.mnist
@pytest.mark.skipif(not os.environ.get("CNNVIZ_DATA"), reason="CNNVIZ_DATA is not set")
def test_render_panels_with_real_mnist(qtbot, tmp_path):
    """50 training steps on real MNIST, then every panel rendered to a PNG at 500x400 (into
    CNNVIZ_PANEL_PNG_DIR when set, to look at)."""
    from cnnviz.data.sources import load_dataset

    out = Path(os.environ.get("CNNVIZ_PANEL_PNG_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    s = _session(load_dataset(os.environ["CNNVIZ_DATA"]), val_size=0, limit_train=3200,
                 limit_test=2000)
    for _ in range(50):
        s.step()
    panels, ev, fil, act = feed(qtbot, s)
    panels["activations"].enlarge("0.Conv2D", 3)
    cm = ev.confusion.copy()
    np.fill_diagonal(cm, -1)
    panels["confusion"].select_cell(*np.unravel_index(cm.argmax(), cm.shape))
    panels["digits"].draw_stroke([(140 + 60 * math.cos(t), 140 + 90 * math.sin(t))
                                  for t in np.linspace(0, 2 * math.pi, 40)])
    for name, panel in panels.items():
        QtCore.QCoreApplication.processEvents()
        path = out / f"panel_{name}.png"
        assert panel.grab().save(str(path))
        img = QtGui.QImage(str(path))
        assert (img.width(), img.height()) == (500, 400)
        colours = {img.pixel(x, y) for x in range(0, 500, 7) for y in range(0, 400, 7)}
        assert len(colours) > 20, f"{name} looks blank"
    assert CANVAS == 280


def test_curves_show_a_constant_learning_rate_from_zero_not_in_a_band_around_it(qtbot):
    panel = show(qtbot, CurvesPanel())
    panel.append_steps([(i, 1.0 / i, 0.5, 0.005) for i in range(1, 21)])
    panel.flush()
    low, high = panel.lr_plot.viewRange()[1]
    assert low == 0 and 0.005 < high <= 0.01
    panel.log_scale.setChecked(True)
    low, high = panel.lr_plot.viewRange()[1]
    assert low == pytest.approx(np.log10(0.005) - 1) and high == pytest.approx(np.log10(0.005) + 1)
    panel.log_scale.setChecked(False)
    panel.append_steps([(21, 0.04, 0.5, 0.001)])  # the rate changes: automatic range again
    panel.flush()
    assert panel.lr_plot.getViewBox().autoRangeEnabled()[1]
