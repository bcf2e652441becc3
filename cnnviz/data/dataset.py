"""The Dataset type, the names of the MNIST-layout files, dataset names with their classes,
and the errors of the data layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Dataset",
    "DataUnavailableError",
    "DataFormatError",
    "MNIST_FILES",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
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
#: CIFAR-10's classes, in label order (as in its batches.meta.txt).
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

_CLASS_NAMES = {
    "mnist": MNIST_CLASSES,
    "fashion-mnist": FASHION_MNIST_CLASSES,
    "cifar10": CIFAR10_CLASSES,
}
_ALIASES = {
    "fashion": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}

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


class DataFormatError(ValueError):
    """Data on disk does not fit its format (a corrupt image, a truncated batch, a class
    folder without images...); the message names the file or folder and what to do."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of labelled images.

    train_images: (N, H, W) uint8 (grey, e.g. MNIST's (N, 28, 28)) or (N, H, W, 3) uint8
    (colour, RGB, channels last); test_images: (M, H, W) or (M, H, W, 3) alike.
    train_labels: (N,) uint8, test_labels: (M,) uint8, each < len(class_names).
    ``channels`` (1 or 3) and ``image_shape`` ((C, H, W), as the network sees one image)
    follow from the arrays.
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

    @property
    def channels(self) -> int:
        """1 for grey images (N, H, W), 3 for colour images (N, H, W, 3)."""
        shape = self.train_images.shape
        if len(shape) == 3:
            return 1
        if len(shape) == 4 and shape[3] == 3:
            return 3
        raise ValueError(
            f"dataset {self.name!r}: images of shape {shape} are neither grey (N, H, W) "
            "nor colour (N, H, W, 3)"
        )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image as the network sees it, e.g. (1, 28, 28), (3, 32, 32)."""
        h, w = self.train_images.shape[1:3]
        return (self.channels, int(h), int(w))

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, source={self.source!r})"
        )
