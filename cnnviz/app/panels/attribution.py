"""Where the network looks: saliency, Grad-CAM and occlusion over the chosen digit."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Signal

from cnnviz.app.panels.colormaps import BAD, GOOD, diverging, greys, sequential, symmetric_limit
from cnnviz.app.widgets.forms import refill_combo
from cnnviz.app.widgets.images import fit_view, image_item, image_view, input_pixels
from cnnviz.training.events import Attribution

__all__ = ["AttributionPanel", "PREDICTED", "overlay_colormap"]

PREDICTED = "predicted"
MAX_ALPHA = 0.85  # opacity of the strongest attribution over the digit
DIGIT_DIM = 0.55  # the digit is drawn with its brightest ink at this grey, under the maps
HOVER_HINT = "Hover a map for the values under the mouse."

#: (key, title, tooltip) of the three views, left to right.
VIEWS = (
    ("saliency", "saliency (gradient)",
     "Saliency: |d score / d pixel|, how much a tiny change of each pixel moves the class\n"
     "score (scaled to the largest). Bright spots are the pixels the score reacts to."),
    ("grad_cam", "Grad-CAM (evidence)",
     "Grad-CAM: each feature map of the chosen layer times the gradient of the class score\n"
     "with respect to it, at each position (the element-wise form, HiResCAM), summed over\n"
     "the maps and clipped at zero, then enlarged to the digit. Coarse but class-specific:\n"
     "the regions the layer's evidence for the class comes from."),
    ("occlusion", "occlusion (p drop)",
     "Occlusion: how much the class probability drops when a 6x6 patch around each pixel\n"
     "is painted background. Red: hiding it lowers p (evidence for the class); blue: hiding\n"
     "it raises p (evidence against). Centred on 0."),
)


def overlay_colormap(cmap: pg.ColorMap, centre: float | None = None,
                     max_alpha: float = MAX_ALPHA) -> pg.ColorMap:
    """`cmap` with an alpha ramp, for drawing over an image: transparent at position 0
    (or at `centre` for a diverging map) and up to `max_alpha` opaque at the ends."""
    pos, colours = cmap.getStops(mode="byte")
    pos = np.asarray(pos, np.float64)
    colours = np.asarray(colours, np.float64)[:, :3]
    strength = np.abs(pos - centre) / max(centre, 1 - centre) if centre is not None else pos
    alpha = 255 * max_alpha * np.clip(strength, 0, 1) ** 0.8
    rgba = np.column_stack([colours, alpha]).round().astype(np.ubyte)
    return pg.ColorMap(pos, rgba, name=f"{cmap.name}-overlay")


class AttributionPanel(QtWidgets.QWidget):
    """Three answers to "what in this digit made the network say class k?", side by side,
    each a semi-transparent colour map over the (dimmed) digit: saliency and Grad-CAM on
    the sequential scale (0 transparent, 1 bright), occlusion on blue-white-red centred
    on 0 (red: hiding that area lowers the class probability).

    The class combo ("predicted" or a class) and the Grad-CAM layer combo (filled by
    `set_layers`) emit `sigRequest(target: int | None, layer: str)` when the user changes
    them; the owner answers with `set_attribution`. Hovering reports the three values.
    """

    sigRequest = Signal(object, str)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._ev: Attribution | None = None
        self._names: tuple[str, ...] = ()
        self._shown: dict[str, np.ndarray] = {}
        self._norm = None  # the session's (mean, std); None: MNIST's

        # controls
        self.class_combo = QtWidgets.QComboBox()
        self.class_combo.addItem(PREDICTED, None)
        self.class_combo.setToolTip(
            "Explain the network's evidence for this class: the predicted one, or any class\n"
            "(e.g. the true label of a mistake, to see what spoke against it)")
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip(
            "The layer Grad-CAM looks at: early layers give sharp but less class-specific\n"
            "maps, the last conv layer coarse but class-specific ones")
        self.layer_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(10)
        controls = QtWidgets.QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        label = QtWidgets.QLabel("Class")
        label.setBuddy(self.class_combo)
        controls.addWidget(label)
        controls.addWidget(self.class_combo)
        label = QtWidgets.QLabel("Grad-CAM layer")
        label.setBuddy(self.layer_combo)
        controls.addWidget(label)
        controls.addWidget(self.layer_combo, 1)

        self.title = QtWidgets.QLabel("No attribution yet: choose a digit.")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setToolTip("The class being explained, its probability and the true label")

        # the three views
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(90)
        self.plots: dict[str, pg.PlotItem] = {}
        self.digits: dict[str, pg.ImageItem] = {}
        self.overlays: dict[str, pg.ImageItem] = {}
        for col, (key, title, tip) in enumerate(VIEWS):
            plot = image_view()
            digit = image_item(greys())
            cmap = diverging() if key == "occlusion" else sequential()
            overlay = image_item(overlay_colormap(cmap, 0.5 if key == "occlusion" else None))
            overlay.setZValue(1)
            plot.addItem(digit)
            plot.addItem(overlay)
            plot.setTitle(title, size="9pt")
            plot.setToolTip(tip)
            self.graphics.ci.addItem(plot, 0, col)
            self.plots[key], self.digits[key], self.overlays[key] = plot, digit, overlay
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.graphics.ci.setSpacing(0)

        self.legend = QtWidgets.QLabel()
        self.legend.setWordWrap(True)
        self.legend.setToolTip("What the colours mean")
        self.hover = QtWidgets.QLabel(HOVER_HINT)
        self.hover.setToolTip("Values of the three maps under the mouse")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.hover)

        self.class_combo.activated.connect(self._on_choice)
        self.layer_combo.activated.connect(self._on_choice)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # -- public ---------------------------------------------------------------------------

    def set_layers(self, names: list[str]) -> None:
        """The layers Grad-CAM can use (conv-shaped outputs). Keeps the choice when it is
        still there, else picks the last (the session's default). Emits nothing."""
        refill_combo(self.layer_combo, names, prefer_last=True)

    def set_attribution(self, ev: Attribution, class_names, norm=None) -> None:
        """Show `ev` (see Attribution); class_names name the classes for the combo; norm: the
        session's (mean, std) that turn its image back into pixels (None: MNIST's)."""
        self._ev, self._norm = ev, norm
        probs = np.ravel(ev.probs)
        self._sync_classes(tuple(str(n) for n in class_names), probs.size)
        if self.class_combo.currentData() is not None or ev.target != int(probs.argmax()):
            self._select(self.class_combo, self.class_combo.findData(ev.target))
        self._select(self.layer_combo, self.layer_combo.findText(ev.layer))
        self._draw()

    def target(self) -> int | None:
        """The chosen class (None: the predicted one)."""
        return self.class_combo.currentData()

    def layer(self) -> str:
        """The chosen Grad-CAM layer ("" before set_layers)."""
        return self.layer_combo.currentText()

    def choose(self, target: int | None = None, layer: str | None = None) -> None:
        """Choose a class and/or layer as the user would, emitting sigRequest."""
        if target is not None or layer is None:
            i = self.class_combo.findData(target) if target is not None else 0
            if i < 0:
                raise IndexError(f"no class {target}; have {self.class_combo.count() - 1}")
            self.class_combo.setCurrentIndex(i)
        if layer is not None:
            i = self.layer_combo.findText(layer)
            if i < 0:
                raise KeyError(f"no layer {layer!r}")
            self.layer_combo.setCurrentIndex(i)
        self._on_choice()

    def image_shown(self) -> np.ndarray | None:
        """The picture under the maps: float32 (H, W) grey or (H, W, 3) colour in [0, 1]."""
        return self.digits["saliency"].image

    def shown(self) -> dict[str, np.ndarray]:
        """The maps drawn: "saliency", "grad_cam", "occlusion" -> (H, W) arrays."""
        return dict(self._shown)

    # -- drawing --------------------------------------------------------------------------

    def _sync_classes(self, names: tuple[str, ...], k: int) -> None:
        names = names if len(names) == k else tuple(str(i) for i in range(k))
        if names == self._names:
            return
        self._names = names
        keep = self.class_combo.currentData()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem(PREDICTED, None)
        for i, n in enumerate(names):
            self.class_combo.addItem(n, i)
        j = self.class_combo.findData(keep) if keep is not None else 0
        self.class_combo.setCurrentIndex(max(j, 0))
        self.class_combo.blockSignals(False)

    @staticmethod
    def _select(combo: QtWidgets.QComboBox, i: int) -> None:
        """Show item i (if any) without emitting: the event already answers that choice."""
        if i >= 0 and i != combo.currentIndex():
            combo.blockSignals(True)
            combo.setCurrentIndex(i)
            combo.blockSignals(False)

    def _name(self, k: int) -> str:
        return self._names[k] if 0 <= k < len(self._names) else str(k)

    def _draw(self):
        ev = self._ev
        img = input_pixels(ev.image, self._norm)
        h, w = img.shape[:2]
        maps = {"saliency": ev.saliency, "grad_cam": ev.grad_cam, "occlusion": ev.occlusion}
        self._shown = {k: np.asarray(v, np.float32) for k, v in maps.items()}
        m = symmetric_limit(self._shown["occlusion"])
        dimmed = (0.0, 1.0 / DIGIT_DIM)
        for key, _title, _tip in VIEWS:
            self.digits[key].setImage(img, autoLevels=False, levels=dimmed)
            levels = (-m, m) if key == "occlusion" else (0.0, 1.0)
            self.overlays[key].setImage(self._shown[key], autoLevels=False, levels=levels)
            self.overlays[key].setRect(QtCore.QRectF(0, 0, w, h))
            fit_view(self.plots[key], w, h)

        probs = np.ravel(ev.probs)
        p = float(probs[ev.target]) if 0 <= ev.target < probs.size else math.nan
        top = int(probs.argmax()) if probs.size else -1
        text = f"for class {self._name(ev.target)} (p = {p:.2f})"
        if ev.target != top:
            text += f", predicted {self._name(top)} (p = {probs[top]:.2f})"
        if ev.label is not None:
            colour = GOOD if ev.label == top else BAD
            text += f", <span style='color:{colour}'>true label {self._name(ev.label)}</span>"
        self.title.setText(text + f" <span style='font-weight:normal'>· step {ev.step}</span>")
        occ = self._shown["occlusion"]
        self.legend.setText(
            f"Brighter = more important. Occlusion: red where hiding lowers "
            f"p({self._name(ev.target)}) (by up to {max(float(occ.max()), 0):.2g}), "
            f"blue where it raises it (by up to {max(-float(occ.min()), 0):.2g}).")

    # -- events ---------------------------------------------------------------------------

    def _on_choice(self, _index: int = 0):
        self.sigRequest.emit(self.target(), self.layer())

    def _on_mouse_moved(self, pos):
        if self._ev is None:
            return
        for plot in self.plots.values():
            vb = plot.getViewBox()
            if vb.sceneBoundingRect().contains(pos):
                p = vb.mapSceneToView(pos)
                r, c = int(math.floor(p.y())), int(math.floor(p.x()))
                h, w = self._shown["saliency"].shape
                if 0 <= r < h and 0 <= c < w:
                    s = self._shown
                    self.hover.setText(
                        f"({r}, {c}): saliency {s['saliency'][r, c]:.2f}, Grad-CAM "
                        f"{s['grad_cam'][r, c]:.2f}, occlusion {s['occlusion'][r, c]:+.3f}")
                return

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(600, 360)
