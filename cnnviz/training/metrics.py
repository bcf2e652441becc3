"""Classification metrics on numpy arrays."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    flat = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


class Smoother:
    """Exponential moving average with bias correction (TensorBoard-style smoothing)."""

    def __init__(self, weight: float = 0.9):
        self.weight = weight
        self.value = 0.0
        self.count = 0

    def update(self, x: float) -> float:
        self.count += 1
        self.value = self.weight * self.value + (1 - self.weight) * x
        return self.value / (1 - self.weight**self.count)
