"""The feature maps the activations panel draws: which layers, on which colour scale, packed
into one mosaic, and the value under a point of it. No Qt here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnviz.app.panels.colormaps import symmetric_limit
from cnnviz.app.widgets.mosaic import Mosaic, build_mosaic

__all__ = ["ALL_LAYERS", "LayerMosaic", "is_grid", "layer_mosaic", "pick_layers", "wrap"]

ALL_LAYERS = "__all__"
CAPTION_PX = 16  # screen pixels kept free above each layer in "all layers"


def is_grid(a) -> bool:
    """A layer output of maps (C, H, W), not a vector."""
    return np.ndim(a) == 3


def wrap(vec: np.ndarray, aspect: float = 3.0) -> np.ndarray:
    """A 1-D vector (F,) as a (rows, width) grid padded with NaN, rows roughly width/aspect."""
    f = vec.size
    width = max(1, min(f, math.ceil(math.sqrt(f * aspect))))
    rows = math.ceil(f / width)
    grid = np.full(rows * width, np.nan, np.float32)
    grid[:f] = vec
    return grid.reshape(rows, width)


def pick_layers(maps, choice: str) -> list[tuple[str, np.ndarray]]:
    """(name, float32 array) of the layers to show from a snapshot's maps: the one named
    `choice`, or for ALL_LAYERS the conv and pool layers with maps (else all with maps)."""
    if choice == ALL_LAYERS:
        grids = [(n, a) for n, a in maps if is_grid(a)]
        chosen = [(n, a) for n, a in grids if "Conv" in n or "Pool" in n] or grids
    else:
        chosen = [(n, a) for n, a in maps if n == choice]
    return [(n, np.asarray(a, np.float32)) for n, a in chosen]


def _scaled(a: np.ndarray, per_map: bool, shared: bool) -> tuple[np.ndarray, float]:
    """Maps (C, h, w) for display and their scale m: levels (-m, m), or (-1, 1) after each map
    (`per_map`) or the whole array (not `shared`) is divided by its largest |value|."""
    if per_map:
        m = np.abs(np.nan_to_num(a)).reshape(a.shape[0], -1).max(axis=1)
        m = np.where(m > 0, m, 1.0)
        return a / m[:, None, None], 1.0
    m = symmetric_limit(a)
    return (a, m) if shared else (a / m, 1.0)


@dataclass
class LayerMosaic:
    """The chosen layers' maps in one mosaic (one block per layer, in `layers` order).
    layers: (name, raw array (C, H, W) or (F,)); scale: the colour levels are (-scale, scale)."""

    layers: list
    mosaic: Mosaic
    scale: float

    def tiles(self) -> dict[str, list[np.ndarray]]:
        """Layer name -> the raw 2-D arrays drawn, one per channel; a vector (F,) as (1, F)."""
        return {n: list(a) if is_grid(a) else [a.ravel()[None, :]] for n, a in self.layers}

    def value_at(self, x: float, y: float):
        """(layer, channel, row, col, value) at mosaic point (x, y), or None; for a vector
        channel and row are 0 and col is the unit."""
        hit = self.mosaic.locate(x, y)
        if hit is None:
            return None
        tile, r, c = hit
        name, a = self.layers[tile.block]
        if is_grid(a):
            return name, tile.channel, r, c, float(a[tile.channel, r, c])
        unit = r * tile.w + c
        return (name, 0, 0, unit, float(a.ravel()[unit])) if unit < a.size else None


def layer_mosaic(layers, per_map: bool, view_size: tuple[float, float]) -> LayerMosaic:
    """Pack `layers` (see pick_layers) for a view of `view_size` (w, h) screen pixels. One
    layer: equal tiles on the layer's scale. Several: a pyramid, each layer divided by its
    largest |value|, with CAPTION_PX free above each. A vector is wrapped into a strip."""
    vw, vh = view_size
    single = len(layers) == 1
    blocks, scales = [], []
    for _name, a in layers:
        grid = a if is_grid(a) else wrap(a.ravel(), vw / vh)[None]
        shown, m = _scaled(grid, per_map, shared=single)
        blocks.append(shown)
        scales.append(m)
    if single:
        return LayerMosaic(layers, build_mosaic(blocks, aspect=vw / vh, min_tile=20), scales[0])
    label_h = 8
    for _ in range(4):  # captions keep their screen size however much the mosaic shrinks
        mosaic = build_mosaic(blocks, aspect=vw / vh, min_tile=28, label_h=label_h,
                              uniform=False)
        h, w = mosaic.image.shape
        need = math.ceil(CAPTION_PX / max(min(vw / w, vh / h), 1e-3))
        if need <= label_h:
            break
        label_h = need
    return LayerMosaic(layers, mosaic, 1.0)
