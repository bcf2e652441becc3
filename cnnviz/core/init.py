"""Weight initialisers drawn from a seeded numpy Generator (moved to the device by the caller)."""

from __future__ import annotations

import numpy as np


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """He (Kaiming) normal init for ReLU-family layers: std = sqrt(2 / fan_in)."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def glorot_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
) -> np.ndarray:
    """Glorot (Xavier) uniform init for tanh/sigmoid layers: U(-a, a), a = sqrt(6/(in+out))."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape).astype(np.float32)


# The "output" init: He scaled down by this much, for the layer that gives the class scores.
# They then start near equal, so the first loss is close to ln(classes) (chance) instead of
# 3.7-4.0 for cnn-bn, and the first steps learn instead of shrinking oversized scores. Measured
# with Adam 3e-3 (benchmarks/recipes.py, seeds 0-2): one epoch of 2,400 images 84-87% -> 87-90%,
# one epoch of MNIST 98.69% -> 98.81%. With plain SGD at a small rate (3e-3) it slows the start
# (the earlier layers' gradients pass through these weights), so that pairing learns slower.
OUTPUT_SCALE = 0.1


def initial_weights(rng, shape, fan_in: int, fan_out: int, scheme: str) -> np.ndarray:
    """Weights of `shape` by `scheme`: "he", "glorot" or "output" (He times OUTPUT_SCALE)."""
    if scheme == "glorot":
        return glorot_uniform(rng, shape, fan_in, fan_out)
    if scheme == "output":
        return he_normal(rng, shape, fan_in) * np.float32(OUTPUT_SCALE)
    return he_normal(rng, shape, fan_in)
