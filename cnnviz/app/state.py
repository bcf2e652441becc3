"""What the window shows, one owner for each piece: the session, the chosen digit, the
scrubbed timeline moment and the inspection docks on screen. Panels and helpers read it and
subscribe to its signals; only the user's actions (through the window) change it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnviz.training.driver import check_digit
from cnnviz.training.events import SessionInfo
from cnnviz.training.timeline import Moment

__all__ = ["AppState"]


class AppState(QObject):
    """info: the SessionInfo shown (None before the first). digit: the chosen test index, or a
    (28, 28) float32 drawing. moment: the timeline Moment shown, None when live. visible: the
    keys of the docks the user can see."""

    sigSessionChanged = Signal(object)  # SessionInfo
    sigDigitChanged = Signal(object)  # int or (28, 28) float32
    sigMomentChanged = Signal(object)  # Moment or None
    sigVisibleChanged = Signal(object)  # frozenset of dock keys

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.info: SessionInfo | None = None
        self.digit: int | np.ndarray = 0
        self.moment: Moment | None = None
        self.visible: frozenset = frozenset()

    @property
    def class_names(self) -> tuple:
        return self.info.class_names if self.info is not None else tuple("0123456789")

    @property
    def test_images(self) -> np.ndarray | None:
        """uint8 (N, H, W) grey or (N, H, W, 3) colour of the session's test split."""
        return self.info.test_images if self.info is not None else None

    def set_session(self, info: SessionInfo) -> None:
        """A new session: back to live and to test digit 0 (the driver starts there too)."""
        self.info, self.digit = info, 0
        self.set_moment(None)
        self.sigSessionChanged.emit(info)

    def choose_digit(self, digit) -> None:
        """Follow a test index or a drawing; ValueError (from check_digit) when it is bad."""
        n = len(self.info.test_labels) if self.info is not None else 1
        self.digit = check_digit(digit, n)
        self.sigDigitChanged.emit(self.digit)

    def set_moment(self, moment: Moment | None) -> None:
        if moment is not self.moment:
            self.moment = moment
            self.sigMomentChanged.emit(moment)

    def set_visible(self, keys) -> None:
        keys = frozenset(keys)
        if keys != self.visible:
            self.visible = keys
            self.sigVisibleChanged.emit(keys)
