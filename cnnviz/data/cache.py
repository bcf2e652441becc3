"""The cache folder: where it is, MNIST's SHA-256 checks, and atomic writes of checked files."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from cnnviz.data.folder import find_files
from cnnviz.data.idx import IDXError, parse_idx, read_idx_bytes

__all__ = [
    "CACHE_ENV",
    "MNIST_SHA256",
    "default_cache_dir",
    "read_cache",
    "store_file",
    "write_atomic",
]

log = logging.getLogger(__name__)

#: Environment variable that moves the cache root.
CACHE_ENV = "CNNVIZ_CACHE"

#: SHA-256 of the *decompressed* MNIST files.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

FILE_MODE = 0o644  # cache files (mkstemp would leave 0o600)

T = TypeVar("T")


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Cache root: ``cache_dir``, else ``$CNNVIZ_CACHE``, else the platform user cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("cnnviz"))


class _ChecksumError(IDXError):
    pass


def _read_verified(path: Path, base: str, name: str) -> np.ndarray:
    """Read the IDX file ``path``, check its content against MNIST_SHA256[base], parse it."""
    data = read_idx_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    expected = MNIST_SHA256[base]
    if digest != expected:
        raise _ChecksumError(
            f"{name}: SHA-256 {digest[:16]}... does not match the expected "
            f"{expected[:16]}...; the file is corrupt or not MNIST, delete it and download "
            "it again"
        )
    return parse_idx(data, name)


def read_cache(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Load and verify what the MNIST cache ``folder`` holds; delete broken files.

    Returns ({file: array} for the good files, {file: problem} for the deleted ones).
    """
    arrays: dict[str, np.ndarray] = {}
    problems: dict[str, str] = {}
    paths, _ = find_files(folder) if folder.is_dir() else ({}, None)
    for base, path in paths.items():
        try:
            arrays[base] = _read_verified(path, base, str(path))
        except IDXError as e:
            problems[base] = str(e)
            log.warning("removing broken cached file %s: %s", path, e)
            try:
                path.unlink()
            except OSError:
                pass
    return arrays, problems


def write_atomic(
    dest: Path, fill: Callable[[BinaryIO], object], check: Callable[[Path], T] | None = None
) -> T | None:
    """Write the file ``dest`` atomically; return ``check(tmp)`` (None without a check).

    ``fill(out)`` writes the bytes to ``out``, a temporary file beside ``dest``; ``check``
    reads that file and raises if it is wrong. Only then is it renamed into place
    (``os.replace``); on any failure it is removed, so ``dest`` is never a partial file. An
    OSError is raised again naming ``dest``. ``dest``'s folder must exist.
    """
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as out:
            fill(out)
        result = check(tmp) if check is not None else None
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, dest)
        return result
    except OSError as e:
        raise OSError(f"{dest} not written: {str(e) or type(e).__name__}") from e
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def store_file(
    folder: Path, filename: str, fill: Callable[[BinaryIO], object], origin: str
) -> np.ndarray:
    """Write ``folder/filename`` (an MNIST file, raw or ``.gz``) atomically; return its array.

    ``fill(out)`` writes the bytes (see ``write_atomic``); only once their content matches
    MNIST_SHA256 is the file renamed into place. ``origin`` (a URL, a tarball member) names
    the bytes in checksum errors; an OSError is raised again naming the file.
    """
    base = filename.removesuffix(".gz")
    array = write_atomic(folder / filename, fill, lambda tmp: _read_verified(tmp, base, origin))
    assert array is not None
    return array
