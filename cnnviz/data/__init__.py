"""Data: IDX files, MNIST and CIFAR-10 sources, image folders, batching and normalisation,
hand-drawn digit preprocessing.

numpy only (plus stdlib, platformdirs, and Pillow to decode image folders); never imports
Qt, cnnviz.core or training.
"""

from cnnviz.data.cifar import read_cifar10_binary
from cnnviz.data.dataset import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DataFormatError,
    Dataset,
    DataUnavailableError,
)
from cnnviz.data.drawing import preprocess_drawing
from cnnviz.data.folder import load_folder
from cnnviz.data.idx import IDXError, read_idx, write_idx
from cnnviz.data.image_folder import read_image_folder
from cnnviz.data.loader import (
    MNIST_MEAN,
    MNIST_STD,
    BatchIterator,
    denormalize,
    normalize,
    split_validation,
)
from cnnviz.data.sources import available_datasets, load_dataset

__all__ = [
    "IDXError",
    "read_idx",
    "write_idx",
    "Dataset",
    "DataUnavailableError",
    "DataFormatError",
    "load_dataset",
    "load_folder",
    "read_image_folder",
    "read_cifar10_binary",
    "available_datasets",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "MNIST_MEAN",
    "MNIST_STD",
    "normalize",
    "denormalize",
    "split_validation",
    "BatchIterator",
    "preprocess_drawing",
]
