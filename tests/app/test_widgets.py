"""The shared widgets of the panels: the thumbnail gallery, the control-row builder and the
drawing pad; pytest-qt on the offscreen platform."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from cnnviz.app.panels.colormaps import diverging, greys
from cnnviz.app.widgets.coalescer import Coalescer
from cnnviz.app.widgets.drawing_pad import DrawingPad
from cnnviz.app.widgets.forms import STRETCH, control_row
from cnnviz.app.widgets.gallery import CellShape, Gallery
from tests.app.test_inspection_panels import mouse_click, mouse_move, show


def thumbs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def at(gallery: Gallery, position: int, dx: float = 10, dy: float = 10) -> QtCore.QPointF:
    """A scene point inside a cell's first thumbnail."""
    x, y = gallery.cell_origin(position)
    return gallery.vb.mapViewToScene(QtCore.QPointF(x + dx, y + dy))


def test_gallery_draws_each_thumbnail_with_its_label(qtbot):
    g = show(qtbot, Gallery(), size=(300, 200))
    images = thumbs(23)
    labels = [f"#{i}\n{i}%" for i in range(23)]
    g.set_items(images, labels)
    assert g.count() == 23 and g.labels() == labels
    mosaic = g.image_items[0].image
    for i in (0, 7, 22):
        x, y = g.cell_origin(i)
        np.testing.assert_array_equal(mosaic[y : y + 28, x : x + 28], images[i])
    assert np.isnan(mosaic).any()  # gaps and label bands show the background
    assert g.image_items[0].getLevels() == pytest.approx((0, 255))

    g.set_items(images[:3], labels[:3])  # fewer items hide the other labels
    assert g.labels() == labels[:3]


def test_gallery_columns_follow_the_width_and_the_rest_scrolls(qtbot):
    g = show(qtbot, Gallery(min_px=44), size=(300, 150))
    g.set_items(thumbs(40), [str(i) for i in range(40)])
    cols = g.viewport().width() // 44
    assert g.cell_origin(cols) == (g.cell_origin(0)[0], g.cell.size[1])  # the next row
    assert g.view.height() > g.viewport().height()  # too tall: it scrolls
    g.resize(500, 150)
    QtWidgets.QApplication.processEvents()
    assert g.cell_origin(g.viewport().width() // 44)[1] == g.cell.size[1]


def test_gallery_click_emits_the_position_and_hover_reports_it(qtbot):
    g = show(qtbot, Gallery(), size=(300, 200))
    g.set_items(thumbs(12), [str(i) for i in range(12)])
    for i in (0, 5, 11):
        with qtbot.waitSignal(g.sigChosen, timeout=1000) as blocker:
            mouse_click(g.view, at(g, i))
        assert blocker.args == [i]
    hovered = []
    g.sigHovered.connect(hovered.append)
    mouse_move(g.view, at(g, 3, dy=35))  # the label band belongs to the cell
    assert hovered == [3]
    assert g.position_at(at(g, 11, dx=80)) is None  # right of the last cell: nothing

    xs, _ = g.outline.getData()
    assert g.selected() is None and (xs is None or len(xs) == 0)
    g.select(5)
    xs, ys = g.outline.getData()
    x, y = g.cell_origin(5)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (x - 1, x + 29, y - 1, y + 29)


def test_gallery_cells_of_two_images_fit_a_fixed_grid(qtbot):
    cell = CellShape(images=2, gap=6, label=10, lines=1, row_gap=2)
    g = show(qtbot, Gallery([greys(), diverging()], cell, columns=3), size=(400, 300))
    digits, maps = thumbs(9).astype(np.float32), np.random.default_rng(1).normal(size=(9, 28, 28))
    g.set_items([digits, maps], [f"#{i}" for i in range(9)], levels=[(0, 255), (-3, 3)])
    x, y = g.cell_origin(4)
    assert (x, y) == (cell.size[0] + 3, cell.size[1])  # row 1, column 1
    left, right = (item.image for item in g.image_items)
    np.testing.assert_array_equal(left[y : y + 28, x : x + 28], digits[4])
    np.testing.assert_allclose(right[y : y + 28, x + 29 : x + 57], maps[4], rtol=1e-6)
    assert np.isnan(left[y : y + 28, x + 29 : x + 57]).all()
    assert g.image_items[1].getLevels() == pytest.approx((-3, 3))
    assert g.view.height() == g.viewport().height()  # the whole grid fits, nothing scrolls
    with qtbot.waitSignal(g.sigChosen, timeout=1000) as blocker:
        mouse_click(g.view, at(g, 4, dx=40))  # on the second image of the cell
    assert blocker.args == [4]
    with pytest.raises(ValueError):
        g.set_items(digits, [f"#{i}" for i in range(9)])  # one kind for two colour maps


def test_control_row_labels_its_widgets(qtbot):
    combo, button = QtWidgets.QComboBox(), QtWidgets.QPushButton("Go")
    holder = QtWidgets.QWidget()
    qtbot.addWidget(holder)
    row = control_row(("Layer", combo), 8, STRETCH, button, grow=combo)
    holder.setLayout(row)
    label = row.itemAt(0).widget()
    assert label.text() == "Layer" and label.buddy() is combo
    assert row.itemAt(1).widget() is combo and row.stretch(1) == 1
    assert row.itemAt(2).spacerItem() is not None and row.itemAt(4).widget() is button


def test_drawing_pad_strokes_ink_the_canvas_and_emit_once_per_stroke(qtbot):
    pad = DrawingPad(100, interval_ms=1000)
    drawn = []
    pad.sigDrawn.connect(drawn.append)
    pad.radius = 5.0
    pad.stroke_begin((20, 50))
    pad.stroke_to((80, 50))
    assert not drawn  # within the interval nothing goes out before the stroke ends
    pad.stroke_end()
    assert len(drawn) == 1 and drawn[0] is not pad.canvas
    np.testing.assert_array_equal(drawn[0], pad.canvas)
    assert pad.canvas[50, 20:81].min() == 1 and pad.canvas[50, 5] == 0
    assert pad.canvas[43, 50] == 0 and pad.canvas[46, 50] == 1  # a 5 px brush, soft edge
    assert pad.canvas.max() == 1

    pad.clear()
    pad.stroke_end()  # nothing drawn since: nothing to emit
    assert pad.canvas.max() == 0 and len(drawn) == 1


def test_a_trailing_coalescer_waits_a_full_interval_and_a_leading_one_does_not(qtbot):
    """The curves use the trailing kind, so their repaint does not fall in the same event
    loop turn as the other panels' (a longer single stall of the GUI)."""
    for leading, bounds in ((False, (0.09, 1.0)), (True, (0.0, 0.08))):
        calls = []
        c = Coalescer(lambda calls=calls: calls.append(time.perf_counter()), 100,
                      leading=leading)
        t0 = time.perf_counter()
        c.request()
        c.request()
        qtbot.waitUntil(lambda calls=calls: bool(calls), timeout=2000)
        qtbot.wait(150)
        assert len(calls) == 1, leading
        assert bounds[0] <= calls[0] - t0 <= bounds[1], (leading, calls[0] - t0)
