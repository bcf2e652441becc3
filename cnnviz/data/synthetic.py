"""A small learnable stand-in for MNIST, for tests, benchmarks and demos without the data."""

from __future__ import annotations

import numpy as np

from cnnviz.data.dataset import MNIST_CLASSES, Dataset


def synthetic_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8): class c is a bright 6x6 square at the
    c-th cell of a 4x3 grid (jittered by up to 2 px) over faint noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    rows, cols = 2 + 6 * (labels // 3), 2 + 8 * (labels % 3)
    jitter = rng.integers(-2, 3, (n, 2))
    for dy in range(6):
        for dx in range(6):
            r = np.clip(rows + jitter[:, 0] + dy, 0, 27)
            c = np.clip(cols + jitter[:, 1] + dx, 0, 27)
            images[np.arange(n), r, c] = 255
    return images, labels


def synthetic_dataset(n_train: int = 600, n_test: int = 200, seed: int = 0) -> Dataset:
    """A Dataset of synthetic_images with MNIST's class names."""
    tx, ty = synthetic_images(n_train, seed)
    sx, sy = synthetic_images(n_test, seed + 1)
    return Dataset("synthetic", tx, ty, sx, sy, MNIST_CLASSES, "generated squares")
