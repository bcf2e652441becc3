"""Small builders for the panels' controls: rows of labelled widgets, bold titles, buttons."""

from __future__ import annotations

from PySide6 import QtWidgets

__all__ = ["STRETCH", "control_row", "panel_column", "refill_combo", "title_label",
           "tool_button"]

STRETCH = None  # in a control_row: a stretch that takes the spare width


def control_row(*items, grow: QtWidgets.QWidget | None = None) -> QtWidgets.QHBoxLayout:
    """A row without margins, left to right. An item is a widget or layout; a (text, widget)
    pair: a label whose buddy is the widget (Alt+its key focuses it), then the widget; an
    int: that much space in pixels; or STRETCH. `grow`: the one item that takes spare width."""
    row = QtWidgets.QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    return _fill(row, items, grow)


def panel_column(panel: QtWidgets.QWidget, *items, grow=None) -> QtWidgets.QVBoxLayout:
    """Lay `panel` out top to bottom with 4 px margins: items as in control_row (rows of
    controls, views, status lines); `grow`: the one item that takes the spare height."""
    column = QtWidgets.QVBoxLayout(panel)
    column.setContentsMargins(4, 4, 4, 4)
    return _fill(column, items, grow)


def _fill(box: QtWidgets.QBoxLayout, items, grow) -> QtWidgets.QBoxLayout:
    for item in items:
        if item is STRETCH:
            box.addStretch(1)
        elif isinstance(item, int):
            box.addSpacing(item)
        elif isinstance(item, QtWidgets.QLayout):
            box.addLayout(item, 1 if item is grow else 0)
        else:
            if isinstance(item, tuple):
                text, item = item
                label = QtWidgets.QLabel(text)
                label.setBuddy(item)
                box.addWidget(label)
            box.addWidget(item, 1 if item is grow else 0)
    return box


def title_label(text: str, tip: str) -> QtWidgets.QLabel:
    """A bold, word-wrapped label: the line that says what a panel shows."""
    label = QtWidgets.QLabel(text)
    label.setWordWrap(True)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.setToolTip(tip)
    return label


def tool_button(text: str, tip: str) -> QtWidgets.QToolButton:
    """A small button with a short text (or symbol) and a tooltip."""
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    return button


def refill_combo(combo, names: list[str], prefer_last: bool = False) -> None:
    """Set a combo's items to `names` without emitting, keeping the current choice when it is
    still listed (else the last item when `prefer_last`). Does nothing when unchanged."""
    names = [str(n) for n in names]
    if names == [combo.itemText(i) for i in range(combo.count())]:
        return
    keep = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if keep in names:
        combo.setCurrentIndex(names.index(keep))
    elif names and prefer_last:
        combo.setCurrentIndex(len(names) - 1)
    combo.blockSignals(False)
