"""Fuzzing the CIFAR-10 binary reader: mutated, random or missing batch and meta files.

A folder either reads back as exactly the records its files hold (and the names its meta
file lists), or raises DataFormatError (DataUnavailableError for a missing file).
"""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cnnviz.data.cifar import (
    CIFAR_FILES,
    META_FILE,
    RECORD,
    TEST_FILE,
    TRAIN_FILES,
    read_cifar10_binary,
)
from cnnviz.data.dataset import CIFAR10_CLASSES, DataFormatError, DataUnavailableError
from tests.fuzz.strategies import examples, mutated


def _valid_files() -> dict[str, bytes]:
    """Two records per batch (labels 0-9, random pixels) and the usual meta file."""
    rng = np.random.default_rng(0)
    files = {}
    for name in (*TRAIN_FILES, TEST_FILE):
        records = rng.integers(0, 256, (2, RECORD), dtype=np.uint8)
        records[:, 0] %= 10
        files[name] = records.tobytes()
    files[META_FILE] = ("\n".join(CIFAR10_CLASSES) + "\n\n").encode()
    return files


VALID = _valid_files()


def _records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The inverse of the reader: per image its label, then its R, G and B planes."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels[:, None], planes], axis=1).tobytes()


@st.composite
def folders(draw) -> dict[str, bytes | None]:
    """VALID with 1 to 3 files mutated, replaced by random bytes, or removed (None)."""
    files = dict(VALID)
    for name in draw(st.lists(st.sampled_from(CIFAR_FILES), min_size=1, max_size=3)):
        edit = draw(st.sampled_from(("mutate", "mutate", "random", "remove")))
        if edit == "mutate":
            files[name] = draw(mutated(VALID[name]))
        elif edit == "random":
            files[name] = draw(st.binary(max_size=2 * RECORD + 8))
        else:
            files[name] = None
    return files


@settings(max_examples=examples())
@given(folders())
def test_mutated_folders(tmp_path, files):
    for name, data in files.items():
        (tmp_path / name).unlink(missing_ok=True)
        if data is not None:
            (tmp_path / name).write_bytes(data)
    try:
        ds = read_cifar10_binary(tmp_path)
    except (DataFormatError, DataUnavailableError) as e:
        assert str(tmp_path) in str(e)
        event(f"refused: {e.__class__.__name__}")
        return
    event("read")
    train = b"".join(files[name] for name in TRAIN_FILES)
    assert _records(ds.train_images, ds.train_labels) == train
    assert _records(ds.test_images, ds.test_labels) == files[TEST_FILE]
    meta = files[META_FILE]
    names = CIFAR10_CLASSES if meta is None else tuple(
        line.strip() for line in meta.decode().splitlines() if line.strip())
    assert ds.class_names == names and len(names) == 10
    assert int(max(ds.train_labels.max(), ds.test_labels.max())) < 10
