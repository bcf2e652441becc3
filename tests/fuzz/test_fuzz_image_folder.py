"""Fuzzing the image-folder reader: tiny class folders of PNG, JPEG and BMP files in every
mode Pillow writes (1, L, P, PA, LA, RGB, RGBA, I, I;16, F, CMYK...), zero-size, mixed
sizes, damaged, truncated or random files, and files that are no images at all.

A folder either reads as a Dataset of every image, resized to one size, with labels from
the class folders, or raises DataFormatError naming the file or folder.
"""

from __future__ import annotations

import io
import shutil
import zlib

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnviz.data.dataset import DataFormatError
from cnnviz.data.image_folder import read_image_folder
from tests.fuzz.strategies import examples, mutated

MODES = ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "RGBX", "I", "I;16", "F", "CMYK", "YCbCr")
FORMATS = {".png": "PNG", ".JPG": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


def _encode(mode: str, width: int, height: int, ext: str, seed: int) -> bytes | None:
    """An image of random pixels in ``mode`` and ``ext``'s format; None where Pillow
    cannot write that mode or size in that format."""
    try:
        image = Image.new(mode, (width, height))
        raw = np.random.default_rng(seed).integers(0, 256, len(image.tobytes()), np.uint8)
        image.frombytes(raw.tobytes())
        out = io.BytesIO()
        image.save(out, FORMATS[ext])
    except (OSError, ValueError, KeyError, SystemError):
        return None
    return out.getvalue()


def _zero_size_png(width: bool) -> bytes:
    """A grey PNG whose header says 0 pixels wide (or high), with the header's CRC fixed."""
    data = bytearray(_encode("L", 3, 2, ".png", 0))
    at = 16 if width else 20  # IHDR: width, then height, big-endian
    data[at : at + 4] = bytes(4)
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


@st.composite
def image_files(draw) -> tuple[str, bytes]:
    """(extension, content): an image, a mutated image, random bytes, an empty file or a
    PNG of zero pixels."""
    ext = draw(st.sampled_from(sorted(FORMATS)))
    kind = draw(st.sampled_from(("image", "image", "mutated", "random", "empty", "zero")))
    if kind == "random":
        return ext, draw(st.binary(max_size=64))
    if kind == "empty":
        return ext, b""
    if kind == "zero":
        return ".png", _zero_size_png(draw(st.booleans()))
    size = draw(st.tuples(st.integers(0, 6), st.integers(0, 6)))
    data = _encode(draw(st.sampled_from(MODES)), *size, ext, draw(st.integers(0, 9)))
    if data is None:
        return ".png", _encode("L", 3, 4, ".png", 0)
    return ext, draw(mutated(data)) if kind == "mutated" else data


@settings(max_examples=examples(0.5))
@given(st.lists(st.lists(image_files(), min_size=1, max_size=3), min_size=1, max_size=3),
       st.sampled_from([None, 4, (3, 5)]), st.booleans())
def test_folders_of_odd_and_damaged_images(tmp_path, classes, size, use_cache):
    root = tmp_path / "images"
    shutil.rmtree(root, ignore_errors=True)
    for c, files in enumerate(classes):
        (root / f"class{c}").mkdir(parents=True)
        (root / f"class{c}" / "notes.txt").write_text("not an image")
        for i, (ext, data) in enumerate(files):
            (root / f"class{c}" / f"{i}{ext}").write_bytes(data)
    try:
        ds = read_image_folder(root, size, cache_dir=tmp_path / "cache", use_cache=use_cache)
    except DataFormatError as e:
        assert str(root) in str(e)
        event("refused: DataFormatError")
        return
    event("read")
    images = np.concatenate([ds.train_images, ds.test_images])
    labels = np.concatenate([ds.train_labels, ds.test_labels])
    assert images.dtype == np.uint8 and images.ndim in (3, 4) and len(images) == len(labels)
    assert sorted(labels.tolist()) == [c for c, files in enumerate(classes) for _ in files]
    assert ds.class_names == tuple(f"class{c}" for c in range(len(classes)))
    if size is not None:
        assert images.shape[1:3] == ((size, size) if isinstance(size, int) else size)
    if images.ndim == 4:
        assert images.shape[3] == 3
