"""Fuzzing the IDX reader (raw and gzipped) and the MNIST-layout folder built on it.

Any input gives back the array the bytes encode (writing it again gives the same bytes)
or an IDXError; never another exception, a hang, or an allocation of what a header claims.
"""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cnnviz.data.dataset import MNIST_FILES
from cnnviz.data.folder import load_folder
from cnnviz.data.idx import DTYPE_CODES, IDXError, parse_idx, read_idx, read_idx_bytes, write_idx
from tests.fuzz.strategies import examples, mutated


def _encode(array: np.ndarray, tmp_path) -> bytes:
    write_idx(tmp_path / "encoded", array)
    return (tmp_path / "encoded").read_bytes()


def _valid_files() -> list[bytes]:
    """Small valid IDX contents of every dtype and 1 to 3 dimensions (empty ones too)."""
    rng = np.random.default_rng(0)
    shapes = [(5, 4, 3), (7,), (3, 2), (0,), (2, 0, 3)]
    out = []
    for i, dtype in enumerate(DTYPE_CODES.values()):
        shape = shapes[i % len(shapes)]
        array = (rng.random(shape) * 200 - 100).astype(dtype.newbyteorder("="))
        header = bytes([0, 0, *[c for c, d in DTYPE_CODES.items() if d == dtype], len(shape)])
        out.append(header + np.asarray(shape, ">u4").tobytes() + array.astype(dtype).tobytes())
    return out


VALID = _valid_files()


def _check(data: bytes, tmp_path, path=None) -> None:
    """Read ``data`` (from ``path`` if given, else parse it): IDXError, or an array that
    encodes back to exactly the decompressed bytes."""
    try:
        array = read_idx(path) if path is not None else parse_idx(data)
    except IDXError as e:
        assert str(e)
        event("refused: IDXError")
        return
    event("read")
    raw = read_idx_bytes(path) if path is not None else data
    assert _encode(array, tmp_path) == raw
    assert array.flags.writeable and array.dtype.isnative


@settings(max_examples=examples())
@given(st.binary(max_size=300))
def test_random_bytes(tmp_path, data):
    _check(data, tmp_path)


@settings(max_examples=examples())
@given(st.sampled_from(VALID).flatmap(lambda valid: mutated(valid) | st.just(valid)),
       st.sampled_from(["raw", "gz", "gz-then-cut"]))
def test_mutated_files_raw_and_gzipped(tmp_path, data, how):
    """Valid files, mutated or not, on disk; gzipped after the edits, or gzipped and cut."""
    if how != "raw":
        data = gzip.compress(data, mtime=0)
    if how == "gz-then-cut":
        data = data[: len(data) // 2]
    path = tmp_path / "file.gz"
    path.write_bytes(data)
    _check(data, tmp_path, path)


@st.composite
def headers(draw) -> bytes:
    """A header with extreme fields (dtype codes, 0 to 255 dims, sizes up to 2**32 - 1),
    then the exact data it asks for when that is small, else a few bytes."""
    code = draw(st.sampled_from([*DTYPE_CODES, 0x00, 0x0A, 0x0F, 0xFF]))
    ndim = draw(st.sampled_from([0, 1, 2, 3, 33, 64, 65, 255]))
    dims = draw(st.lists(st.sampled_from([0, 1, 2, 3, 2**31, 2**32 - 1]), min_size=ndim,
                         max_size=ndim))
    head = bytes([0, 0, code, ndim]) + np.asarray(dims, ">u4").tobytes()
    size = math.prod(dims) * DTYPE_CODES.get(code, np.dtype("u1")).itemsize
    exact = size <= 4096 and draw(st.booleans())
    return head + (bytes(size) if exact else draw(st.binary(max_size=16)))


@settings(max_examples=examples())
@given(headers())
def test_extreme_header_fields(tmp_path, data):
    _check(data, tmp_path)


@pytest.mark.parametrize("ndim, dims", [(70, [0] * 70), (4, [0, 2**32 - 1, 2**32 - 1, 2**32 - 1])])
def test_shapes_numpy_cannot_hold_are_idx_errors(ndim, dims):
    """Found by fuzzing: numpy's ValueError leaked for these empty but impossible shapes."""
    data = bytes([0, 0, 0x08, ndim]) + np.asarray(dims, ">u4").tobytes()
    with pytest.raises(IDXError, match="numpy cannot hold.*corrupt"):
        parse_idx(data, "x.idx")


def _mnist_folder() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (3, 28, 28)), rng.integers(0, 10, 3),
              rng.integers(0, 256, (2, 28, 28)), rng.integers(0, 10, 2)]
    return {name: bytes([0, 0, 8, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
            + a.astype(np.uint8).tobytes() for name, a in zip(MNIST_FILES, arrays)}


MNIST = _mnist_folder()


@settings(max_examples=examples(0.5))
@given(st.sampled_from(MNIST_FILES), st.data())
def test_mnist_folder_with_one_mutated_file(tmp_path, name, data):
    files = {**MNIST, name: data.draw(mutated(MNIST[name]))}
    for base, content in files.items():
        (tmp_path / f"{base}.gz").write_bytes(gzip.compress(content, mtime=0))
    try:
        ds = load_folder(tmp_path)
    except IDXError:
        event("refused: IDXError")
        return
    event("read")
    assert ds.train_images.shape[1:] == (28, 28) and len(ds.train_images) == len(ds.train_labels)
    assert len(ds.test_images) == len(ds.test_labels)
    assert int(max(ds.train_labels.max(initial=0), ds.test_labels.max(initial=0))) < 10
