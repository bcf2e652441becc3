"""One digit through the network: input, predicted probabilities and feature maps."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from cnnviz.app.panels.activation_maps import (
    ALL_LAYERS,
    LayerMosaic,
    is_grid,
    layer_mosaic,
    pick_layers,
    wrap,
)
from cnnviz.app.panels.colormaps import diverging, greys, symmetric_limit
from cnnviz.app.state import AppState
from cnnviz.app.widgets.coalescer import Coalescer
from cnnviz.app.widgets.forms import STRETCH, control_row, panel_column
from cnnviz.app.widgets.images import fit_view, image_item, image_view, input_pixels, norm_of
from cnnviz.app.widgets.probabilities import ProbabilityBars
from cnnviz.training.events import ActivationSnapshot

__all__ = ["ActivationsPanel", "ALL_LAYERS"]

REDRAW_MS = 40  # at most ~25 redraws a second, whatever the snapshot rate
HOVER_HINT = "Hover a map for its values; click one to enlarge it (top right)."


class ActivationsPanel(QtWidgets.QWidget):
    """The chosen digit as the network sees it, its class probabilities (top class in orange,
    the true class outlined in green), and the feature maps of a chosen layer as a mosaic,
    one tile per channel, on a blue-white-red scale centred on zero.

    The layer combo lists every layer (3-D maps as tiles, 1-D outputs as a wrapped heat
    strip) plus "all conv/pool layers", which stacks those layers' mosaics. Hovering shows
    "layer, channel, (row, col) = value"; clicking a tile enlarges it in the top-right view.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None, state: AppState | None = None):
        super().__init__(parent)
        self._snap: ActivationSnapshot | None = None
        self._class_names: tuple[str, ...] = ()
        self._norm = None  # the session's (mean, std); None: MNIST's
        self._state = state
        self._maps: LayerMosaic | None = None
        self._enlarged: tuple[str, int] | None = None
        self._zoom_data: np.ndarray | None = None
        self._view_size = (440.0, 200.0)  # of the mosaic view, pixels; updated on resize
        self._captions: list[pg.TextItem] = []

        # controls
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip(
            "Which layer's output to show: one tile per channel, or all conv/pool layers")
        self.layer_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer_combo.setMinimumContentsLength(18)  # "0.Conv2D  (32x28x28)"
        self.per_map = QtWidgets.QCheckBox("Scale each map")
        self.per_map.setToolTip(
            "Off: one colour scale per layer, so weak channels look pale.\n"
            "On: each map is scaled to its own largest |value|, to see its pattern.")
        controls = control_row(("Layer", self.layer_combo), 8, self.per_map, STRETCH)

        # plots
        self.graphics = pg.GraphicsLayoutWidget()
        self.input_plot = image_view("input")
        self.input_image = image_item(greys())
        self.input_plot.addItem(self.input_image)

        self.prob_plot = ProbabilityBars()

        self.zoom_plot = image_view("click a map")
        self.zoom_image = image_item(diverging())
        self.zoom_plot.addItem(self.zoom_image)

        self.map_plot = image_view()
        self.map_image = image_item()
        self.map_plot.addItem(self.map_image)
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=diverging(), interactive=False,
                                        width=12, colorMapMenu=False)
        self.colorbar.setImageItem(self.map_image)

        g = self.graphics.ci
        g.addItem(self.input_plot, 0, 0)
        g.addItem(self.prob_plot, 0, 1)
        g.addItem(self.zoom_plot, 0, 2, 1, 2)
        g.addItem(self.map_plot, 1, 0, 1, 3)
        g.addItem(self.colorbar, 1, 3)
        lay = g.layout
        lay.setRowStretchFactor(0, 1)
        lay.setRowStretchFactor(1, 2)
        lay.setColumnStretchFactor(0, 2)
        lay.setColumnStretchFactor(1, 4)
        lay.setColumnStretchFactor(2, 2)

        self.hover = QtWidgets.QLabel(HOVER_HINT)
        self.hover.setToolTip("Values under the mouse in the feature maps")
        self.hover.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)

        panel_column(self, controls, self.graphics, self.hover, grow=self.graphics)

        self._coalesce = Coalescer(self._draw_all, REDRAW_MS, self)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.per_map.toggled.connect(self._on_scaling_changed)
        self.map_plot.getViewBox().sigResized.connect(self._on_resized)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        if state is not None:  # a scrubbed timeline moment shows its digit's pass
            self._state = state
            state.sigMomentChanged.connect(self._on_moment)

    # -- public ---------------------------------------------------------------------------

    @QtCore.Slot(object)
    def _on_moment(self, moment) -> None:
        if moment is not None and moment.activations is not None:
            self.set_activations(moment.activations, self._state.class_names,
                                 norm_of(self._state))

    def set_activations(self, snap: ActivationSnapshot, class_names: tuple[str, ...],
                        norm=None) -> None:
        """Show one image's pass through the network (see ActivationSnapshot); norm: the
        session's (mean, std) that turn its input back into pixels (None: the AppState's
        session's, else MNIST's). Redraws at most every REDRAW_MS ms with the newest
        snapshot."""
        self._snap = snap
        self._class_names = tuple(class_names)
        self._norm = norm if norm is not None else norm_of(self._state)
        self._coalesce.request()

    def input_shown(self) -> np.ndarray | None:
        """The input picture drawn: float32 (H, W) grey or (H, W, 3) colour in [0, 1]."""
        self._coalesce.flush()
        return self.input_image.image

    @property
    def snapshot(self) -> ActivationSnapshot | None:
        """The snapshot shown (the newest given)."""
        return self._snap

    def _draw_all(self):
        self._sync_layer_combo()
        self._draw_input()
        self._draw_probs()
        self._redraw_maps()
        self._draw_zoom()

    def flush(self) -> None:
        """Draw a pending snapshot now (redraws are otherwise coalesced on a timer)."""
        self._coalesce.flush()

    def map_tiles(self) -> dict[str, list[np.ndarray]]:
        """Layer name -> the 2-D arrays shown, one per channel (raw values, snapshot shapes).
        A 1-D layer output (F,) is shown as one (1, F) strip."""
        self._coalesce.flush()
        return {} if self._maps is None else self._maps.tiles()

    def current_layer(self) -> str:
        """The chosen layer name, or ALL_LAYERS."""
        self._coalesce.flush()
        return self.layer_combo.currentData() or ""

    def set_layer(self, name: str) -> None:
        """Choose a layer by name, or ALL_LAYERS for every conv/pool layer."""
        self._coalesce.flush()
        i = self.layer_combo.findData(name)
        if i < 0:
            raise KeyError(f"no layer {name!r} in the current snapshot")
        self.layer_combo.setCurrentIndex(i)

    def enlarge(self, layer: str, channel: int) -> None:
        """Show map `channel` of `layer` enlarged in the top-right view (followed as new
        snapshots arrive)."""
        if self._snap is None:
            raise RuntimeError("no activations yet")
        self._coalesce.flush()
        maps = dict(self._snap.maps)
        if layer not in maps:
            raise KeyError(f"no layer {layer!r}; have {list(maps)}")
        n = maps[layer].shape[0] if is_grid(maps[layer]) else 1
        if not 0 <= channel < n:
            raise IndexError(f"{layer} has {n} channels, not {channel}")
        self._enlarged = (layer, int(channel))
        self._draw_zoom()

    def enlarged(self) -> tuple[str, int] | None:
        """(layer, channel) shown enlarged, or None."""
        self._coalesce.flush()
        return self._enlarged

    def enlarged_image(self) -> np.ndarray | None:
        """The raw 2-D array in the enlarged view."""
        self._coalesce.flush()
        return self._zoom_data

    # -- drawing --------------------------------------------------------------------------

    def _sync_layer_combo(self):
        maps = self._snap.maps
        entries = []
        for name, a in maps:
            shape = "x".join(str(s) for s in np.shape(a))
            entries.append((f"{name}  ({shape})", name))
        if any(is_grid(a) for _, a in maps):
            entries.append(("all conv/pool layers", ALL_LAYERS))
        old = [(self.layer_combo.itemText(i), self.layer_combo.itemData(i))
               for i in range(self.layer_combo.count())]
        if entries == old:
            return
        keep = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for text, data in entries:
            self.layer_combo.addItem(text, data)
        names = [d for _, d in entries]
        if keep not in names:
            grids = [n for n, a in maps if is_grid(a)]
            convs = [n for n in grids if "Conv" in n]
            keep = (convs or grids or names or [None])[0]
        if keep is not None:
            self.layer_combo.setCurrentIndex(names.index(keep))
        self.layer_combo.blockSignals(False)

    def _draw_input(self):
        img = input_pixels(self._snap.image, self._norm)
        self.input_image.setImage(img, autoLevels=False, levels=(0.0, 1.0))
        fit_view(self.input_plot, img.shape[1], img.shape[0])
        label = self._snap.label
        self.input_plot.setTitle(
            "input" if label is None else f"input · label {self._name(label)}", size="9pt")

    def _name(self, k: int) -> str:
        return self._class_names[k] if 0 <= k < len(self._class_names) else str(k)

    def _draw_probs(self):
        k = np.size(self._snap.probs)
        self.prob_plot.set_probs(self._snap.probs, [self._name(i) for i in range(k)],
                                 self._snap.label)

    def _redraw_maps(self):
        if self._snap is None:
            return
        layers = pick_layers(self._snap.maps, self.layer_combo.currentData() or "")
        self._maps = maps = layer_mosaic(layers, self.per_map.isChecked(), self._view_size)
        self.map_image.setImage(maps.mosaic.image, autoLevels=False)
        self.colorbar.setLevels((-maps.scale, maps.scale))
        self.colorbar.getAxis("right").setLabel(
            "value" if len(layers) == 1 and not self.per_map.isChecked() else "÷ max")
        h, w = maps.mosaic.image.shape
        fit_view(self.map_plot, w, h)
        self._draw_captions(maps)

    def _draw_captions(self, maps: LayerMosaic):
        """Name and shape above each layer when there are several."""
        for t in self._captions:
            t.setVisible(False)
        if len(maps.layers) == 1:
            return
        for i, ((name, a), top) in enumerate(zip(maps.layers, maps.mosaic.block_tops)):
            if i >= len(self._captions):
                t = pg.TextItem(color=pg.getConfigOption("foreground"), anchor=(0, 1))
                self.map_plot.addItem(t)
                self._captions.append(t)
            t = self._captions[i]
            t.setText(f"{name}  {'x'.join(str(d) for d in a.shape)}")
            t.setPos(0, top)
            t.setVisible(True)

    def _draw_zoom(self):
        if self._enlarged is None or self._snap is None:
            return
        layer, channel = self._enlarged
        maps = dict(self._snap.maps)
        if layer not in maps:
            self._enlarged, self._zoom_data = None, None
            self.zoom_image.clear()
            self.zoom_plot.setTitle("click a map", size="9pt")
            return
        a = np.asarray(maps[layer], np.float32)
        data = a[channel] if a.ndim == 3 else wrap(a.ravel(), 1.0)
        self._zoom_data = a[channel] if a.ndim == 3 else a.ravel()[None, :]
        m = symmetric_limit(data) if self.per_map.isChecked() else symmetric_limit(a)
        self.zoom_image.setImage(data, autoLevels=False, levels=(-m, m))
        fit_view(self.zoom_plot, data.shape[1], data.shape[0])
        what = f"ch {channel}" if a.ndim == 3 else f"{a.size} units"
        self.zoom_plot.setTitle(f"{layer} {what}", size="9pt")

    # -- events ---------------------------------------------------------------------------

    def _on_layer_changed(self, _index: int):
        if not self._coalesce.pending:
            self._redraw_maps()

    def _on_scaling_changed(self, _on: bool):
        self._coalesce.flush()
        self._redraw_maps()
        self._draw_zoom()

    def _on_resized(self):
        rect = self.map_plot.getViewBox().rect()
        w, h = rect.width(), rect.height()
        if h > 10 and w > 10:
            ow, oh = self._view_size
            if abs(w - ow) / ow > 0.1 or abs(h - oh) / oh > 0.1:
                self._view_size = (w, h)
                self._redraw_maps()

    def _map_hit(self, scene_pos):
        """(layer, channel, row, col, value) under a scene point of the mosaic, or None."""
        vb = self.map_plot.getViewBox()
        if self._maps is None or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        return self._maps.value_at(p.x(), p.y())

    def _describe(self, layer, channel, r, c, value) -> str:
        if np.ndim(dict(self._snap.maps)[layer]) == 1:
            return f"{layer}, unit {c} = {value:+.4g}"
        return f"{layer}, channel {channel}, ({r}, {c}) = {value:+.4g}"

    def _on_mouse_moved(self, pos):
        if self._snap is None:
            return
        hit = self._map_hit(pos)
        if hit is None and self._zoom_data is not None:
            vb = self.zoom_plot.getViewBox()
            if vb.sceneBoundingRect().contains(pos):
                p = vb.mapSceneToView(pos)
                r, c = int(math.floor(p.y())), int(math.floor(p.x()))
                layer, channel = self._enlarged
                if r >= 0 and c >= 0 and np.ndim(dict(self._snap.maps)[layer]) == 1:
                    width = wrap(self._zoom_data.ravel(), 1.0).shape[1]
                    c, r = (r * width + c, 0) if c < width else (-1, -1)
                if 0 <= r < self._zoom_data.shape[0] and 0 <= c < self._zoom_data.shape[1]:
                    hit = (layer, channel, r, c, float(self._zoom_data[r, c]))
        if hit is not None:
            self.hover.setText(self._describe(*hit))

    def _on_mouse_clicked(self, ev):
        if self._snap is None or ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        hit = self._map_hit(ev.scenePos())
        if hit is not None:
            self.enlarge(hit[0], hit[1])
            self.hover.setText(self._describe(*hit))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, 420)
