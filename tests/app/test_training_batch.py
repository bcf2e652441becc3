"""Augmentation in the app: the Controls' live Augmentation setting, and the Training batch dock
that shows the images the network receives; pytest-qt on the offscreen platform."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from cnnviz.app.docks import DOCKS
from cnnviz.app.panels.controls import ControlsPanel, augment_text
from cnnviz.app.panels.training_batch import PLACEHOLDER, TrainingBatchPanel
from cnnviz.data.augment import AUGMENT_LEVELS
from cnnviz.data.loader import MNIST_MEAN, MNIST_STD, normalize
from cnnviz.training.config import TrainConfig
from cnnviz.training.events import TrainingBatch
from tests.app.test_inspection_panels import show
from tests.app.test_inspection_wiring import step_window

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


def make_batch(step=1240, augment=0.5, channels=1, side=28, seed=0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (8, side, side), dtype=np.uint8)
    images = normalize(pixels)  # (8, 1, side, side) as the network receives them
    if channels == 3:
        images = np.concatenate([images, -images, images * 0.5], axis=1)
    labels = np.array([9, 0, 3, 3, 7, 1, 5, 8])
    return TrainingBatch(step, images.astype(np.float32), labels, augment), pixels


# -- the panel ------------------------------------------------------------------------------


def test_the_panel_says_how_to_fill_it_before_the_first_step(qtbot):
    panel = show(qtbot, TrainingBatchPanel(), size=(520, 300))
    assert panel.showing_placeholder() and panel.placeholder.isVisible()
    assert panel.placeholder.text() == PLACEHOLDER
    assert "Start or Step" in PLACEHOLDER
    assert panel.count() == 0 and panel.labels() == []
    assert not panel.title.isVisible()


def test_a_batch_shows_its_eight_images_with_their_class_names(qtbot):
    panel = show(qtbot, TrainingBatchPanel(), size=(520, 300))
    ev, pixels = make_batch()
    panel.set_batch(ev, FASHION)
    QtWidgets.QApplication.processEvents()
    assert not panel.showing_placeholder() and panel.gallery.isVisible()
    assert panel.count() == 8
    assert panel.labels() == [FASHION[k] for k in ev.labels]
    assert panel.title.isVisible()
    assert panel.title.text() == "Training batch at step 1,240 (augmentation: light, 0.5)"
    mosaic = panel.gallery.image_items[0].image
    for i in range(8):  # the pixels themselves, back from the network's normalisation
        x, y = panel.gallery.cell_origin(i)
        np.testing.assert_allclose(mosaic[y : y + 28, x : x + 28], pixels[i] / 255, atol=1e-5)
    assert panel.gallery.image_items[0].getLevels() == pytest.approx((0, 1))

    panel.set_batch(make_batch(step=1300, augment=0.8)[0], FASHION)  # a value between levels
    assert panel.title.text() == "Training batch at step 1,300 (augmentation: 0.8)"
    panel.set_batch(make_batch(step=5, augment=0.0)[0], FASHION)
    assert panel.title.text() == "Training batch at step 5 (augmentation: off)"
    panel.clear()  # a new session
    assert panel.showing_placeholder() and panel.count() == 0


def test_a_wide_panel_shows_one_row_and_a_narrow_one_a_grid(qtbot):
    panel = show(qtbot, TrainingBatchPanel(), size=(900, 170))
    panel.set_batch(make_batch()[0], tuple("0123456789"))
    QtWidgets.QApplication.processEvents()
    assert panel.gallery.cell_origin(7)[1] == 0  # all eight on the first row
    panel.resize(300, 500)
    QtWidgets.QApplication.processEvents()
    assert panel.gallery.cell_origin(7)[1] > 0


def test_three_channels_show_in_colour(qtbot):
    panel = show(qtbot, TrainingBatchPanel(), size=(520, 300))
    ev, _ = make_batch(channels=3, side=32, augment=1.5)
    panel.set_batch(ev, tuple(f"class {k}" for k in range(10)))
    mosaic = panel.gallery.image_items[0].image
    assert mosaic.ndim == 3 and mosaic.shape[2] == 3
    x, y = panel.gallery.cell_origin(2)
    expected = np.clip(ev.images[2].transpose(1, 2, 0) * MNIST_STD + MNIST_MEAN, 0, 1)
    np.testing.assert_allclose(mosaic[y : y + 32, x : x + 32], expected, atol=1e-5)
    assert panel.labels()[2] == "class 3"
    assert "(augmentation: strong, 1.5)" in panel.title.text()


# -- the Augmentation control ---------------------------------------------------------------


def test_the_augmentation_control_offers_the_levels_and_shows_other_values(qtbot):
    controls = show(qtbot, ControlsPanel(), size=(340, 700))
    combo = controls.augment
    assert [combo.itemData(i) for i in range(combo.count())] == list(AUGMENT_LEVELS.values())
    assert combo.currentData() == TrainConfig().augment
    tip = combo.toolTip()
    for words in ("2 px", "10°", "10 %", "strength", "resumes exactly",
                  "Applies at the next step"):
        assert words in tip, words
    live = []
    controls.sigLiveChanged.connect(lambda *args: live.append(args))
    controls.set_config(TrainConfig(augment=0.8))  # e.g. from a checkpoint: emits nothing
    assert combo.currentText() == "custom (0.8)" and controls.config().augment == 0.8
    assert live == []
    combo.setCurrentIndex(list(AUGMENT_LEVELS).index("strong"))  # as the user would
    assert controls.config().augment == 1.5 and live[-1][2] == 1.5
    controls.set_augment(0.25)
    assert combo.currentText() == "custom (0.25)" and live[-1][2] == 0.25
    assert combo.count() == len(AUGMENT_LEVELS) + 1  # one custom entry, reused
    assert controls.pending.text() == ""  # live: nothing waits for Reset
    assert augment_text(1.0) == "normal, 1.0"


# -- in the window --------------------------------------------------------------------------


def test_the_training_batch_dock_is_in_the_view_menu_behind_the_digits(window):
    assert [row.key for row in DOCKS].count("training_batch") == 1
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    view = {a.text(): a for a in menus["&View"].actions()}
    assert view["Training batch"] is window.docks["training_batch"].toggleViewAction()
    assert window.docks["training_batch"] in window.tabifiedDockWidgets(window.docks["digits"])
    assert window.docks["digits"].widget().isVisible()  # the digits stay in front
    assert window.act["export_training_batch"].text() == "Training batch panel as PNG…"


def test_augmentation_applies_at_the_next_step_and_the_dock_shows_the_batch(qtbot, window):
    panel, controls = window.panels["training_batch"], window.panels["controls"]
    window.docks["training_batch"].raise_()
    qtbot.waitUntil(lambda: "training_batch" in window.state.visible, timeout=5000)
    assert panel.showing_placeholder() and panel.count() == 0  # no step yet
    session = window.controller.worker.driver.session
    assert session.config.augment == 0.5

    batches = []
    window.controller.sigUpdates.connect(
        lambda up: batches.append(up.batch) if up.batch is not None else None)
    step_window(qtbot, window, 1)
    qtbot.waitUntil(lambda: batches and batches[-1].step == 1, timeout=10000)
    window.flush_panels()
    assert panel.count() == 8
    assert panel.labels() == [window.state.class_names[k] for k in batches[-1].labels]
    assert panel.title.text() == "Training batch at step 1 (augmentation: light, 0.5)"

    with qtbot.waitSignal(window.controller.sigApplied, timeout=10000) as applied:
        controls.augment.setCurrentIndex(list(AUGMENT_LEVELS).index("strong"))
    assert applied.args[0].augment == 1.5 and window.controller.config.augment == 1.5
    step_window(qtbot, window, 1)
    assert session.config.augment == 1.5  # the run's session took it
    qtbot.waitUntil(lambda: batches[-1].step == 2, timeout=10000)
    assert batches[-1].augment == 1.5
    window.flush_panels()
    assert panel.title.text() == "Training batch at step 2 (augmentation: strong, 1.5)"

    with qtbot.waitSignal(window.controller.sigSessionReady, timeout=15000):
        window.act["reset"].trigger()  # a new session: back to the placeholder
    assert panel.showing_placeholder()
    new = window.controller.worker.driver.session
    assert new is not session and new.config.augment == 1.5  # Reset keeps the setting
