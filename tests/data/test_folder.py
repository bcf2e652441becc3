"""Reading a folder of the four MNIST-layout IDX files."""

import numpy as np
import pytest

from cnnviz.data.dataset import MNIST_FILES, DataUnavailableError
from cnnviz.data.folder import find_files, load_folder
from cnnviz.data.idx import IDXError


def test_find_files_prefers_raw_and_lists_missing(tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    write_folder(tmp_path, {MNIST_FILES[0]: arrays[MNIST_FILES[0]]}, gz=False)
    write_folder(tmp_path, {MNIST_FILES[0]: arrays[MNIST_FILES[0]]}, gz=True)
    write_folder(tmp_path, {MNIST_FILES[1]: arrays[MNIST_FILES[1]]}, gz=True)
    found, missing = find_files(tmp_path)
    assert found == {
        MNIST_FILES[0]: tmp_path / MNIST_FILES[0],
        MNIST_FILES[1]: tmp_path / f"{MNIST_FILES[1]}.gz",
    }
    assert missing == list(MNIST_FILES[2:])


def test_mixed_raw_and_gz(tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    folder = tmp_path / "d"
    write_folder(folder, dict(list(arrays.items())[:2]), gz=True)
    write_folder(folder, dict(list(arrays.items())[2:]), gz=False)
    ds = load_folder(folder)
    assert ds.name == "mnist" and ds.class_names == tuple("0123456789")
    np.testing.assert_array_equal(ds.train_images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert ds.train_images.shape == (40, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.source == f"folder {folder}"
    assert "train=40" in repr(ds)
    assert load_folder(folder, "fmnist", source="given").source == "given"


def test_missing_files_are_named(tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    folder = write_folder(tmp_path / "partial", {k: arrays[k] for k in MNIST_FILES[:2]})
    with pytest.raises(DataUnavailableError) as info:
        load_folder(folder)
    msg = str(info.value)
    assert str(folder) in msg and "CNNVIZ_DATA" in msg
    for base in MNIST_FILES[2:]:
        assert base in msg
    for base in MNIST_FILES[:2]:
        assert base not in msg


def test_folder_does_not_exist(tmp_path):
    with pytest.raises(DataUnavailableError, match="nowhere does not exist"):
        load_folder(tmp_path / "nowhere")


def test_wrong_layout_is_reported(tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    arrays["train-images-idx3-ubyte"] = np.zeros((40, 32, 32), np.uint8)
    write_folder(tmp_path / "d", arrays)
    with pytest.raises(IDXError, match=r"train-images-idx3-ubyte.*\(40, 32, 32\)"):
        load_folder(tmp_path / "d")


def test_label_count_mismatch(tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    arrays["t10k-labels-idx1-ubyte"] = arrays["t10k-labels-idx1-ubyte"][:-1]
    write_folder(tmp_path / "d", arrays)
    with pytest.raises(IDXError, match="11 labels for 12 images"):
        load_folder(tmp_path / "d")


def test_label_out_of_range(tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    arrays["train-labels-idx1-ubyte"][3] = 10
    write_folder(tmp_path / "d", arrays)
    with pytest.raises(IDXError, match="label 10 is out of range for 10 classes"):
        load_folder(tmp_path / "d")


def test_broken_file_is_named(tmp_path, fake_arrays, write_folder):
    write_folder(tmp_path / "d", fake_arrays())
    bad = tmp_path / "d" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-8])
    with pytest.raises(IDXError, match="train-labels-idx1-ubyte.gz"):
        load_folder(tmp_path / "d")
