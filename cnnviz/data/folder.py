"""Read a folder holding the four MNIST-layout IDX files (raw or .gz) into a Dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnnviz.data.dataset import MNIST_FILES, Dataset, DataUnavailableError, class_names_for
from cnnviz.data.idx import IDXError, read_idx

__all__ = ["DATA_ENV", "find_files", "load_folder"]

#: Environment variable naming the MNIST folder (the same as ``--data DIR``).
DATA_ENV = "CNNVIZ_DATA"


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
    folder: str | os.PathLike, name: str = "mnist", source: str | None = None
) -> Dataset:
    """Load the four MNIST-layout IDX files from ``folder``; no checksum is applied.

    Raises DataUnavailableError naming the folder and each missing file, IDXError for a
    broken file or one that does not fit the layout.
    """
    folder = Path(folder)
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
    arrays = {base: read_idx(path) for base, path in paths.items()}
    _check_layout(arrays, paths, len(class_names_for(name)))
    return Dataset.from_arrays(name, arrays, source or f"folder {folder}")
