"""Random small affine distortions of image batches for training, on numpy alone.

`Augment.apply` takes a float32 batch (N, C, H, W) and returns a new float32 batch of the same
shape in which each image is shifted, rotated and zoomed about its centre (and mirrored, if
asked) by its own random amount: inverse mapping with bilinear interpolation, pixels from
outside the image taking `fill`. All randomness comes from the caller's `np.random.Generator`,
drawn in one go per batch, so a run that saves and restores its generator resumes exactly.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["AUGMENT_LEVELS", "Augment"]

#: Named strengths for a settings menu: name -> `Augment.strength`.
AUGMENT_LEVELS: dict[str, float] = {"off": 0.0, "light": 0.5, "normal": 1.0, "strong": 1.5}


@dataclass(frozen=True)
class Augment:
    """Random small affine distortions of a batch: shift, rotation, scaling (and flips where the
    data allow). `strength` scales every maximum linearly; 0 turns augmentation off."""

    strength: float = 1.0  # 0 = off (apply returns x itself)
    max_shift: float = 2.0  # pixels at strength 1, dx and dy each uniform in [-s, s]
    max_rotation: float = 10.0  # degrees at strength 1, uniform in [-r, r]
    max_scale: float = 0.1  # relative at strength 1, zoom uniform in [1 - m, 1 + m]
    flip: bool = False  # horizontal flips with probability 1/2 (off for digits)

    def __post_init__(self) -> None:
        for name in ("strength", "max_shift", "max_rotation", "max_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"augment {name} must be a finite number, 0 or more, got {value!r}"
                )
        if self.max_scale >= 1:
            raise ValueError(f"augment max_scale must be below 1, got {self.max_scale!r}")
        if self.max_scale * self.strength >= 1:
            raise ValueError(
                "augment max_scale times strength must be below 1 (a zoom must stay positive), "
                f"got max_scale {self.max_scale!r} * strength {self.strength!r}"
            )

    def transforms(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The (n, 2, 3) float64 matrices that `apply` would use with this rng state.

        Each maps an output pixel (x, y) = (column, row), relative to the image centre, to the
        input point it samples: input = A[:, :2] @ (x, y) + A[:, 2]. A[:, :2] = F R(-theta) / zoom
        (F negates x for a flip) and A[:, 2] = -A[:, :2] @ (dx, dy): the image is mirrored, then
        rotated by theta and zoomed about its centre, then moved by (dx, dy).
        """
        u = rng.uniform(-1.0, 1.0, size=(n, 5))  # dx, dy, angle, zoom, flip: always 5 draws
        s = self.strength
        shift = u[:, :2] * (self.max_shift * s)
        theta = np.deg2rad(u[:, 2] * (self.max_rotation * s))
        zoom = 1.0 + u[:, 3] * (self.max_scale * s)
        sign = np.where(self.flip & (u[:, 4] < 0), -1.0, 1.0)
        cos, sin = np.cos(theta) / zoom, np.sin(theta) / zoom
        m = np.empty((n, 2, 3))
        m[:, 0, 0], m[:, 0, 1] = sign * cos, sign * sin
        m[:, 1, 0], m[:, 1, 1] = -sin, cos
        m[:, :, 2] = -np.einsum("nij,nj->ni", m[:, :, :2], shift)
        return m

    def apply(self, x: np.ndarray, rng: np.random.Generator, fill: float = 0.0) -> np.ndarray:
        """x: (N, C, H, W) float32 -> a new (N, C, H, W) float32 array, each image under its own
        random transform (`transforms(N, rng)`). Pixels from outside the image take `fill`: the
        value of a blank pixel in x (a scalar, or one value per channel)."""
        if self.strength == 0:
            return x
        return _warp(x, self.transforms(len(x), rng), fill)


_scratch = threading.local()


def _scratch_arrays(n: int, c: int, h: int, w: int) -> tuple[np.ndarray, ...]:
    """_warp's working arrays, kept per thread for the last batch shape: allocating them afresh
    on every call costs page faults that took as long as the arithmetic itself (measured)."""
    if getattr(_scratch, "shape", None) != (n, c, h, w):
        _scratch.arrays = None  # let the old ones go first
        f32, p = np.float32, h * w
        _scratch.arrays = (
            np.empty((n, c, h + 3, w + 3), f32),  # pad
            np.empty((n, 2, p), f32),  # points
            np.empty((n, 2, p), f32),  # corner
            np.empty((n, 1, p), np.intp),  # local
            np.empty((n, c, p), np.intp),  # idx
            *(np.empty((n, c, p), f32) for _ in range(3)),  # v00, v01, v10
        )
        _scratch.shape = (n, c, h, w)
    return _scratch.arrays


def _warp(x: np.ndarray, matrices: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Resample each image of x (N, C, H, W) under its (2, 3) matrix (output pixel -> input
    point, about the centre, as in `Augment.transforms`), bilinearly; outside points read fill."""
    x = np.asarray(x, dtype=np.float32)
    n, c, h, w = x.shape
    hp, wp = h + 3, w + 3
    pad, points, corner, local, idx, v00, v01, v10 = _scratch_arrays(n, c, h, w)
    # Pad with fill: one pixel before, two after, so that a point clipped to the outer fill
    # line has weight 0 on its far neighbour and reads fill exactly.
    pad[...] = np.asarray(fill, np.float32).reshape(-1, 1, 1)
    pad[:, :, 1 : h + 1, 1 : w + 1] = x
    # Input points in padded index space (centre + 1 for the pad): m @ (x, y, 1) for every
    # output pixel, then clipped to the fill lines. (n, 2, H*W)
    m = np.array(matrices, dtype=np.float64)
    m[:, 0, 2] += (w + 1) / 2
    m[:, 1, 2] += (h + 1) / 2
    grid = np.ones((3, h, w), np.float32)
    grid[0] = np.arange(w) - (w - 1) / 2
    grid[1] = (np.arange(h) - (h - 1) / 2)[:, None]
    np.matmul(m.astype(np.float32), grid.reshape(3, h * w), out=points)
    np.clip(points[:, 0], 0, w + 1, out=points[:, 0])
    np.clip(points[:, 1], 0, h + 1, out=points[:, 1])
    np.floor(points, out=corner)
    points -= corner  # the weights of the right and lower neighbours
    wx, wy = points[:, 0:1], points[:, 1:2]  # (n, 1, H*W)
    # Flat index into pad of each top-left neighbour, for every image, channel and pixel.
    corner[:, 1] *= wp
    corner[:, 1] += corner[:, 0]
    np.copyto(local, corner[:, 1:2], casting="unsafe")
    np.add(local, (np.arange(n * c, dtype=np.intp) * (hp * wp)).reshape(n, c, 1), out=idx)
    # Shifted views of pad give the right, lower and lower-right neighbours at the same index.
    flat = pad.reshape(-1)
    for k, v in ((0, v00), (1, v01), (wp, v10)):
        np.take(flat[k:], idx, out=v, mode="clip")
    out = np.take(flat[wp + 1 :], idx, mode="clip")  # the one new array
    v01 -= v00  # top = v00 + wx * (v01 - v00), bottom likewise, then blend them with wy
    v01 *= wx
    v01 += v00
    out -= v10
    out *= wx
    out += v10
    out -= v01
    out *= wy
    out += v01
    return out.reshape(n, c, h, w)
