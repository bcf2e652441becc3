"""Normalisation, a seeded validation split, and a resumable seeded batch iterator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["MNIST_MEAN", "MNIST_STD", "normalize", "denormalize", "channel_stats",
           "split_validation", "BatchIterator"]  # fmt: skip

#: Mean and standard deviation of the MNIST training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def normalize(images: np.ndarray, mean=MNIST_MEAN, std=MNIST_STD) -> np.ndarray:
    """Scale images to the network's input: ``(x - mean) / std`` as float32.

    images: (N, H, W) or (N, 1, H, W) grey, or (N, H, W, 3) colour (channels last, as Dataset
    holds them); uint8 in 0..255 or floats already in [0, 1]. mean, std: one value, or one per
    channel. Returns float32 (N, C, H, W).
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] == 3 and images.shape[1] != 3:
        images = images.transpose(0, 3, 1, 2)
    elif images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(
            f"normalize expects images of shape (N, H, W), (N, 1, H, W) or (N, H, W, 3), got "
            f"{images.shape}; add a batch axis for a single image (img[None])"
        )
    scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
    out = images.astype(np.float32)
    out *= _per_channel(np.float64(scale) / np.asarray(std, np.float64))
    out -= _per_channel(np.asarray(mean, np.float64) / np.asarray(std, np.float64))
    return out


def _per_channel(v):
    """A float32 scalar, or (1, C, 1, 1) for one value per channel."""
    v = np.asarray(v, np.float32)
    return v.reshape(1, -1, 1, 1) if v.ndim else np.float32(v)


def denormalize(x: np.ndarray, mean=MNIST_MEAN, std=MNIST_STD) -> np.ndarray:
    """Inverse of ``normalize``: float32 pixel values in [0, 1] (not clipped), same shape.
    With one mean and std per channel, x is (..., C, H, W)."""
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    if mean.ndim:
        mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
    out = np.asarray(x, dtype=np.float32) * std
    out += mean
    return out


def channel_stats(name: str, images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel of training images (N, H, W) or (N, H, W, C) uint8, in [0, 1]
    units: MNIST's published values for "mnist" (the statistics of its 60,000 training images,
    so every MNIST run normalises as before), else computed from `images`."""
    if name == "mnist":
        return (MNIST_MEAN,), (MNIST_STD,)
    x = np.asarray(images)
    x = x.reshape(len(x), -1, 1) if x.ndim == 3 else x.reshape(len(x), -1, x.shape[-1])
    total, squares = np.zeros(x.shape[-1]), np.zeros(x.shape[-1])
    for i in range(0, len(x), 2048):  # in chunks: a float64 copy of CIFAR-10 is 1.2 GB
        part = x[i : i + 2048].reshape(-1, x.shape[-1]).astype(np.float64)
        total += part.sum(axis=0)
        squares += np.square(part).sum(axis=0)
    n = max(x.shape[0] * x.shape[1], 1)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 1e-6))
    return tuple(float(m) / 255 for m in mean), tuple(float(v) / 255 for v in std)


def split_validation(
    images: np.ndarray, labels: np.ndarray, n_val: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold ``n_val`` random samples out of a training set.

    images: (N, ...), labels: (N,). Returns (train_x, train_y, val_x, val_y) with
    N - n_val and n_val samples; each part keeps the original order. Same seed, same split.
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"split_validation: {n} images but {len(labels)} labels")
    if not 0 <= n_val < n:
        raise ValueError(
            f"split_validation: n_val={n_val} must be in 0..{n - 1} for {n} samples; "
            "lower the validation size"
        )
    perm = np.random.default_rng(seed).permutation(n)
    val_idx = np.sort(perm[:n_val])
    train_idx = np.sort(perm[n_val:])
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]


class BatchIterator:
    """Seeded mini-batches over (x, y) that can be saved and resumed mid-epoch.

    x: (N, ...), y: (N,). The order of epoch ``e`` is a permutation drawn from its own
    ``np.random.Generator`` seeded with ``(seed, e)``: the same seed gives the same order,
    each epoch a different one, and the whole state is three integers (see ``state_dict``).

    State: ``epoch`` (0-based, the epoch being served) and ``position`` (index of the next
    batch within it). ``next_batch()`` returns ``(xb, yb, epoch_ended)``; after the last
    batch of an epoch, ``epoch`` increases and ``position`` goes back to 0.
    Iterating (``for xb, yb in it``) serves the rest of the current epoch.
    ``len(it)`` is the number of batches per epoch, the last partial batch included
    (unless ``drop_last``). Batches are copies.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        if len(x) != len(y):
            raise ValueError(f"BatchIterator: {len(x)} inputs but {len(y)} labels")
        if batch_size < 1:
            raise ValueError(f"BatchIterator: batch_size must be >= 1, got {batch_size}")
        if drop_last and len(x) < batch_size:
            raise ValueError(
                f"BatchIterator: drop_last with {len(x)} samples < batch_size {batch_size} "
                "gives no batch; lower batch_size or set drop_last=False"
            )
        self.x = x
        self.y = y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self.position = 0
        self._order_epoch: int | None = None
        self._order: np.ndarray | None = None

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """Sample indices of ``epoch`` (default: the current one), shape (N,)."""
        epoch = self.epoch if epoch is None else epoch
        if not self.shuffle:
            return np.arange(self.num_samples)
        if self._order_epoch != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order = rng.permutation(self.num_samples)
            self._order_epoch = epoch
        assert self._order is not None
        return self._order

    def next_batch(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Return ``(xb, yb, epoch_ended)`` and advance; xb: (B, ...), yb: (B,)."""
        lo = self.position * self.batch_size
        idx = self.order()[lo : lo + self.batch_size]
        xb, yb = self.x[idx], self.y[idx]
        self.position += 1
        ended = self.position >= len(self)
        if ended:
            self.epoch += 1
            self.position = 0
        return xb, yb, ended

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Serve the remaining batches of the current epoch."""
        while True:
            xb, yb, ended = self.next_batch()
            yield xb, yb
            if ended:
                return

    def state_dict(self) -> dict[str, Any]:
        """JSON-friendly state: plain ints and bools."""
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "position": self.position,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; the data size and batch settings must match."""
        for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(
                    f"BatchIterator state was saved with {key}={state[key]!r} but this iterator "
                    f"has {key}={getattr(self, key)!r}; build the iterator with the same data "
                    "and settings before loading the state"
                )
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position < len(self):
            raise ValueError(
                f"BatchIterator state has epoch={epoch}, position={position}; position must be "
                f"in 0..{len(self) - 1} and epoch >= 0"
            )
        self.seed = int(state["seed"])
        self.epoch = epoch
        self.position = position
        self._order_epoch = None
