"""Conv kernels as a grid of small images, one tile per output channel."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from cnnviz.app.panels.colormaps import diverging, symmetric_limit
from cnnviz.app.state import AppState
from cnnviz.app.widgets.coalescer import Coalescer
from cnnviz.app.widgets.images import fit_view, image_item, image_view
from cnnviz.app.widgets.mosaic import build_mosaic
from cnnviz.training.events import FilterSnapshot

__all__ = ["FiltersPanel"]

MEAN = "mean"
RGB = "RGB"
REDRAW_MS = 100
RGB_TIP = ("Each kernel as one colour picture: its slices for the red, green and blue input "
           "channels as R, G, B, scaled together around 0 (grey: 0 in every channel)")


class FiltersPanel(QtWidgets.QWidget):
    """Each conv layer's kernels (out, in, k, k) as a mosaic of k x k tiles, one per output
    channel, on a blue-white-red scale centred on zero with symmetric levels +-max|w|.

    A combo chooses the layer (kept across updates), another the input channel: "mean"
    (averaged over input channels, the default) or one channel; for a layer with 3 input
    channels (the first on colour data) also "RGB", the default there: each kernel as one
    colour picture, its 3 slices as R, G, B, scaled symmetrically around 0 to [0, 1] over
    the layer (0.5 + w / 2m, m = max|w|, as ConvNetJS draws them). Hovering a tile shows its
    values. Call `set_filters(snapshot)` with every new FilterSnapshot.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None, state: AppState | None = None):
        super().__init__(parent)
        self._snap: FilterSnapshot | None = None
        self._tiles: list[np.ndarray] = []
        self._weights_shown: np.ndarray | None = None  # (out, k, k) or (out, 3, k, k) raw
        self._levels = (-1.0, 1.0)
        self._mosaic = None
        self._aspect = 1.4

        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip("Which convolution layer's kernels to show")
        self.layer_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer_combo.setMinimumContentsLength(9)  # "0.Conv2D" before the first snapshot
        self.input_combo = QtWidgets.QComboBox()
        self.input_combo.setToolTip(
            "A kernel has one k x k slice per input channel: show their mean, or one channel\n"
            "(RGB, for 3 input channels: the three as one colour picture)")
        self.input_combo.addItem(MEAN, MEAN)

        controls = QtWidgets.QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        layer_label = QtWidgets.QLabel("Layer")
        layer_label.setBuddy(self.layer_combo)
        input_label = QtWidgets.QLabel("Input channel")
        input_label.setBuddy(self.input_combo)
        controls.addWidget(layer_label)
        controls.addWidget(self.layer_combo)
        controls.addSpacing(8)
        controls.addWidget(input_label)
        controls.addWidget(self.input_combo)
        controls.addStretch(1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = image_view()
        self.graphics.addItem(self.plot, 0, 0)
        self.image = image_item()
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=diverging(), interactive=False,
                                        width=12, colorMapMenu=False, label="weight")
        self.colorbar.setImageItem(self.image)
        self.graphics.addItem(self.colorbar, 0, 1)

        self.info = QtWidgets.QLabel("No filters yet: they appear once training has started.")
        self.info.setWordWrap(True)
        self.info.setToolTip("Blue: negative weight, white: zero, red: positive weight")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.info)

        self._coalesce = Coalescer(self._draw_all, REDRAW_MS, self)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.input_combo.currentIndexChanged.connect(self._on_input_changed)
        self.plot.getViewBox().sigResized.connect(self._on_resized)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        if state is not None:
            state.sigMomentChanged.connect(self._on_moment)

    # -- public ---------------------------------------------------------------------------

    def set_filters(self, snap: FilterSnapshot) -> None:
        """Show the kernels of `snap` (layer name -> (out, in, k, k)); keeps the chosen layer.
        Redraws at most every REDRAW_MS ms with the newest snapshot."""
        self._snap = snap
        self._coalesce.request()

    @QtCore.Slot(object)
    def _on_moment(self, moment) -> None:
        """A scrubbed timeline moment's kernels (live ones come again through set_filters)."""
        if moment is not None:
            self.set_filters(moment.filters)

    def _draw_all(self):
        names = list(self._snap.filters)
        current = self.layer_combo.currentText()
        if names != [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]:
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems(names)
            if current in names:
                self.layer_combo.setCurrentIndex(names.index(current))
            self.layer_combo.blockSignals(False)
        self._sync_input_combo()
        self._redraw()

    def flush(self) -> None:
        """Draw a pending snapshot now (redraws are otherwise coalesced on a timer)."""
        self._coalesce.flush()

    def current_layer(self) -> str:
        self._coalesce.flush()
        return self.layer_combo.currentText()

    def set_layer(self, name: str) -> None:
        """Choose a layer by name (as the combo does)."""
        self._coalesce.flush()
        i = self.layer_combo.findText(name)
        if i < 0:
            raise KeyError(f"no conv layer {name!r}; have {self._layer_names()}")
        self.layer_combo.setCurrentIndex(i)

    def set_input_channel(self, channel: int | str | None) -> None:
        """None for the mean over input channels, RGB ("RGB") for the colour view of a layer
        with 3 input channels, else that input channel."""
        self._coalesce.flush()
        key = MEAN if channel is None else channel if channel == RGB else int(channel)
        i = self.input_combo.findData(key)
        if i < 0:
            raise KeyError(f"no input channel view {channel!r} for this layer")
        self.input_combo.setCurrentIndex(i)

    def input_view(self) -> int | str:
        """The chosen view: "mean", "RGB" or an input channel."""
        self._coalesce.flush()
        return self.input_combo.currentData()

    def filter_tiles(self) -> list[np.ndarray]:
        """The arrays shown, one per output channel of the current layer: (k, k) weights, or
        in the RGB view (k, k, 3) colours in [0, 1]."""
        self._coalesce.flush()
        return list(self._tiles)

    def levels(self) -> tuple[float, float]:
        """The colour levels (-m, m) of the current mosaic."""
        self._coalesce.flush()
        return self._levels

    # -- internals ------------------------------------------------------------------------

    def _layer_names(self):
        return [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]

    def _weights(self):
        if self._snap is None or self.layer_combo.currentText() not in self._snap.filters:
            return None
        return np.asarray(self._snap.filters[self.layer_combo.currentText()])

    def _sync_input_combo(self):
        w = self._weights()
        n_in = 0 if w is None else w.shape[1]
        keys = ([RGB] if n_in == 3 else []) + [MEAN] + list(range(n_in))
        old = [self.input_combo.itemData(i) for i in range(self.input_combo.count())]
        if keys == old:
            return
        keep = self.input_combo.currentData()
        self.input_combo.blockSignals(True)
        self.input_combo.clear()
        for key in keys:
            self.input_combo.addItem(str(key), key)
            if key == RGB:
                self.input_combo.setItemData(0, RGB_TIP, QtCore.Qt.ItemDataRole.ToolTipRole)
        # a new kind of layer: RGB where there is one (the first layer on colour data)
        keep = keep if keep in keys and not (RGB in keys and RGB not in old) else keys[0]
        self.input_combo.setCurrentIndex(keys.index(keep))
        self.input_combo.blockSignals(False)

    def _on_layer_changed(self, _index: int):
        if self._coalesce.pending:
            self._coalesce.flush()
            return
        self._sync_input_combo()
        self._redraw()

    def _on_input_changed(self, _index: int):
        if self._coalesce.pending:
            self._coalesce.flush()
            return
        self._redraw()

    def _on_resized(self):
        rect = self.plot.getViewBox().rect()
        if rect.height() > 10 and rect.width() > 10:
            aspect = rect.width() / rect.height()
            if abs(aspect - self._aspect) / self._aspect > 0.1:
                self._aspect = aspect
                self._redraw()

    def _redraw(self):
        w = self._weights()
        if w is None:
            self._tiles = []
            self.image.clear()
            return
        view = self.input_combo.currentData()
        rgb = view == RGB and w.shape[1] == 3
        shown = w if rgb else w.mean(axis=1) if view in (MEAN, None) else w[:, int(view)]
        self._weights_shown = shown
        m = symmetric_limit(shown)
        self._levels = (-m, m)
        if rgb:  # one mosaic per colour channel, the same layout: (H, W, 3)
            mosaics = [build_mosaic([shown[:, c]], aspect=self._aspect, min_tile=24)
                       for c in range(3)]
            mosaic = mosaics[0]
            image = np.stack([mo.image for mo in mosaics], axis=-1)
            self._tiles = [np.clip(0.5 + t.transpose(1, 2, 0) / (2 * m), 0.0, 1.0)
                           for t in shown]
        else:
            mosaic = build_mosaic([shown], aspect=self._aspect, min_tile=24)
            image = mosaic.image
            self._tiles = [t for t in shown]
        self._mosaic = mosaic
        # raw weights on levels (-m, m): 0.5 + w / 2m per channel for RGB, the colour bar's
        # scale otherwise (the colour bar keeps the image's levels)
        self.image.setImage(image, autoLevels=False, levels=(-m, m))
        self.colorbar.setLevels((-m, m))
        self.colorbar.setVisible(not rgb)
        h, wd = image.shape[:2]
        fit_view(self.plot, wd, h)
        out, n_in, kh, kw = w.shape
        which = (f"mean of {n_in} input channels" if view == MEAN
                 else f"input channel {view}")
        if n_in == 1:
            which = "1 input channel"
        self.plot.setTitle(f"{self.layer_combo.currentText()}: {out} kernels {kh}x{kw} · "
                           f"step {self._snap.step}", size="9pt")
        if rgb:
            self.info.setText(f"R, G, B = input channels 0, 1, 2 · grey 0, full colour "
                              f"±{m:.3g} · hover for values")
            self.info.setToolTip(RGB_TIP)
        else:
            self.info.setText(f"{which} · scale ±{m:.3g} (blue < 0 < red) · hover for values")
            self.info.setToolTip("Blue: negative weight, white: zero, red: positive weight")

    def _on_mouse_moved(self, pos):
        if self._mosaic is None or not self._tiles:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        hit = self._mosaic.locate(p.x(), p.y())
        if hit is None:
            return
        tile, r, c = hit
        raw = self._weights_shown[tile.channel]
        view = self.input_combo.currentData()
        if raw.ndim == 3:  # RGB: the three input channels' weights
            r_, g, b = (float(v) for v in raw[:, r, c])
            self.info.setText(f"{self.layer_combo.currentText()}, kernel {tile.channel}, "
                              f"({r}, {c}): R {r_:+.4f}  G {g:+.4f}  B {b:+.4f}")
            return
        which = "mean" if view == MEAN else f"in {view}"
        self.info.setText(f"{self.layer_combo.currentText()}, kernel {tile.channel} ({which}), "
                          f"({r}, {c}) = {float(raw[r, c]):+.4f}")

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(480, 380)
