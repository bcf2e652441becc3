"""The Dataset type, the names of the MNIST-layout files, and dataset names with their classes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Dataset",
    "DataUnavailableError",
    "MNIST_FILES",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "DATASET_NAMES",
    "canonical_name",
    "class_names_for",
]

#: The four files of the MNIST layout, each accepted raw or with ".gz".
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_CLASS_NAMES = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_MNIST_CLASSES}
_ALIASES = {"fashion": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist"}

#: The datasets known by name (any other name needs a folder).
DATASET_NAMES = tuple(_CLASS_NAMES)


def canonical_name(name: str) -> str:
    """``name`` lower-cased, with aliases ("fashion", "fmnist"...) resolved."""
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def class_names_for(name: str) -> tuple[str, ...]:
    """The class names of a known dataset; MNIST's digits for any other name."""
    return _CLASS_NAMES.get(canonical_name(name), MNIST_CLASSES)


class DataUnavailableError(RuntimeError):
    """No source could provide the data; ``attempts`` lists (source, reason) pairs."""

    def __init__(self, message: str, attempts: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.attempts = list(attempts or [])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split in MNIST layout.

    train_images: (N, 28, 28) uint8, train_labels: (N,) uint8,
    test_images: (M, 28, 28) uint8, test_labels: (M,) uint8.
    """

    name: str
    train_images: np.ndarray = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    test_images: np.ndarray = field(repr=False)
    test_labels: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    source: str

    @classmethod
    def from_arrays(cls, name: str, arrays: dict[str, np.ndarray], source: str) -> Dataset:
        """A Dataset from the four arrays keyed by MNIST_FILES, named ``canonical_name(name)``."""
        name = canonical_name(name)
        return cls(
            name=name,
            train_images=arrays["train-images-idx3-ubyte"],
            train_labels=arrays["train-labels-idx1-ubyte"],
            test_images=arrays["t10k-images-idx3-ubyte"],
            test_labels=arrays["t10k-labels-idx1-ubyte"],
            class_names=class_names_for(name),
            source=source,
        )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, source={self.source!r})"
        )
