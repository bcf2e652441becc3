"""What the network trains on: the first images of the last training batch as it received
them (after augmentation), each with its label."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from cnnviz.app.panels.controls import augment_text
from cnnviz.app.widgets.forms import panel_column, title_label
from cnnviz.app.widgets.gallery import FIT, CellShape, Gallery
from cnnviz.app.widgets.images import MNIST_NORM, square_images
from cnnviz.data.loader import denormalize
from cnnviz.training.events import TrainingBatch

__all__ = ["PLACEHOLDER", "TrainingBatchPanel", "batch_thumbnails"]

PLACEHOLDER = "Start or Step to see the images the network trains on."
TIP = ("The first images of the last training batch, as the network received them: after the "
       "random shifts, rotations and zooms of Augmentation (Controls), shown as pixels. Under "
       "each, the class the network is taught for it.")


def batch_thumbnails(images: np.ndarray, norm=None) -> np.ndarray:
    """Normalised network inputs (n, C, H, W) as thumbnails with pixel values in [0, 1]: (n, S, S)
    grey for one channel, (n, S, S, 3) colour for three (the mean of the channels for any other
    number), S = max(H, W), a non-square image centred with NaN (background) around it.
    norm: the session's (mean, std), one value per channel (MNIST's when None)."""
    x = np.asarray(images, np.float32)
    mean, std = norm if norm is not None else MNIST_NORM
    mean, std = np.ravel(mean), np.ravel(std)
    if len(mean) != x.shape[1]:  # constants of another data set: the first channel's
        mean, std = mean[:1], std[:1]
    x = np.clip(denormalize(x, tuple(mean), tuple(std)), 0.0, 1.0)
    c = x.shape[1]
    if c == 3:
        x = x.transpose(0, 2, 3, 1)
    else:
        x = x[:, 0] if c == 1 else x.mean(axis=1)
    return square_images(x)


class TrainingBatchPanel(QtWidgets.QWidget):
    """`set_batch(ev, class_names)` shows a TrainingBatch: its images in a grid as large as
    the panel allows (grey for one channel, colour for three), each labelled with its class
    name, under a title naming the step and the augmentation strength. `clear()` goes back
    to the placeholder (a new session, before its first step)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.batch: TrainingBatch | None = None
        self.title = title_label("", TIP)
        self.placeholder = QtWidgets.QLabel(PLACEHOLDER)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setToolTip(TIP)
        self.gallery = Gallery(cell=self._cell(28), columns=FIT)
        self.gallery.setMinimumHeight(48)
        self.gallery.setToolTip(TIP)
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.gallery)
        panel_column(self, self.title, self.stack, grow=self.stack)
        self.clear()

    # -- public ---------------------------------------------------------------------------

    def set_batch(self, ev: TrainingBatch, class_names=(), norm=None) -> None:
        """Show `ev`; labels are `class_names[label]` (the label itself when out of range);
        norm: the session's (mean, std) that turn the images back into pixels (MNIST's when
        None)."""
        self.batch = ev
        thumbs = batch_thumbnails(ev.images, norm)
        names = tuple(class_names)
        labels = [str(names[k]) if 0 <= k < len(names) else str(k)
                  for k in (int(v) for v in np.asarray(ev.labels).ravel())]
        side = thumbs.shape[1]
        if side != self.gallery.cell.side:
            self.gallery.cell = self._cell(side)
        self.gallery.set_items(thumbs, labels, levels=[(0.0, 1.0)])
        self.title.setText(f"Training batch at step {ev.step:,} "
                           f"(augmentation: {augment_text(ev.augment)})")
        self.title.show()
        self.stack.setCurrentWidget(self.gallery)

    def clear(self) -> None:
        """No batch: the placeholder."""
        self.batch = None
        self.gallery.set_items(np.zeros((0, self.gallery.cell.side, self.gallery.cell.side),
                                        np.float32), [], levels=[(0.0, 1.0)])
        self.title.setText("")
        self.title.hide()
        self.stack.setCurrentWidget(self.placeholder)

    def count(self) -> int:
        """Images shown (0 with the placeholder)."""
        return self.gallery.count() if self.batch is not None else 0

    def labels(self) -> list[str]:
        """The texts under the images."""
        return self.gallery.labels() if self.batch is not None else []

    def showing_placeholder(self) -> bool:
        return self.stack.currentWidget() is self.placeholder

    @staticmethod
    def _cell(side: int) -> CellShape:
        """A thumbnail of `side` pixels above a one-line label band, cells a little apart."""
        return CellShape(side=side, gap=max(4, side // 7), label=max(10, round(side * 0.36)),
                         lines=1, row_gap=max(2, side // 14))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, 300)
