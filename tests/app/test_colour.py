"""Colour data in the app: inputs drawn in colour and turned back into pixels with the
session's own norm, the RGB view of first-layer kernels, and the drawing pad only for
28x28 grey digits."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from cnnviz.app.panels.activations import ActivationsPanel
from cnnviz.app.panels.attribution import AttributionPanel
from cnnviz.app.panels.confusion import ConfusionPanel
from cnnviz.app.panels.digits import DigitsPanel
from cnnviz.app.panels.filters import MEAN, RGB, FiltersPanel
from cnnviz.app.panels.top_digits import TopDigitsPanel
from cnnviz.app.panels.training_batch import TrainingBatchPanel, batch_thumbnails
from cnnviz.app.state import AppState
from cnnviz.training.events import (
    ActivationSnapshot,
    Attribution,
    Evaluation,
    FilterSnapshot,
    TopActivations,
    TrainingBatch,
)
from tests.app.test_panels import show

#: Not MNIST's: a panel that used MNIST's constants would draw other pixels.
NORM = ((0.5, 0.4, 0.3), (0.2, 0.25, 0.1))
NAMES = tuple("abcde")


def pixels(x):
    """(H, W, 3) normalised -> [0, 1] pixels with NORM, by hand."""
    return np.clip(x * np.array(NORM[1]) + np.array(NORM[0]), 0, 1)


def colour_input(rng, h=8, w=8):
    return rng.normal(size=(h, w, 3)).astype(np.float32)


def test_activations_show_a_colour_input_denormalised_with_the_sessions_norm(qtbot):
    rng = np.random.default_rng(0)
    panel = show(qtbot, ActivationsPanel())
    image = colour_input(rng)
    snap = ActivationSnapshot(3, image, [("0.Conv2D", rng.normal(size=(4, 8, 8)))],
                              np.full(5, 0.2, np.float32), label=1)
    panel.set_activations(snap, NAMES, NORM)
    shown = panel.input_shown()
    assert shown.shape == (8, 8, 3)
    np.testing.assert_allclose(shown, pixels(image), rtol=1e-5, atol=1e-6)
    assert tuple(panel.input_image.getLevels()) == (0, 1)


def test_activations_take_the_norm_of_the_app_states_session(qtbot):
    rng = np.random.default_rng(1)
    state = AppState()
    state.info = type("Info", (), {"norm": NORM})()  # only the norm is read here
    panel = show(qtbot, ActivationsPanel(state=state))
    image = colour_input(rng)
    panel.set_activations(ActivationSnapshot(3, image, [], np.full(5, 0.2)), NAMES)
    np.testing.assert_allclose(panel.input_shown(), pixels(image), rtol=1e-5, atol=1e-6)


def test_where_it_looks_draws_its_maps_over_the_colour_picture(qtbot):
    rng = np.random.default_rng(2)
    panel = show(qtbot, AttributionPanel())
    panel.set_layers(["0.Conv2D"])
    image = colour_input(rng, 10, 10)
    maps = [rng.random((10, 10), np.float32) for _ in range(3)]
    ev = Attribution(7, image, 2, "0.Conv2D", *maps, np.full(5, 0.2, np.float32), 2)
    panel.set_attribution(ev, NAMES, NORM)
    shown = panel.image_shown()
    assert shown.shape == (10, 10, 3)
    np.testing.assert_allclose(shown, pixels(image), rtol=1e-5, atol=1e-6)
    for key in ("saliency", "grad_cam", "occlusion"):
        assert panel.overlays[key].image.shape == (10, 10)


def test_training_batch_denormalises_colour_with_the_given_norm(qtbot):
    rng = np.random.default_rng(3)
    images = rng.normal(size=(4, 3, 8, 8)).astype(np.float32)
    thumbs = batch_thumbnails(images, NORM)
    assert thumbs.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(thumbs, pixels(images.transpose(0, 2, 3, 1)), rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(thumbs, batch_thumbnails(images))  # MNIST's constants differ
    panel = show(qtbot, TrainingBatchPanel())
    panel.set_batch(TrainingBatch(9, images, np.arange(4), 0.0), NAMES, NORM)
    assert panel.count() == 4 and panel.labels() == list("abcd")
    mosaic = panel.gallery.image_items[0].image
    assert mosaic.ndim == 3 and mosaic.shape[2] == 3
    x, y = panel.gallery.cell_origin(1)
    np.testing.assert_allclose(mosaic[y : y + 8, x : x + 8], thumbs[1], rtol=1e-6)


def make_kernels(rng):
    return FilterSnapshot(1, {"0.Conv2D": rng.normal(size=(6, 3, 5, 5)).astype(np.float32),
                              "3.Conv2D": rng.normal(size=(4, 6, 3, 3)).astype(np.float32)})


def test_filters_show_first_layer_kernels_as_rgb_pictures_by_default(qtbot):
    rng = np.random.default_rng(4)
    panel = show(qtbot, FiltersPanel())
    snap = make_kernels(rng)
    panel.set_filters(snap)
    w = snap.filters["0.Conv2D"]
    assert panel.current_layer() == "0.Conv2D" and panel.input_view() == RGB
    tiles = panel.filter_tiles()
    assert len(tiles) == 6 and all(t.shape == (5, 5, 3) for t in tiles)
    m = np.abs(w).max()  # one symmetric scale for the layer: 0 -> grey, +-m -> 0 or 1
    for t, k in zip(tiles, w):
        np.testing.assert_allclose(t, 0.5 + k.transpose(1, 2, 0) / (2 * m), rtol=1e-5)
    assert min(t.min() for t in tiles) == pytest.approx(0, abs=1e-6) or \
        max(t.max() for t in tiles) == pytest.approx(1)
    assert panel.image.image.ndim == 3 and panel.image.image.shape[2] == 3
    assert not panel.colorbar.isVisible()
    assert [panel.input_combo.itemData(i) for i in range(panel.input_combo.count())] == \
        [RGB, MEAN, 0, 1, 2]

    panel.set_input_channel(None)  # the mean view still works
    assert all(t.shape == (5, 5) for t in panel.filter_tiles())
    assert panel.image.image.ndim == 2 and panel.colorbar.isVisible()
    panel.set_input_channel(RGB)
    assert panel.filter_tiles()[0].shape == (5, 5, 3)

    panel.set_layer("3.Conv2D")  # 6 input channels: no RGB view
    assert panel.input_view() == MEAN
    assert panel.input_combo.findData(RGB) < 0
    with pytest.raises(KeyError):
        panel.set_input_channel(RGB)


def test_grey_kernels_have_no_rgb_view(qtbot):
    rng = np.random.default_rng(5)
    panel = show(qtbot, FiltersPanel())
    panel.set_filters(FilterSnapshot(1, {"0.Conv2D": rng.normal(size=(4, 1, 5, 5))}))
    assert panel.input_view() == MEAN
    assert all(t.shape == (5, 5) for t in panel.filter_tiles())


def test_drawing_pad_is_off_for_colour_data_with_the_reason(qtbot):
    rng = np.random.default_rng(6)
    panel = show(qtbot, DigitsPanel())
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    panel.set_test_set(images, np.arange(5), NAMES)
    reason = "drawing is for 28x28 grey digits; this data set has 32x32 colour images"
    assert not panel.drawing_allowed()
    assert panel.drawing_reason() == reason
    assert reason in panel.hint.text().lower() and reason in panel.pad_plot.toolTip().lower()
    assert not panel.clear_button.isEnabled() and not panel.brush_spin.isEnabled()
    with qtbot.assertNotEmitted(panel.sigDigitChosen):
        panel.draw_stroke([(100, 100), (180, 180)])
    assert panel.canvas().max() == 0
    shown = panel.test_image.image  # the test picture in colour
    assert shown.shape == (32, 32, 3)
    np.testing.assert_array_equal(shown, images[0])

    panel.set_test_set(rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.arange(5), NAMES)
    assert panel.drawing_allowed() and panel.drawing_reason() == ""
    assert panel.clear_button.isEnabled()
    with qtbot.waitSignal(panel.sigDigitChosen):
        panel.draw_stroke([(100, 100), (180, 180)])


def test_drawing_pad_is_off_for_grey_data_of_another_size(qtbot):
    panel = show(qtbot, DigitsPanel())
    panel.set_test_set(np.zeros((3, 32, 32), np.uint8), np.arange(3), NAMES)
    assert not panel.drawing_allowed()
    assert panel.drawing_reason().endswith("has 32x32 grey images")


def test_confusion_and_top_digits_galleries_show_colour_thumbnails(qtbot):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(20) % 5
    preds = labels.copy()
    preds[:4] = (labels[:4] + 1) % 5
    cm = np.zeros((5, 5), np.int64)
    np.add.at(cm, (labels, preds), 1)
    probs = np.full((20, 5), 0.2, np.float32)
    ev = Evaluation("test", 5, 1.0, 0.8, cm, preds, labels, probs)
    panel = show(qtbot, ConfusionPanel())
    panel.set_evaluation(ev, images, NAMES)
    panel.select_cell(0, 1)
    assert panel.gallery.cell.side == 32
    mosaic = panel.gallery.image_items[0].image
    assert mosaic.ndim == 3 and mosaic.shape[2] == 3
    x, y = panel.gallery.cell_origin(0)
    np.testing.assert_array_equal(mosaic[y : y + 32, x : x + 32], images[0])

    top = show(qtbot, TopDigitsPanel())
    top.set_layers(["0.Conv2D"])
    top.set_test_images(images)
    top.set_top(TopActivations(5, "0.Conv2D", np.array([[3, 7]]), np.ones((1, 2), np.float32),
                               rng.normal(size=(1, 2, 4, 4)).astype(np.float32), 0.1))
    QtCore.QCoreApplication.processEvents()
    digits, maps = (item.image for item in top.gallery.image_items)
    assert digits.ndim == 3 and digits.shape[2] == 3 and maps.ndim == 2
    x, y = top.gallery.cell_origin(1)
    np.testing.assert_array_equal(digits[y : y + 32, x : x + 32], images[7])
