"""The confusion matrix of the latest evaluation, and a gallery of the digits in a cell."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.confusion_matrix import MatrixPlot
from cnnviz.app.state import AppState
from cnnviz.app.widgets.forms import (
    STRETCH,
    control_row,
    panel_column,
    title_label,
    tool_button,
)
from cnnviz.app.widgets.gallery import Gallery
from cnnviz.app.widgets.images import square_images
from cnnviz.training.events import Evaluation

__all__ = ["ConfusionPanel", "PAGE_SIZE"]

PAGE_SIZE = 100
LOG_COUNTS, ROW_PERCENT = "log counts", "row %"
MOST, LEAST, BY_INDEX = "most sure", "least sure", "by index"
GALLERY_MIN_WIDTH = 150


class ConfusionPanel(QtWidgets.QWidget):
    """Rows: true class, columns: predicted class. Counts in each cell, colour on a log scale
    of the counts (or of the row percentage) so the few errors stand out beside the large
    diagonal; per-class accuracy on the right, total accuracy in the title.

    Clicking a cell lists its digits in a gallery below (pages of PAGE_SIZE, with test
    index and the predicted class's probability); clicking a thumbnail emits
    `sigDigitChosen(index)`. "Refresh" emits `sigRefreshRequested()`.
    """

    sigDigitChosen = Signal(int)
    sigRefreshRequested = Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None, state: AppState | None = None):
        super().__init__(parent)
        self._ev: Evaluation | None = None
        self._images: np.ndarray | None = None
        self._names: tuple[str, ...] = ()
        self._cell: tuple[int, int] | None = None
        self._indices = np.zeros(0, np.int64)
        self._page = 0
        self._chosen: int | None = None  # position in the gallery list
        self._order_touched = False

        # controls
        self.scale_combo = QtWidgets.QComboBox()
        self.scale_combo.addItems([LOG_COUNTS, ROW_PERCENT])
        self.scale_combo.setToolTip(
            "Cell colours and numbers: counts (colour on a log scale), or the percentage of\n"
            "each true class predicted as each class (colour also logarithmic)")
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.refresh_button.setToolTip("Evaluate the model on the test set now")
        controls = control_row(("Show", self.scale_combo), STRETCH, self.refresh_button)

        # matrix
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(140)
        self.matrix = MatrixPlot()
        self.plot = self.matrix.plot
        self.graphics.addItem(self.plot)

        # gallery
        self.gallery_box = QtWidgets.QWidget()
        self.gallery_title = QtWidgets.QLabel()
        self.gallery_title.setWordWrap(True)
        self.gallery_title.setToolTip("The digits in the selected cell; click one to inspect it")
        self.order_combo = QtWidgets.QComboBox()
        self.order_combo.addItems([MOST, LEAST, BY_INDEX])
        self.order_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.order_combo.setMinimumContentsLength(9)
        self.order_combo.setToolTip(
            "Order of the thumbnails: by the probability the network gave its prediction\n"
            "(most sure first, least sure first), or by test index")
        self.prev_button = tool_button("◀", "Previous page")
        self.next_button = tool_button("▶", "Next page")
        self.page_label = QtWidgets.QLabel()
        self.close_button = tool_button("✕", "Close the gallery")
        self.gallery = Gallery()
        self.gallery.setMinimumHeight(50)
        box = QtWidgets.QVBoxLayout(self.gallery_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(control_row(self.gallery_title, self.close_button,
                                  grow=self.gallery_title))
        box.addLayout(control_row(self.order_combo, self.prev_button, self.page_label,
                                  self.next_button, grow=self.order_combo))
        box.addWidget(self.gallery, 1)
        self.gallery_box.setVisible(False)

        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.splitter.addWidget(self.graphics)
        self.splitter.addWidget(self.gallery_box)
        self.splitter.setChildrenCollapsible(False)

        self.title = title_label("No evaluation yet: press Refresh.",
                                 "Accuracy of the latest evaluation; rows: true class, "
                                 "columns: predicted class")
        self.status = QtWidgets.QLabel("Click a cell to see its digits.")
        self.status.setToolTip("What is under the mouse")

        panel_column(self, controls, self.title, self.splitter, self.status, grow=self.splitter)

        self.refresh_button.clicked.connect(self.sigRefreshRequested)
        self.scale_combo.currentIndexChanged.connect(self._on_scale_changed)
        self.order_combo.activated.connect(self._on_order_activated)
        self.prev_button.clicked.connect(self._on_prev)
        self.next_button.clicked.connect(self._on_next)
        self.close_button.clicked.connect(self._on_close)
        self.gallery.sigChosen.connect(self._on_thumb_clicked)
        self.gallery.sigHovered.connect(self._on_thumb_hover)
        self.graphics.scene().sigMouseClicked.connect(self._on_matrix_clicked)
        self.graphics.scene().sigMouseMoved.connect(self._on_matrix_hover)
        if state is not None:  # a scrubbed timeline moment shows its confusion matrix
            self._state = state
            state.sigMomentChanged.connect(self._on_moment)

    # -- public ---------------------------------------------------------------------------

    @QtCore.Slot(object)
    def _on_moment(self, moment) -> None:
        """The moment's matrix is of the first test digits; the live one returns through
        set_evaluation."""
        ev, images = (moment.evaluation, self._state.test_images) if moment else (None, None)
        if ev is not None and images is not None:
            self.set_evaluation(ev, images[: len(ev.labels)], self._state.class_names)

    def set_evaluation(self, ev: Evaluation, images: np.ndarray | None,
                       class_names: tuple[str, ...]) -> None:
        """Show `ev`; images: (N, H, W) grey or (N, H, W, 3) colour uint8 of the evaluated
        split, in ev.labels order."""
        self._ev = ev
        self._images = None if images is None else np.asarray(images)
        k = int(np.shape(ev.confusion)[0])
        names = tuple(class_names)
        self._names = names if len(names) == k else tuple(str(i) for i in range(k))
        if self._cell is not None and max(self._cell) >= k:
            self._cell = None
        self._draw_matrix()
        if self._cell is not None:
            self._fill_gallery(keep_page=True)

    def select_cell(self, true_class: int, pred_class: int) -> None:
        """Open the gallery of the digits of class `true_class` predicted as `pred_class`."""
        if self._ev is None:
            raise RuntimeError("no evaluation yet")
        k = self.matrix.k
        if not (0 <= true_class < k and 0 <= pred_class < k):
            raise IndexError(f"cell ({true_class}, {pred_class}) outside {k}x{k}")
        self._cell = (int(true_class), int(pred_class))
        if not self._order_touched:
            self.order_combo.setCurrentText(MOST if true_class != pred_class else LEAST)
        self._chosen = None
        self._fill_gallery(keep_page=False)
        self.status.setText("Click a thumbnail to inspect that digit.")

    def selected_cell(self) -> tuple[int, int] | None:
        return self._cell

    def gallery_indices(self) -> list[int]:
        """Every test index in the selected cell, in gallery order (not only this page)."""
        return [int(i) for i in self._indices]

    def choose_gallery_item(self, i: int) -> None:
        """Choose the i-th digit of the gallery list (as clicking it): shows its page,
        highlights it and emits sigDigitChosen(test index)."""
        if not 0 <= i < len(self._indices):
            raise IndexError(f"gallery has {len(self._indices)} digits, not item {i}")
        self._chosen = int(i)
        if i // PAGE_SIZE != self._page:
            self._page = i // PAGE_SIZE
            self._show_page()
        self.gallery.select(i - self._page * PAGE_SIZE)
        idx = int(self._indices[i])
        self.status.setText(self._describe_digit(idx))
        self.sigDigitChosen.emit(idx)

    def cell_texts(self) -> list[list[str]]:
        """The texts shown in the matrix cells, [true][pred] (empty before an evaluation)."""
        return self.matrix.cell_texts()

    def page(self) -> tuple[int, int]:
        """(current page, number of pages) of the gallery, 0-based."""
        return self._page, max(1, math.ceil(len(self._indices) / PAGE_SIZE))

    def set_page(self, page: int) -> None:
        self._page = int(np.clip(page, 0, self.page()[1] - 1))
        self._show_page()

    # -- matrix ---------------------------------------------------------------------------

    def _draw_matrix(self):
        ev = self._ev
        self.matrix.show(ev.confusion, self._names, self.scale_combo.currentText() == ROW_PERCENT)
        self.matrix.set_selection(self._cell)
        n = int(np.sum(ev.confusion))
        self.title.setText(f"{ev.split} set: {ev.accuracy:.1%} correct of {n} digits "
                           f"(step {ev.step}); right: accuracy per class")

    def _on_matrix_clicked(self, ev):
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        cell = self.matrix.cell_at(ev.scenePos())
        if cell is not None:
            self.select_cell(*cell)

    def _on_matrix_hover(self, pos):
        cell = self.matrix.cell_at(pos)
        if cell is None:
            return
        r, c = cell
        cm = self._ev.confusion
        n, total = int(cm[r, c]), int(cm[r].sum())
        share = f" ({n / total:.1%} of true {self._names[r]})" if total else ""
        self.status.setText(f"true {self._names[r]} → predicted {self._names[c]}: "
                            f"{n} digit{'s' if n != 1 else ''}{share}")

    def _on_scale_changed(self, _i: int):
        if self._ev is not None:
            self._draw_matrix()

    # -- gallery --------------------------------------------------------------------------

    def _fill_gallery(self, keep_page: bool):
        ev = self._ev
        t, p = self._cell
        labels, preds = np.asarray(ev.labels), np.asarray(ev.predictions)
        idx = np.flatnonzero((labels == t) & (preds == p))
        conf = self._confidence(idx)
        order = self.order_combo.currentText()
        if order == MOST:
            idx = idx[np.argsort(-conf, kind="stable")]
        elif order == LEAST:
            idx = idx[np.argsort(conf, kind="stable")]
        self._indices = idx.astype(np.int64)
        pages = self.page()[1]
        self._page = min(self._page, pages - 1) if keep_page else 0
        if not keep_page:
            self._chosen = None
        n = len(idx)
        self.gallery_title.setText(
            f"true {self._names[t]} → pred {self._names[p]}: {n} digit{'s' if n != 1 else ''}")
        self.matrix.set_selection(self._cell)
        if not self.gallery_box.isVisible():
            self.gallery_box.setVisible(True)
            self._arrange(force=True)
        self._show_page()

    def _confidence(self, idx: np.ndarray) -> np.ndarray:
        ev = self._ev
        probs = np.asarray(ev.probs)
        if probs.ndim != 2 or len(idx) == 0:
            return np.zeros(len(idx))
        return probs[idx, np.asarray(ev.predictions)[idx]]

    def _show_page(self):
        page, pages = self.page()
        sel = self._indices[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        conf = self._confidence(sel)
        imgs = self._images
        known = imgs is not None and imgs.ndim in (3, 4) and len(imgs) == len(self._ev.labels)
        side = self.gallery.cell.side
        thumbs = square_images(imgs[sel]) if known else np.zeros((len(sel), side, side),
                                                                 np.float32)
        if thumbs.shape[1] != side:  # the data's size: 28 for MNIST, 32 for CIFAR-10
            self.gallery.cell = dataclasses.replace(self.gallery.cell, side=thumbs.shape[1])
        labels = [f"#{i}\n{c:.0%}" for i, c in zip(sel, conf)]
        chosen = None
        if self._chosen is not None and self._chosen // PAGE_SIZE == page:
            chosen = self._chosen - page * PAGE_SIZE
        self.gallery.set_items(thumbs, labels, selected=chosen)
        self.page_label.setText(f"{page + 1}/{pages}")
        self.prev_button.setEnabled(page > 0)
        self.next_button.setEnabled(page < pages - 1)
        self.gallery.verticalScrollBar().setValue(0)

    def _describe_digit(self, idx: int) -> str:
        ev = self._ev
        p = int(ev.predictions[idx])
        conf = float(ev.probs[idx, p]) if np.ndim(ev.probs) == 2 else float("nan")
        return (f"#{idx}: true {self._names[int(ev.labels[idx])]}, "
                f"predicted {self._names[p]} ({conf:.0%})")

    def _on_thumb_clicked(self, position: int):
        self.choose_gallery_item(self._page * PAGE_SIZE + position)

    def _on_thumb_hover(self, position: int):
        i = self._page * PAGE_SIZE + position
        if i < len(self._indices):
            self.status.setText(self._describe_digit(int(self._indices[i])) +
                                " · click to inspect")

    def _on_order_activated(self, _i: int):
        self._order_touched = True
        if self._cell is not None:
            self._chosen = None
            self._fill_gallery(keep_page=False)

    def _on_prev(self):
        self.set_page(self._page - 1)

    def _on_next(self):
        self.set_page(self._page + 1)

    def _on_close(self):
        self.gallery_box.setVisible(False)
        self._cell = None
        self._indices = np.zeros(0, np.int64)
        self._chosen = None
        self.matrix.set_selection(self._cell)

    def _arrange(self, force: bool = False):
        """Gallery beside the matrix when the panel is wide, below it when it is tall."""
        wide = self.width() > 1.05 * self.height()
        orientation = QtCore.Qt.Orientation.Horizontal if wide else QtCore.Qt.Orientation.Vertical
        if orientation == self.splitter.orientation() and not force:
            return
        self.splitter.setOrientation(orientation)
        if self.gallery_box.isVisible():
            total = self.splitter.width() if wide else self.splitter.height()
            total = max(total, 200)
            second = max(GALLERY_MIN_WIDTH, total * 36 // 100) if wide else total * 42 // 100
            self.splitter.setSizes([total - second, second])

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self._arrange()

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, 440)
