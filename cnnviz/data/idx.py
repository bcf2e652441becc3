"""Read and write IDX files (the MNIST file format), raw or gzipped.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimension sizes, then the array data, big-endian, C order.
Gzipped files are recognised by their first two bytes (``1f 8b``), not by name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from cnnviz.data.dataset import DataFormatError

__all__ = ["IDXError", "DTYPE_CODES", "read_idx", "read_idx_bytes", "parse_idx", "write_idx"]

GZIP_MAGIC = b"\x1f\x8b"

#: IDX dtype code -> big-endian numpy dtype.
DTYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_FIX = "delete it and download it again"


class IDXError(DataFormatError):
    """An IDX file is unreadable: truncated, corrupt, or not an IDX file at all."""


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """Return the (decompressed) content of an IDX file; gzip is detected by magic bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IDXError(f"{path}: file not found; check the folder and the file name") from None
    except OSError as e:
        raise IDXError(f"{path}: cannot be read ({e}); check its permissions") from e
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise IDXError(
            f"{path}: broken gzip stream ({e}); the file is truncated or corrupt, {_FIX}"
        ) from e


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an uncompressed IDX file into an array in native byte order.

    ``name`` is used in error messages (normally the file's path).
    Returns an array of shape ``dims`` read from the header, e.g. (N, 28, 28) uint8.
    """
    if len(data) < 4:
        raise IDXError(
            f"{name}: only {len(data)} bytes, too short to be an IDX file; "
            f"the file is truncated, {_FIX}"
        )
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXError(
            f"{name}: bad magic number {data[:4].hex(' ')} (an IDX file starts with 00 00); "
            f"this is not an IDX file or it is corrupt, {_FIX}"
        )
    if code not in DTYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in DTYPE_CODES)
        raise IDXError(
            f"{name}: unknown IDX data type code 0x{code:02X} (known: {known}); "
            f"the file is corrupt or not an IDX file, {_FIX}"
        )
    if ndim == 0:
        raise IDXError(f"{name}: header says 0 dimensions; the file is corrupt, {_FIX}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(
            f"{name}: header needs {header} bytes for {ndim} dimensions, found {len(data)}; "
            f"the file is truncated, {_FIX}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPE_CODES[code]
    expected = dtype.itemsize
    for d in dims:
        expected *= d
    found = len(data) - header
    if found < expected:
        raise IDXError(
            f"{name}: expected {expected} bytes of data for shape {dims}, found {found}; "
            f"the file is truncated, {_FIX}"
        )
    if found > expected:
        raise IDXError(
            f"{name}: expected {expected} bytes of data for shape {dims}, found {found} "
            f"({found - expected} trailing bytes); the file is corrupt, {_FIX}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    try:  # an empty array may still declare more dimensions or elements than numpy holds
        arr = arr.reshape(dims)
    except ValueError as e:
        raise IDXError(f"{name}: header declares shape {dims}, which numpy cannot hold ({e}); "
                       f"the file is corrupt, {_FIX}") from None
    # astype copies: the result is writable and in native byte order.
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a raw or gzipped IDX file. Raises IDXError naming the file and the problem.

    MNIST images come back as (N, 28, 28) uint8, labels as (N,) uint8.
    """
    return parse_idx(read_idx_bytes(path), str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (any shape, 1 to 255 dims) as IDX; gzipped when ``path`` ends in .gz.

    Supported dtypes: uint8, int8, int16, int32, float32, float64.
    """
    array = np.asarray(array)
    native = {dt.newbyteorder("="): code for code, dt in DTYPE_CODES.items()}
    code = native.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"write_idx({path}): dtype {array.dtype} has no IDX code; cast the array to one of "
            "uint8, int8, int16, int32, float32, float64 first"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(
            f"write_idx({path}): IDX needs 1 to 255 dimensions, got {array.ndim}; "
            "reshape the array (e.g. a scalar to shape (1,))"
        )
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"write_idx({path}): a dimension of {array.shape} exceeds 2**32 - 1")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=DTYPE_CODES[code]).tobytes()
    path = Path(path)
    if path.name.endswith(".gz"):
        # mtime=0 makes the output byte-for-byte reproducible.
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(header)
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(header)
            f.write(payload)
