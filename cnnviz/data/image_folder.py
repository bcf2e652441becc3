"""A folder of the user's images, one sub-folder per class (as torchvision's ImageFolder).

Layouts: ``root/train/<class>/*`` with ``root/test/<class>/*``; or ``root/<class>/*`` (or
``root/train/<class>/*`` alone), from which a seeded 10% of each class is held out for
testing. PNG, JPEG and BMP files (by extension, any case; in nested folders too) are
decoded with Pillow; hidden files and folders and other files are ignored. Class names are
the sorted folder names. The decoded arrays are cached as one .npz per folder and size in
``<cache root>/image-folders``; any change to the files (names, sizes, times) invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from numbers import Integral
from pathlib import Path

import numpy as np

from cnnviz.data.cache import default_cache_dir, write_atomic
from cnnviz.data.dataset import DataFormatError, Dataset, DataUnavailableError

__all__ = ["IMAGE_EXTENSIONS", "HOLDOUT", "ImageProgress", "holdout_count",
           "looks_like_image_folder", "read_image_folder"]  # fmt: skip

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
HOLDOUT = 0.1  # the share of each class held out when there is no test/ folder
MAX_CLASSES = 256  # labels are uint8
CACHE_FOLDER = "image-folders"
CACHE_VERSION = 1
_GREY_MODES = frozenset({"1", "L", "LA", "I", "F"})
_EXIF_ORIENTATION = 0x0112

#: progress(images done, images in all)
ImageProgress = Callable[[int, int], None]

_Files = list[tuple[Path, int]]  # (file, label)


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _images_in(folder: Path) -> list[Path]:
    """The image files under ``folder``, nested folders included, in a stable order."""
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top) / n for n in sorted(names) if _is_image(n)]
    return found


def _class_folders(folder: Path) -> list[Path]:
    subs = (d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    return sorted(subs, key=lambda d: d.name)


def looks_like_image_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a visible sub-folder (a class, or train/) or image files."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    return bool(_class_folders(folder)) or any(_is_image(p.name) for p in folder.iterdir())


def _scan_split(folder: Path, root: Path) -> dict[str, list[Path]]:
    """{class name: its image files} for the class folders in ``folder``."""
    classes = {}
    for d in _class_folders(folder):
        images = _images_in(d)
        if not images:
            raise DataFormatError(
                f"{d}: class folder '{d.name}' holds no PNG, JPEG or BMP image; "
                "put its images there or remove the folder"
            )
        classes[d.name] = images
    if not classes:
        loose = sum(_is_image(p.name) for p in folder.iterdir())
        found = f" ({loose} images lie directly in it)" if loose else ""
        raise DataFormatError(
            f"{folder}: no class folder with images{found}; put each class's images in a "
            f"sub-folder named after the class ({root}/<class>/*.png), or use "
            f"{root}/train/<class>/ and {root}/test/<class>/"
        )
    return classes


def holdout_count(n: int) -> int:
    """How many of a class's ``n`` images are held out: 10% rounded, at least 1 if n >= 2."""
    return 0 if n < 2 else max(1, int(n * HOLDOUT + 0.5))


def _hold_out(files: dict[str, list[Path]], seed: int) -> tuple[_Files, _Files]:
    """Split each class: holdout_count(n) files, drawn with (seed, class name), to test."""
    train: _Files = []
    test: _Files = []
    for label, name in enumerate(sorted(files)):
        paths = files[name]
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        held = set(rng.choice(len(paths), holdout_count(len(paths)), replace=False).tolist())
        for i, p in enumerate(paths):
            (test if i in held else train).append((p, label))
    return train, test


def _scan(root: Path, seed: int) -> tuple[tuple[str, ...], _Files, _Files]:
    """(class names, training files, test files) of the image folder ``root``."""
    train_dir, test_dir = root / "train", root / "test"
    split = train_dir.is_dir() and bool(_class_folders(train_dir))  # else "train" is a class
    if not split and test_dir.is_dir() and _class_folders(test_dir):
        raise DataFormatError(
            f"{root}: has test/<class>/ folders but no train/<class>/; add "
            f"{train_dir}/<class>/ with the training images"
        )
    train_files = _scan_split(train_dir if split else root, root)
    classes = tuple(sorted(train_files))
    if len(classes) > MAX_CLASSES:
        raise DataFormatError(f"{root}: {len(classes)} classes; at most {MAX_CLASSES} work")
    if not (split and test_dir.is_dir()):
        return (classes, *_hold_out(train_files, seed))
    test_files = _scan_split(test_dir, root)
    unknown = [c for c in test_files if c not in train_files]
    if unknown:
        raise DataFormatError(
            f"{test_dir / unknown[0]}: test class '{unknown[0]}' has no training folder "
            f"(training classes: {', '.join(classes)}); rename it to one of them or add "
            f"{train_dir / unknown[0]}/ with its training images"
        )
    train = [(p, i) for i, c in enumerate(classes) for p in train_files[c]]
    test = [(p, i) for i, c in enumerate(classes) for p in test_files.get(c, ())]
    return classes, train, test


def _size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if not (isinstance(h, Integral) and isinstance(w, Integral) and h > 0 and w > 0):
        raise ValueError(f"image_size must be a positive int or (height, width), got {image_size}")
    return int(h), int(w)


def _unreadable(path: Path, e: BaseException) -> DataFormatError:
    why = str(e) or type(e).__name__
    return DataFormatError(f"{path}: not a readable image (PIL says {why}); remove or replace it")


def _decode_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image

    return (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error,
            Image.DecompressionBombError)  # fmt: skip


def _header_size(path: Path) -> tuple[int, int]:
    """(height, width) of the image at ``path`` once turned upright, from its header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):  # turned by 90 degrees
                w, h = h, w
    except _decode_errors() as e:
        raise _unreadable(path, e) from e
    return h, w


def _decode(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The image at ``path``, upright, resized to ``size`` (h, w): uint8 (h, w) if its pixels
    are grey (an RGB file of grey pixels too), else (h, w, 3) RGB; alpha is dropped."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode.startswith("I;16"):  # 16-bit grey: keep the top 8 bits
                im = Image.fromarray((np.asarray(im) >> 8).astype(np.uint8))
            im = im.convert("L" if im.mode in _GREY_MODES else "RGB")
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # antialiased
            arr = np.asarray(im, dtype=np.uint8)
    except _decode_errors() as e:
        raise _unreadable(path, e) from e
    if arr.ndim == 3 and (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
        return arr[..., 0]
    return arr


def _decode_all(
    paths: list[Path], size: tuple[int, int], progress: ImageProgress | None
) -> np.ndarray:
    """(N, h, w) uint8 if every image is grey, else (N, h, w, 3)."""
    n = len(paths)
    out = np.empty((n, *size), np.uint8)
    every = max(1, n // 100)
    if progress:
        progress(0, n)
    for i, path in enumerate(paths):
        arr = _decode(path, size)
        if arr.ndim == 3 and out.ndim == 3:  # the first colour image: all become colour
            out = np.repeat(out[..., None], 3, axis=3)
        out[i] = arr[..., None] if out.ndim == 4 and arr.ndim == 2 else arr
        if progress and ((i + 1) % every == 0 or i + 1 == n):
            progress(i + 1, n)
    return out


def _fingerprint(root: Path, files: _Files, n_train: int, size: tuple[int, int] | None) -> str:
    """SHA-256 over the folder, the requested size and each file's name, size, time, label
    and split: any change to them gives another key."""
    entries = []
    for i, (p, label) in enumerate(files):
        st = p.stat()
        entries.append([p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns, label,
                        i < n_train])  # fmt: skip
    blob = json.dumps([CACHE_VERSION, str(root), size, entries], separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _cache_path(root: Path, size: tuple[int, int] | None, cache_dir) -> Path:
    tag = f"{size[0]}x{size[1]}" if size else "auto"
    name = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]
    return default_cache_dir(cache_dir) / CACHE_FOLDER / f"{name}-{tag}.npz"


def _load_cached(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path`` under ``key``, or None (absent, stale or unreadable)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return {k: z[k] for k in z.files if k != "key"}
    except Exception as e:  # a broken cache file is only a miss: decode again
        log.warning("ignoring unreadable cache file %s: %s", path, e)
        return None


def _store(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache file atomically; a cache that cannot be written is only logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda out: np.savez(out, key=np.array(key), **arrays))
    except OSError as e:
        log.warning("image folder not cached: %s", e)


def read_image_folder(
    root: str | os.PathLike,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    progress: ImageProgress | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> Dataset:
    """Read the image folder ``root`` (see the module docstring) into a Dataset.

    image_size: int or (height, width) every image is resized to (Pillow, bilinear with
        antialiasing); default the most common size (ties: the first in file order).
    seed: draws the 10% held out of each class when there is no test/ folder.
    progress: ``progress(done, total)`` while images are decoded.
    cache_dir: cache root (default ``$CNNVIZ_CACHE`` or the user cache); use_cache=False
        neither reads nor writes it.
    Returns images (N, H, W) uint8 if every image is grey, else (N, H, W, 3) RGB; the
    dataset is named after the folder. Raises DataUnavailableError if ``root`` does not
    exist, DataFormatError naming the file or folder for anything wrong inside it.
    """
    root = Path(root).absolute()
    if not root.is_dir():
        raise DataUnavailableError(f"image folder {root} does not exist; pass an existing folder")
    size = _size(image_size)
    classes, train, test = _scan(root, seed)
    files = train + test
    labels = np.array([label for _, label in files], np.uint8)
    n = len(train)
    path = key = None
    arrays = None
    if use_cache:
        key = _fingerprint(root, files, n, size)
        path = _cache_path(root, size, cache_dir)
        arrays = _load_cached(path, key)
    source = f"image folder {root}" + (" (decoded images from the cache)" if arrays else "")
    if arrays is None:
        if size is None:
            size = Counter(_header_size(p) for p, _ in files).most_common(1)[0][0]
        images = _decode_all([p for p, _ in files], size, progress)
        arrays = {"train_images": images[:n], "train_labels": labels[:n],
                  "test_images": images[n:], "test_labels": labels[n:]}  # fmt: skip
        if path is not None and key is not None:
            _store(path, key, arrays)
    return Dataset(root.name or "images", class_names=classes, source=source, **arrays)
