"""The window's small shared state, the docks table and the actions table."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.app.docks import DOCKS
from cnnviz.app.panels.digits import DigitsPanel
from cnnviz.app.state import AppState
from cnnviz.training.driver import WATCHABLE


class FakeInfo:
    class_names = tuple("abcdefghij")
    test_images = np.zeros((50, 28, 28), np.uint8)
    test_labels = np.arange(50) % 10


def test_the_chosen_digit_has_one_rule_and_one_owner(qtbot):
    state = AppState()
    panel = DigitsPanel(state=state)
    qtbot.addWidget(panel)
    info = FakeInfo()
    state.set_session(info)
    panel.set_test_set(info.test_images, info.test_labels, info.class_names)
    seen = []
    state.sigDigitChanged.connect(seen.append)
    state.choose_digit(7)  # chosen elsewhere: the digits panel follows without re-emitting
    assert panel.current_index() == 7 and panel.index_spin.value() == 7 and seen == [7]
    with pytest.raises(ValueError, match="no test digit 50: choose an index from 0 to 49"):
        state.choose_digit(50)
    with pytest.raises(ValueError, match="no test digit 50"):
        panel.choose_index(50)  # the panel applies the same rule
    assert state.digit == 7 and seen == [7]
    drawing = np.full((28, 28), 2.0)
    state.choose_digit(drawing)
    assert state.digit.dtype == np.float32 and state.digit.max() == 1.0  # clipped to [0, 1]


def test_a_new_session_goes_back_to_live_and_digit_zero(qtbot):
    state = AppState()
    moments = []
    state.sigMomentChanged.connect(moments.append)
    state.set_session(FakeInfo())
    state.choose_digit(3)
    state.set_moment("a moment")
    state.set_session(FakeInfo())
    assert state.digit == 0 and state.moment is None and moments == ["a moment", None]
    state.set_visible(["curves", "filters"])
    assert state.visible == {"curves", "filters"}


def test_the_docks_table_is_consistent():
    keys = [row.key for row in DOCKS]
    assert len(set(keys)) == len(keys)
    assert {row.watch for row in DOCKS if row.watch} == set(WATCHABLE)
    assert {row.key for row in DOCKS if row.timeline} == {"filters", "activations",
                                                          "confusion", "preferred"}


def test_every_dock_has_a_view_toggle_and_an_export(window):
    titles = {row.title for row in DOCKS}
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    assert list(menus) == ["&File", "&Train", "&View"]
    view = menus["&View"]
    assert titles <= {a.text() for a in view.actions()}
    for row in DOCKS:
        assert window.act[f"export_{row.key}"].text() == f"{row.title} panel as PNG…"
