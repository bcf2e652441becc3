"""CIFAR-10 in its official binary layout: reading it, and downloading it into the cache.

The folder ``cifar-10-batches-bin/`` holds ``data_batch_1.bin`` .. ``data_batch_5.bin``
(training), ``test_batch.bin`` and ``batches.meta.txt`` (the 10 class names, one a line).
Each batch is a run of 3073-byte records: 1 label byte, then 1024 red, 1024 green and
1024 blue bytes, each a 32x32 plane in row-major order. The pickled "python" version is
never read.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnviz.data.cache import write_atomic
from cnnviz.data.dataset import CIFAR10_CLASSES, DataFormatError, Dataset, DataUnavailableError
from cnnviz.data.download import CHUNK, ProgressCallback, download_url

__all__ = [
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR_DIR",
    "CIFAR_FILES",
    "find_cifar_dir",
    "is_complete",
    "read_cifar10_binary",
    "fetch_cifar10",
    "load_cifar10",
]

#: The official archive of the binary version, and its published MD5.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
ARCHIVE = "cifar-10-binary.tar.gz"

CIFAR_DIR = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
#: The files read from the folder (and the only ones taken from the archive).
CIFAR_FILES = (*TRAIN_FILES, TEST_FILE, META_FILE)

SIDE = 32
RECORD = 1 + 3 * SIDE * SIDE  # 3073 bytes
_FIX = "delete it and download CIFAR-10 again (--dataset cifar10)"


def find_cifar_dir(folder: str | os.PathLike) -> Path | None:
    """``folder`` or its ``cifar-10-batches-bin`` sub-folder if either holds a CIFAR-10 batch
    (``data_batch_*.bin`` or ``test_batch.bin``); else None."""
    folder = Path(folder)
    for candidate in (folder, folder / CIFAR_DIR):
        if any((candidate / f).is_file() for f in (*TRAIN_FILES, TEST_FILE)):
            return candidate
    return None


def _check_size(path: Path, name: str | None = None) -> int:
    """The number of records in the batch file ``path`` (called ``name`` in errors);
    DataFormatError if it is empty or cut."""
    size = path.stat().st_size
    if size == 0 or size % RECORD:
        raise DataFormatError(
            f"{name or path}: {size} bytes is not a whole number of {RECORD}-byte records "
            f"(1 label byte + 32x32x3 pixels); the file is truncated, {_FIX}"
        )
    return size // RECORD


def _read_batch(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 32, 32, 3) uint8, labels (n,) uint8) of one batch file."""
    n = _check_size(path)
    records = np.fromfile(path, dtype=np.uint8).reshape(n, RECORD)
    labels = records[:, 0].copy()
    if n and int(labels.max()) >= n_classes:
        raise DataFormatError(
            f"{path}: label {int(labels.max())} is out of range for {n_classes} classes; "
            f"the file is corrupt or not a CIFAR-10 batch, {_FIX}"
        )
    planes = records[:, 1:].reshape(n, 3, SIDE, SIDE)
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), labels


def _read_class_names(path: Path) -> tuple[str, ...]:
    """The class names in ``batches.meta.txt`` (blank lines skipped); CIFAR-10's if absent."""
    if not path.is_file():
        return CIFAR10_CLASSES
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: cannot be read as text ({e}); {_FIX}") from e
    names = tuple(n for n in names if n)
    if len(names) != len(CIFAR10_CLASSES):
        raise DataFormatError(
            f"{path}: {len(names)} class names, expected {len(CIFAR10_CLASSES)} (one a line); "
            f"the file is corrupt, {_FIX}"
        )
    return names


def read_cifar10_binary(folder: str | os.PathLike, source: str | None = None) -> Dataset:
    """Read CIFAR-10's binary batches from ``folder`` (``cifar-10-batches-bin`` or its parent).

    Returns a Dataset named "cifar10": train (50000, 32, 32, 3) uint8 from the five data
    batches, test (10000, 32, 32, 3) from test_batch.bin (fewer if the files are shorter).
    Raises DataUnavailableError naming missing files, DataFormatError for a broken one.
    """
    folder = Path(folder)
    where = find_cifar_dir(folder) or folder
    missing = [f for f in (*TRAIN_FILES, TEST_FILE) if not (where / f).is_file()]
    if missing:
        raise DataUnavailableError(
            f"CIFAR-10 folder {where} lacks {', '.join(missing)}; put the files of "
            f"{CIFAR_DIR}/ there, or use --dataset cifar10 to download them"
        )
    classes = _read_class_names(where / META_FILE)
    parts = [_read_batch(where / f, len(classes)) for f in TRAIN_FILES]
    test_images, test_labels = _read_batch(where / TEST_FILE, len(classes))
    return Dataset(
        name="cifar10",
        train_images=np.concatenate([p[0] for p in parts]),
        train_labels=np.concatenate([p[1] for p in parts]),
        test_images=test_images,
        test_labels=test_labels,
        class_names=classes,
        source=source or f"folder {where}",
    )


def _md5(f: BinaryIO) -> str:
    f.seek(0)
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := f.read(CHUNK):
        digest.update(chunk)
    f.seek(0)
    return digest.hexdigest()


def _extract(archive: BinaryIO, dest: Path, origin: str) -> None:
    """Copy the CIFAR_FILES members (regular files named exactly ``cifar-10-batches-bin/<f>``)
    of the .tar.gz ``archive`` into ``dest``; other members are never written."""
    wanted = {f"{CIFAR_DIR}/{f}": f for f in CIFAR_FILES}
    done = set()
    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
        for member in tar:
            name = wanted.get(member.name.removeprefix("./"))
            if name is None or not member.isfile() or name in done:
                continue
            src = tar.extractfile(member)
            assert src is not None  # a regular file
            label = f"{origin}: {member.name}"
            check = None if name == META_FILE else lambda tmp, label=label: _check_size(tmp, label)
            write_atomic(dest / name, lambda out, src=src: shutil.copyfileobj(src, out), check)
            done.add(name)
    lost = [f for f in CIFAR_FILES if f not in done]
    if lost:
        raise DataFormatError(f"{origin}: the archive lacks {', '.join(lost)} in {CIFAR_DIR}/")


def fetch_cifar10(folder: Path, progress: ProgressCallback | None = None) -> Path:
    """Download CIFAR10_URL, check its MD5, extract the batches to ``folder/cifar-10-batches-bin``.

    The archive goes to a temporary file in ``folder`` and is deleted afterwards; the
    batches are extracted to a temporary folder renamed into place once all are there, so
    the cache never holds a partial layout. Returns the batches' folder. Raises OSError,
    DataFormatError (wrong MD5, a member missing or cut), tarfile.TarError,
    http.client.HTTPException.
    """
    dest = folder / CIFAR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder, prefix=f".{ARCHIVE}.", suffix=".part") as tmp:
        download_url(CIFAR10_URL, ARCHIVE, progress, tmp)
        digest = _md5(tmp)
        if digest != CIFAR10_MD5:
            raise DataFormatError(
                f"{CIFAR10_URL}: MD5 {digest} does not match the published {CIFAR10_MD5}; "
                "the download is corrupt or the file has changed, try again later"
            )
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=f".{CIFAR_DIR}.", suffix=".part"))
        try:
            _extract(tmp, staging, CIFAR10_URL)
            os.chmod(staging, 0o755)
            if dest.exists():  # an incomplete folder from before
                shutil.rmtree(dest)
            os.replace(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def load_cifar10(
    cache_root: Path, progress: ProgressCallback | None = None, download: bool = True
) -> Dataset:
    """CIFAR-10 from ``cache_root/cifar10``, downloaded there first if it is not complete."""
    folder = cache_root / "cifar10"
    if is_complete(folder):
        return read_cifar10_binary(folder, source=f"cache {folder}")
    attempts = [(f"cache {folder}", f"no complete {CIFAR_DIR}/")]
    if download:
        try:
            fetch_cifar10(folder, progress)
        except (OSError, ValueError, tarfile.TarError, EOFError, http.client.HTTPException) as e:
            attempts.append((CIFAR10_URL, str(e) or type(e).__name__))
        else:
            return read_cifar10_binary(folder, source=f"cache {folder} (from {CIFAR10_URL})")
    title = "could not be found or downloaded" if download else "is not cached, downloading is off"
    lines = [f"CIFAR-10 {title}. Tried:", *(f"  - {src}: {why}" for src, why in attempts)]
    lines.append(
        f"To provide it by hand, extract {ARCHIVE} and pass --data DIR "
        f"(its {CIFAR_DIR} folder or the parent)."
    )
    raise DataUnavailableError("\n".join(lines), attempts)


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` (or its cifar-10-batches-bin) holds all of CIFAR_FILES."""
    where = find_cifar_dir(folder)
    return where is not None and all((where / f).is_file() for f in CIFAR_FILES)
