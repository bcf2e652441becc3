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


def initial_weights(rng, shape, fan_in: int, fan_out: int, scheme: str) -> np.ndarray:
    """Weights of `shape` by `scheme`: "he" or "glorot"."""
    if scheme == "glorot":
        return glorot_uniform(rng, shape, fan_in, fan_out)
    return he_normal(rng, shape, fan_in)
