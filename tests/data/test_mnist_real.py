"""Loads the real MNIST from the folder in CNNVIZ_DATA; skipped when it is unset."""

import os

import numpy as np
import pytest

from cnnviz.data import load_dataset, preprocess_drawing

pytestmark = [
    pytest.mark.mnist,
    pytest.mark.skipif(not os.environ.get("CNNVIZ_DATA"), reason="CNNVIZ_DATA is not set"),
]


def test_real_mnist_shapes_and_labels():
    ds = load_dataset()
    assert ds.train_images.shape == (60000, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.train_labels.shape == (60000,) and ds.test_labels.shape == (10000,)
    assert ds.test_images.shape == (10000, 28, 28)
    for labels in (ds.train_labels, ds.test_labels):
        assert labels.min() == 0 and labels.max() == 9
        assert (np.bincount(labels, minlength=10) > 0.08 * len(labels)).all()


def test_preprocess_keeps_mnist_digits_in_place():
    """An MNIST digit, blown up to 140x140, comes back close to the original."""
    ds = load_dataset()
    imgs = ds.test_images[:20]
    errs = []
    for img in imgs:
        big = np.kron(img, np.ones((5, 5), np.uint8))
        out = preprocess_drawing(big)
        errs.append(np.abs(out - img / 255.0).mean())
    assert np.median(errs) < 0.06
