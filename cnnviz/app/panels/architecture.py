"""The network's architecture: a preset or an edited layer list, and its summary.

The layer table edits a spec (list of layer dicts, see cnnviz.core.presets); sizes that follow
from the previous layer (in_channels, in_features, num_features) are left out and inferred
by `resolve_spec`. The summary table shows each layer's output shape, parameters and
multiply-adds from `build_model(...).summary()`. An impossible architecture shows the
SpecError text in red and `is_valid()` turns False (the window then disables Start).
"""

from __future__ import annotations

import copy

from PySide6 import QtCore, QtGui, QtWidgets

from cnnviz.app.widgets.forms import STRETCH, control_row, tool_button
from cnnviz.core.layers import LAYER_TYPES
from cnnviz.core.model import INFERRED_KEYS, SpecError, build_model, resolve_spec
from cnnviz.core.presets import DEFAULT_PRESET, PRESETS, fit_preset, preset

__all__ = ["ArchitecturePanel", "editable_spec"]

CUSTOM = "custom"
ALGORITHM_TIPS = {
    "direct": "Convolution as one matrix product over gathered windows (im2col)",
    "winograd": "Convolution by Winograd's F(2x2, 3x3) while training: 2.25x fewer multiplications "
                "(evaluation runs it the direct way, which is faster there)",
}
# Editable columns: header, tooltip, and which spec key each layer type shows there.
COLUMNS = (
    ("Layer", "Layer type", {}),
    ("Size", "Output channels (Conv2D), output features (Dense), drop probability "
             "(Dropout) or negative slope (LeakyReLU)",
     {"Conv2D": "out_channels", "Dense": "out_features", "Dropout": "p",
      "LeakyReLU": "negative_slope"}),
    ("Kernel", "Kernel size (Conv2D, pooling)",
     {"Conv2D": "kernel_size", "MaxPool2D": "kernel_size", "AvgPool2D": "kernel_size"}),
    ("Stride", "Stride (Conv2D, pooling)",
     {"Conv2D": "stride", "MaxPool2D": "stride", "AvgPool2D": "stride"}),
    ("Pad", "Zero padding on each side (Conv2D)", {"Conv2D": "padding"}),
)
FLOAT_KEYS = {"p", "negative_slope"}
DEFAULTS = {
    "Conv2D": {"out_channels": 16, "kernel_size": 3, "stride": 1, "padding": 1},
    "MaxPool2D": {"kernel_size": 2}, "AvgPool2D": {"kernel_size": 2},
    "Dense": {"out_features": 10}, "Dropout": {"p": 0.5}, "LeakyReLU": {"negative_slope": 0.01},
}
ERROR_STYLE = "color: #ef5350; font-weight: bold;"


def editable_spec(spec: list[dict]) -> list[dict]:
    """A copy of `spec` without the sizes that resolve_spec infers from the previous layer."""
    out = []
    for entry in spec:
        e = copy.deepcopy(entry)
        key = INFERRED_KEYS.get(e.get("type"))
        if key:
            e.pop(key, None)
        out.append(e)
    return out


def _preset_matching(spec: list[dict], input_shape, classes: int = 10) -> str | None:
    try:
        full, _ = resolve_spec(spec, input_shape)
    except SpecError:
        return None
    for name in PRESETS:
        if resolve_spec(fit_preset(preset(name), classes), input_shape)[0] == full:
            return name
    return None


def _compact(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    if n >= 10_000:
        return f"{n / 1e3:.0f} K"
    return f"{n:,}"


def _shape(shape) -> str:
    """(32, 28, 28) -> "32×28×28"; (10,) -> "10"."""
    return "×".join(str(d) for d in shape)


class ArchitecturePanel(QtWidgets.QWidget):
    """Preset combo, editable layer table, summary table, error line."""

    sigSpecChanged = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None, input_shape=(1, 28, 28),
                 num_classes: int = 10):
        super().__init__(parent)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self._spec: list[dict] = []
        self._error = ""
        self._applied = None
        self._updating = False

        self.preset = QtWidgets.QComboBox()
        self.preset.addItems(list(PRESETS) + [CUSTOM])
        self.preset.setToolTip("A named architecture; editing the layers makes it 'custom'. "
                               "Applies on Reset (or on Start before the first step).")
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        for i, (_, tip, _) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for i in range(1, len(COLUMNS)):
            header.setSectionResizeMode(i, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Double-click a number to edit it; the layer type is a menu")

        self.add_button = tool_button("Add", "Insert a layer after the selected one")
        self.add_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QtWidgets.QMenu(self.add_button)
        for kind in LAYER_TYPES:
            menu.addAction(kind).triggered.connect(
                lambda _checked=False, k=kind: self.add_layer(k))
        self.add_button.setMenu(menu)
        self.remove_button = tool_button("Remove", "Remove the selected layer")
        self.up_button = tool_button("Up", "Move the selected layer up")
        self.down_button = tool_button("Down", "Move the selected layer down")

        self.summary = QtWidgets.QTableWidget(0, 4)
        self.summary.setHorizontalHeaderLabels(["Layer", "Output", "Params", "Mult-adds"])
        self.summary.horizontalHeaderItem(1).setToolTip("Output shape: channels×height×width, "
                                                        "or features")
        self.summary.horizontalHeaderItem(3).setToolTip("Multiply-adds per image (forward)")
        self.summary.horizontalHeaderItem(0).setToolTip(
            "(W): a convolution computed by Winograd's F(2x2, 3x3) while training")
        self.summary.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.setSelectionBehavior(
            QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.summary.verticalHeader().setVisible(False)
        self.summary.verticalHeader().setDefaultSectionSize(22)
        sh = self.summary.horizontalHeader()
        sh.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for i in (1, 2, 3):
            sh.setSectionResizeMode(i, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)

        self.error = QtWidgets.QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setVisible(False)
        self.totals = QtWidgets.QLabel("")
        self.totals.setWordWrap(True)
        self.pending = QtWidgets.QLabel("")
        self.pending.setWordWrap(True)
        self.pending.setStyleSheet("color: #ff9f1c;")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(control_row(("Preset", self.preset), grow=self.preset))
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self._caption()
        layout.addWidget(self.table, 3)
        layout.addLayout(control_row(self.add_button, self.remove_button, self.up_button,
                                     self.down_button, STRETCH))
        layout.addWidget(self.error)
        layout.addWidget(self.pending)
        layout.addWidget(QtWidgets.QLabel("Summary"))
        layout.addWidget(self.summary, 3)
        layout.addWidget(self.totals)

        self.preset.currentTextChanged.connect(self._on_preset_changed)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.currentCellChanged.connect(self._on_current_cell_changed)
        self.remove_button.clicked.connect(self.remove_layer)
        self.up_button.clicked.connect(lambda: self.move_layer(-1))
        self.down_button.clicked.connect(lambda: self.move_layer(1))

        self.set_spec(preset(DEFAULT_PRESET), DEFAULT_PRESET)

    # -- public -----------------------------------------------------------------------------

    def spec(self) -> list[dict]:
        """The edited spec (inferred sizes left out); check is_valid() first."""
        return copy.deepcopy(self._spec)

    def arch_name(self) -> str:
        """The preset's name, or "custom"."""
        return self.preset.currentText()

    def is_valid(self) -> bool:
        return not self._error

    def error_text(self) -> str:
        return self._error

    def config_fields(self) -> dict:
        """{"arch": ..., "spec": ...} for a TrainConfig: a preset by name, else the spec."""
        name = self.arch_name()
        if name in PRESETS:
            return {"arch": name, "spec": None}
        return {"arch": DEFAULT_PRESET, "spec": self.spec()}

    def set_spec(self, spec: list[dict], name: str | None = None) -> None:
        """Show `spec`; the preset combo shows `name`, or the preset it equals, or custom."""
        self._spec = editable_spec(spec)
        if name is None or name not in PRESETS:
            name = _preset_matching(spec, self.input_shape, self.num_classes) or CUSTOM
        self.preset.blockSignals(True)
        self.preset.setCurrentText(name)
        self.preset.blockSignals(False)
        self._refresh()

    def _caption(self) -> None:
        shape = "×".join(map(str, self.input_shape))
        self.caption.setText(f"Layers (input {shape}, {self.num_classes} classes); changes "
                             "apply on Reset")

    def set_num_classes(self, n: int) -> None:
        self.num_classes = int(n)
        self._caption()
        self._refresh()

    def set_data(self, input_shape, classes: int) -> None:
        """The loaded data's input (C, H, W) and number of classes: shapes and sizes follow
        them, and a preset shown by name is fitted to them (as the session builds it)."""
        self.input_shape, self.num_classes = tuple(input_shape), int(classes)
        self._caption()
        name = self.arch_name()
        if name in PRESETS:
            self._spec = editable_spec(fit_preset(preset(name), self.num_classes))
        self._refresh()

    def set_applied(self, spec: list[dict] | None) -> None:
        """The spec of the current session; a different edited spec is flagged as pending."""
        self._applied = None if spec is None else resolve_spec(spec, self.input_shape)[0]
        self._update_pending()

    def add_layer(self, kind: str, row: int | None = None) -> None:
        """Insert a `kind` layer with default settings after `row` (default: selected)."""
        if row is None:
            row = self.table.currentRow()
        row = len(self._spec) - 1 if row < 0 else row
        self._spec.insert(row + 1, {"type": kind, **DEFAULTS.get(kind, {})})
        self._edited(select=row + 1)

    def remove_layer(self, row: int | None = None) -> None:
        row = self.table.currentRow() if row is None or isinstance(row, bool) else row
        if 0 <= row < len(self._spec):
            del self._spec[row]
            self._edited(select=min(row, len(self._spec) - 1))

    def move_layer(self, delta: int, row: int | None = None) -> None:
        row = self.table.currentRow() if row is None else row
        new = row + delta
        if 0 <= row < len(self._spec) and 0 <= new < len(self._spec):
            self._spec[row], self._spec[new] = self._spec[new], self._spec[row]
            self._edited(select=new)

    def set_layer(self, row: int, **values) -> None:
        """Change layer `row`: type=... and/or spec keys (out_channels=..., kernel_size=...)."""
        entry = self._spec[row]
        kind = values.pop("type", entry["type"])
        if kind != entry["type"]:
            entry = {"type": kind, **DEFAULTS.get(kind, {})}
        entry.update(values)
        self._spec[row] = entry
        self._edited(select=row)

    # -- internals --------------------------------------------------------------------------

    def _edited(self, select: int | None = None) -> None:
        self.preset.blockSignals(True)
        self.preset.setCurrentText(
            _preset_matching(self._spec, self.input_shape, self.num_classes) or CUSTOM)
        self.preset.blockSignals(False)
        self._refresh()
        if select is not None and 0 <= select < self.table.rowCount():
            self.table.setCurrentCell(select, 0)
        self.sigSpecChanged.emit()

    def _refresh(self) -> None:
        """Rebuild both tables from self._spec and check it."""
        self._updating = True
        try:
            self._fill_layers()
            self._check_and_summarise()
        finally:
            self._updating = False
        self._update_pending()

    def _fill_layers(self) -> None:
        t = self.table
        t.setRowCount(len(self._spec))
        disabled = self.palette().color(QtGui.QPalette.ColorGroup.Disabled,
                                         QtGui.QPalette.ColorRole.Base)
        for r, entry in enumerate(self._spec):
            kind = entry.get("type", "?")
            combo = t.cellWidget(r, 0)
            if not isinstance(combo, QtWidgets.QComboBox):
                combo = QtWidgets.QComboBox()
                combo.addItems(list(LAYER_TYPES))
                combo.setFrame(False)
                combo.currentTextChanged.connect(self._on_type_changed)
                t.setCellWidget(r, 0, combo)
            combo.blockSignals(True)
            combo.setCurrentText(kind)
            combo.setProperty("row", r)
            combo.blockSignals(False)
            for c, (_, _, keys) in enumerate(COLUMNS[1:], start=1):
                key = keys.get(kind)
                item = QtWidgets.QTableWidgetItem()
                item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                                      | QtCore.Qt.AlignmentFlag.AlignVCenter)
                if key is None:
                    item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled
                                  | QtCore.Qt.ItemFlag.ItemIsSelectable)
                    item.setBackground(disabled)
                else:
                    value = entry.get(key)
                    if value is None and key == "stride":
                        value = entry.get("kernel_size")  # pooling: stride defaults to kernel
                    item.setText("" if value is None else f"{value:g}"
                                 if isinstance(value, float) else str(value))
                    item.setData(QtCore.Qt.ItemDataRole.UserRole, key)
                t.setItem(r, c, item)
        t.setVerticalHeaderLabels([str(i) for i in range(len(self._spec))])

    def _check_and_summarise(self) -> None:
        s = self.summary
        try:
            full, _ = resolve_spec(self._spec, self.input_shape)
            rows = build_model(full, self.input_shape).summary()
            out = rows[-1]["output_shape"]
            if out[0] != self.num_classes:
                raise SpecError(f"the last layer outputs {out[0]} values but the data has "
                                f"{self.num_classes} classes; set its size to "
                                f"{self.num_classes}")
        except SpecError as exc:
            self._show_error(str(exc))
            return
        self._error = ""
        self.error.setVisible(False)
        s.setRowCount(len(rows) + 1)
        values = [("input", _shape(self.input_shape), "", "")]
        values += [(_layer_name(r), _shape(r["output_shape"]), f"{r['params']:,}",
                    _compact(r["mult_adds"])) for r in rows]
        for i, row in enumerate(values):
            for c, text in enumerate(row):
                item = QtWidgets.QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                                          | QtCore.Qt.AlignmentFlag.AlignVCenter)
                if c == 3 and i:
                    item.setToolTip(f"{rows[i - 1]['mult_adds']:,} multiply-adds per image")
                if c == 0 and i and rows[i - 1]["algorithm"]:
                    item.setToolTip(ALGORITHM_TIPS[rows[i - 1]["algorithm"]])
                s.setItem(i, c, item)
        params = sum(r["params"] for r in rows)
        macs = sum(r["mult_adds"] for r in rows)
        self.totals.setText(f"Total: {params:,} parameters · {macs:,} multiply-adds per image")

    def _show_error(self, text: str) -> None:
        """Show why the spec is impossible, in place of the summary."""
        self._error = text
        self.error.setText(text)
        self.error.setVisible(True)
        self.summary.setRowCount(0)
        self.totals.setText("")

    def _update_pending(self) -> None:
        if self._applied is None or self._error:
            self.pending.setText("")
            return
        full, _ = resolve_spec(self._spec, self.input_shape)
        self.pending.setText("" if full == self._applied else
                             "The session uses another architecture: press Reset to apply.")

    # -- slots ------------------------------------------------------------------------------

    @QtCore.Slot(str)
    def _on_preset_changed(self, name: str) -> None:
        if name in PRESETS:
            self._spec = editable_spec(fit_preset(preset(name), self.num_classes))
            self._refresh()
            self.sigSpecChanged.emit()

    @QtCore.Slot(str)
    def _on_type_changed(self, kind: str) -> None:
        combo = self.sender()
        row = combo.property("row") if combo is not None else None
        if row is None or not 0 <= row < len(self._spec):
            return
        self.set_layer(int(row), type=kind)

    @QtCore.Slot(QtWidgets.QTableWidgetItem)
    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._updating:
            return
        key = item.data(QtCore.Qt.ItemDataRole.UserRole)
        if not key:
            return
        r, text = item.row(), item.text().strip()
        try:
            value = float(text) if key in FLOAT_KEYS else int(text)
        except ValueError:
            kind = "a number" if key in FLOAT_KEYS else "a whole number"
            self._show_error(f"layer {r} ({self._spec[r]['type']}): {key} must be {kind}, "
                             f"got {text!r}")
            self.sigSpecChanged.emit()
            return
        self._spec[r][key] = value
        QtCore.QTimer.singleShot(0, lambda: self._edited(select=r))

    @QtCore.Slot(int, int, int, int)
    def _on_current_cell_changed(self, row, _col, _prev_row, _prev_col) -> None:
        if 0 <= row + 1 < self.summary.rowCount():
            self.summary.selectRow(row + 1)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(360, 600)


def _layer_name(row: dict) -> str:
    """The summary's layer name, marked "(W)" for a convolution that trains by Winograd's
    algorithm (short enough for the narrow default dock; the tooltip says more)."""
    return f"{row['name']} (W)" if row["algorithm"] == "winograd" else row["name"]
