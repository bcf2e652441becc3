"""CIFAR-10's binary layout: reading, errors, detection, and the download into the cache."""

import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

from cnnviz.data import cifar
from cnnviz.data.cifar import CIFAR_DIR, CIFAR_FILES, read_cifar10_binary
from cnnviz.data.dataset import (
    CIFAR10_CLASSES,
    DataFormatError,
    DataUnavailableError,
    canonical_name,
)
from cnnviz.data.sources import available_datasets, load_dataset
from cnnviz.data.synthetic import synthetic_images

BATCH = 12  # records per fake batch (the real ones hold 10000)


def _images(n, seed):
    """(n, 32, 32, 3) uint8 colour images and (n,) labels: synthetic squares, tinted."""
    x, y = synthetic_images(n, seed)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    rgb = np.stack([x, x // 2, 255 - x], axis=-1).astype(np.uint8)
    return rgb, y


def _records(images, labels):
    """The CIFAR binary bytes: per image 1 label byte, then the R, G and B planes."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8).tobytes()


def _fake_cifar():
    """{file name: bytes} of a small CIFAR-10 layout, and its train/test arrays."""
    tx, ty = _images(5 * BATCH, 0)
    sx, sy = _images(BATCH, 1)
    files = {
        f"data_batch_{i + 1}.bin": _records(tx[i * BATCH : (i + 1) * BATCH],
                                            ty[i * BATCH : (i + 1) * BATCH])
        for i in range(5)
    }  # fmt: skip
    files["test_batch.bin"] = _records(sx, sy)
    files["batches.meta.txt"] = ("\n".join(CIFAR10_CLASSES) + "\n\n").encode()
    return files, (tx, ty, sx, sy)


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_read_the_binary_layout_from_the_folder_or_its_parent(tmp_path):
    files, (tx, ty, sx, sy) = _fake_cifar()
    where = _write(tmp_path / "parent" / CIFAR_DIR, files)
    for folder in (where, tmp_path / "parent"):
        ds = read_cifar10_binary(folder)
        assert ds.name == "cifar10" and ds.class_names == CIFAR10_CLASSES
        assert ds.channels == 3 and ds.image_shape == (3, 32, 32)
        assert ds.train_images.shape == (5 * BATCH, 32, 32, 3) and ds.train_images.dtype == np.uint8
        np.testing.assert_array_equal(ds.train_images, tx)
        np.testing.assert_array_equal(ds.train_labels, ty)
        np.testing.assert_array_equal(ds.test_images, sx)
        np.testing.assert_array_equal(ds.test_labels, sy)
        assert ds.source == f"folder {where}"


def test_channel_order_and_row_major_planes(tmp_path):
    files, _ = _fake_cifar()
    record = np.zeros(3073, np.uint8)
    record[0] = 7
    record[1 + 0 * 1024 + 1 * 32 + 2] = 200  # red at row 1, column 2
    record[1 + 2 * 1024 + 31 * 32 + 0] = 99  # blue at row 31, column 0
    files["test_batch.bin"] = record.tobytes()
    ds = read_cifar10_binary(_write(tmp_path / "c", files))
    img = ds.test_images[0]
    assert ds.test_labels.tolist() == [7] and ds.class_names[7] == "horse"
    assert img[1, 2].tolist() == [200, 0, 0] and img[31, 0].tolist() == [0, 0, 99]
    assert int(img.sum()) == 299


def test_class_names_from_the_meta_file(tmp_path):
    files, _ = _fake_cifar()
    files["batches.meta.txt"] = "\n".join(f"thing{i}" for i in range(10)).encode()
    assert read_cifar10_binary(_write(tmp_path / "a", files)).class_names[3] == "thing3"
    del files["batches.meta.txt"]
    assert read_cifar10_binary(_write(tmp_path / "b", files)).class_names == CIFAR10_CLASSES
    files["batches.meta.txt"] = b"cat\ndog\n"
    with pytest.raises(DataFormatError, match="2 class names, expected 10"):
        read_cifar10_binary(_write(tmp_path / "c", files))


def test_truncated_batch_is_named_with_its_size(tmp_path):
    files, _ = _fake_cifar()
    files["data_batch_3.bin"] = files["data_batch_3.bin"][:-1]
    folder = _write(tmp_path / "t", files)
    with pytest.raises(DataFormatError) as info:
        read_cifar10_binary(folder)
    msg = str(info.value)
    assert msg.startswith(f"{folder / 'data_batch_3.bin'}: {BATCH * 3073 - 1} bytes")
    assert "truncated" in msg and "3073-byte records" in msg


def test_missing_batch_and_bad_label(tmp_path):
    files, _ = _fake_cifar()
    del files["data_batch_5.bin"]
    with pytest.raises(DataUnavailableError, match="lacks data_batch_5.bin"):
        read_cifar10_binary(_write(tmp_path / "m", files))
    files, _ = _fake_cifar()
    bad = bytearray(files["test_batch.bin"])
    bad[3073] = 10
    files["test_batch.bin"] = bytes(bad)
    with pytest.raises(DataFormatError, match="test_batch.bin: label 10 is out of range"):
        read_cifar10_binary(_write(tmp_path / "l", files))


def test_load_dataset_recognises_the_layout(isolated, tmp_path):
    files, (tx, *_) = _fake_cifar()
    _write(tmp_path / "dl" / CIFAR_DIR, files)
    ds = load_dataset(tmp_path / "dl")
    assert ds.name == "cifar10" and ds.train_images.shape == tx.shape
    assert canonical_name("CIFAR-10") == "cifar10"


def _archive(tmp_path, files, extra=()):
    """A .tar.gz like the official one (after ``extra`` members); its file:// URL and MD5."""
    path = tmp_path / "archive" / "cifar-10-binary.tar.gz"
    path.parent.mkdir(exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        members = list(extra) + [(f"{CIFAR_DIR}/{n}", d) for n, d in files.items()]
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:  # a symbolic link
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path.as_uri(), hashlib.md5(path.read_bytes()).hexdigest()


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_download_checks_md5_and_extracts_only_the_batches(isolated, tmp_path, monkeypatch):
    files, (tx, ty, sx, sy) = _fake_cifar()
    hostile = [
        ("../escaped.bin", b"x"),
        (f"{CIFAR_DIR}/../../escaped2.bin", b"x"),
        (f"{CIFAR_DIR}/readme.html", b"<html>"),
        ("/tmp/absolute.bin", b"x"),
        (f"{CIFAR_DIR}/link.bin", None),
        (f"{CIFAR_DIR}/batches.meta.txt", None),  # a link where a batch file belongs
    ]
    url, md5 = _archive(tmp_path, files, hostile)
    monkeypatch.setattr(cifar, "CIFAR10_URL", url)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5)
    assert "cifar10" not in available_datasets()
    seen = []
    ds = load_dataset(name="cifar-10", progress=lambda *a: seen.append(a))
    np.testing.assert_array_equal(ds.train_images, tx)
    np.testing.assert_array_equal(ds.test_labels, sy)
    assert ds.source.startswith(f"cache {isolated / 'cifar10'}") and url in ds.source
    assert _listing(isolated) == sorted(f"cifar10/{CIFAR_DIR}/{f}" for f in CIFAR_FILES)
    assert not (tmp_path / "escaped.bin").exists() and not os.path.exists("/tmp/absolute.bin")
    assert seen[-1][0] == "cifar-10-binary.tar.gz" and seen[-1][1] == seen[-1][2] > 0
    assert "cifar10" in available_datasets()
    # Second load: from the cache, without the archive.
    monkeypatch.setattr(cifar, "CIFAR10_URL", (tmp_path / "gone.tar.gz").as_uri())
    assert load_dataset(name="cifar10").source == f"cache {isolated / 'cifar10'}"


def test_download_with_wrong_md5_leaves_nothing(isolated, tmp_path, monkeypatch):
    files, _ = _fake_cifar()
    url, _ = _archive(tmp_path, files)
    monkeypatch.setattr(cifar, "CIFAR10_URL", url)
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(name="cifar10")
    msg = str(info.value)
    assert "MD5" in msg and cifar.CIFAR10_MD5 in msg and url in msg and "--data DIR" in msg
    assert len(info.value.attempts) == 2
    assert _listing(isolated) == []


def test_archive_without_a_member_or_with_a_cut_batch(isolated, tmp_path, monkeypatch):
    files, _ = _fake_cifar()
    del files["test_batch.bin"]
    url, md5 = _archive(tmp_path, files)
    monkeypatch.setattr(cifar, "CIFAR10_URL", url)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5)
    with pytest.raises(DataUnavailableError, match="archive lacks test_batch.bin"):
        load_dataset(name="cifar10")
    assert _listing(isolated) == []  # nothing of a partial extraction is kept
    files, _ = _fake_cifar()
    files["data_batch_2.bin"] = files["data_batch_2.bin"][:100]
    url, md5 = _archive(tmp_path, files)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5)
    with pytest.raises(DataUnavailableError, match=r"data_batch_2.bin: 100 bytes .*truncated"):
        load_dataset(name="cifar10")
    assert _listing(isolated) == []


def test_no_download_when_off(isolated, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR10_URL", (tmp_path / "never-read").as_uri())
    with pytest.raises(DataUnavailableError, match="downloading is off"):
        load_dataset(name="cifar10", download=False)
    assert _listing(isolated) == []
