"""The panels' colours and colour maps.

The panels use pyqtgraph's default dark look (black plot background, light text); they set
no global options.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

__all__ = [
    "ACCENT",
    "BAR",
    "GOOD",
    "BAD",
    "diverging",
    "greys",
    "sequential",
    "symmetric_limit",
    "text_is_dark",
]

ACCENT = "#ff9f1c"  # the highlighted item: top class, selected cell or thumbnail
BAR = "#5b8fd1"  # ordinary bars
GOOD = "#4caf50"  # true label / correct
BAD = "#ef5350"  # wrong

_DIVERGING_STOPS = [  # ColorBrewer RdBu, reversed: blue negative, white zero, red positive
    (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
]


def diverging() -> pg.ColorMap:
    """Blue (negative) - white (zero) - red (positive); use with symmetric levels (-m, m)."""
    pos = np.linspace(0.0, 1.0, len(_DIVERGING_STOPS))
    return pg.ColorMap(pos, _DIVERGING_STOPS, name="cnnviz-diverging")


def sequential() -> pg.ColorMap:
    """Dark to bright, perceptually uniform (viridis): counts and magnitudes."""
    return pg.colormap.get("viridis")


def greys() -> pg.ColorMap:
    """Black to white: digits as the network sees them."""
    return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)], name="cnnviz-greys")


def symmetric_limit(a: np.ndarray) -> float:
    """max |a| over the finite values, never 0 (so levels (-m, m) are valid)."""
    a = np.asarray(a, dtype=np.float64)
    finite = a[np.isfinite(a)]
    m = float(np.abs(finite).max()) if finite.size else 0.0
    return m if m > 0 else 1e-6


def text_is_dark(cmap: pg.ColorMap, values: np.ndarray) -> np.ndarray:
    """For each value in [0, 1]: True when black text reads better than white on the colour
    `cmap` gives it (bright colours), False for white text."""
    values = np.asarray(values, dtype=np.float64)
    rgb = np.asarray(cmap.map(values.ravel(), mode="byte"), dtype=np.float64)[:, :3]
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])
    return (luminance > 140).reshape(values.shape)
