"""The Dataset type and the dataset-name helpers."""

import numpy as np
import pytest

from cnnviz.data.dataset import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DataFormatError,
    Dataset,
    DataUnavailableError,
    canonical_name,
    class_names_for,
)


def test_canonical_name_resolves_aliases():
    assert canonical_name(" MNIST ") == "mnist"
    for alias in ("fashion", "Fashion_MNIST", "fmnist", "fashion-mnist"):
        assert canonical_name(alias) == "fashion-mnist"
    assert canonical_name("KMNIST") == "kmnist"


def test_class_names_for_known_and_other_names():
    assert class_names_for("mnist") == tuple("0123456789") == MNIST_CLASSES
    assert class_names_for("fmnist") == FASHION_MNIST_CLASSES
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top" and len(FASHION_MNIST_CLASSES) == 10
    assert class_names_for("kmnist") == MNIST_CLASSES
    assert class_names_for("CIFAR-10") == CIFAR10_CLASSES and CIFAR10_CLASSES[9] == "truck"


def test_from_arrays_maps_files_to_splits(fake_arrays):
    arrays = fake_arrays(n_train=7, n_test=3)
    ds = Dataset.from_arrays("fashion", arrays, "here")
    assert ds.name == "fashion-mnist" and ds.class_names == FASHION_MNIST_CLASSES
    assert ds.train_images is arrays["train-images-idx3-ubyte"]
    assert ds.train_labels is arrays["train-labels-idx1-ubyte"]
    assert ds.test_images is arrays["t10k-images-idx3-ubyte"]
    assert ds.test_labels is arrays["t10k-labels-idx1-ubyte"]
    assert ds.num_classes == 10
    assert repr(ds) == "Dataset(name='fashion-mnist', train=7, test=3, source='here')"


def test_unavailable_error_keeps_attempts():
    attempts = [("cache /x", "missing")]
    err = DataUnavailableError("nothing", attempts)
    attempts.append(("later", "not kept"))
    assert str(err) == "nothing" and err.attempts == [("cache /x", "missing")]
    assert DataUnavailableError("plain").attempts == []


def _dataset(shape, name="d"):
    images = np.zeros(shape, np.uint8)
    labels = np.zeros(len(images), np.uint8)
    return Dataset(name, images, labels, images[:2], labels[:2], MNIST_CLASSES, "here")


def test_channels_and_image_shape_of_grey_and_colour():
    grey = _dataset((5, 28, 28))
    assert grey.channels == 1 and grey.image_shape == (1, 28, 28)
    colour = _dataset((5, 32, 24, 3))
    assert colour.channels == 3 and colour.image_shape == (3, 32, 24)
    with pytest.raises(ValueError, match=r"\(5, 8, 8, 4\) are neither grey"):
        _ = _dataset((5, 8, 8, 4)).channels


def test_idx_errors_are_data_format_errors():
    from cnnviz.data.idx import IDXError

    assert issubclass(IDXError, DataFormatError) and issubclass(DataFormatError, ValueError)
