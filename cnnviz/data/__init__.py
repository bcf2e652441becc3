"""Data: IDX files, MNIST sources, batching and normalisation, hand-drawn digit preprocessing.

numpy only (plus stdlib and platformdirs); never imports Qt, cnnviz.core or training.
"""

from cnnviz.data.dataset import FASHION_MNIST_CLASSES, MNIST_CLASSES, Dataset, DataUnavailableError
from cnnviz.data.drawing import preprocess_drawing
from cnnviz.data.folder import load_folder
from cnnviz.data.idx import IDXError, read_idx, write_idx
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
    "load_dataset",
    "load_folder",
    "available_datasets",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "MNIST_MEAN",
    "MNIST_STD",
    "normalize",
    "denormalize",
    "split_validation",
    "BatchIterator",
    "preprocess_drawing",
]
