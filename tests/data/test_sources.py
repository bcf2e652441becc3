"""The order in which load_dataset tries its sources, and which datasets are available."""

import numpy as np
import pytest

from cnnviz.data import sources
from cnnviz.data.dataset import MNIST_FILES, DataUnavailableError
from cnnviz.data.idx import write_idx
from cnnviz.data.sources import available_datasets, load_dataset


def test_explicit_folder(isolated, tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    folder = write_folder(tmp_path / "d", arrays)
    ds = load_dataset(folder, name="fmnist")
    assert ds.name == "fashion-mnist" and ds.source == f"folder {folder}"
    np.testing.assert_array_equal(ds.train_images, arrays["train-images-idx3-ubyte"])


def test_explicit_folder_missing_files_and_nothing_else_tried(
    isolated, tmp_path, fake_arrays, write_folder
):
    # A complete cache exists, but an explicit folder means nothing else is tried.
    write_folder(isolated / "mnist", fake_arrays())
    folder = tmp_path / "partial"
    arrays = fake_arrays()
    write_folder(folder, {k: arrays[k] for k in MNIST_FILES[:2]})
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(folder)
    msg = str(info.value)
    assert str(folder) in msg and str(isolated) not in msg
    for base in MNIST_FILES[2:]:
        assert base in msg


def test_explicit_folder_does_not_exist(isolated, tmp_path):
    with pytest.raises(DataUnavailableError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_env_var_folder(isolated, tmp_path, monkeypatch, fake_arrays, write_folder):
    arrays = fake_arrays(n_train=5)
    write_folder(tmp_path / "env", arrays)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path / "env"))
    ds = load_dataset()
    assert len(ds.train_labels) == 5 and "CNNVIZ_DATA" in ds.source
    # Missing files in the env folder: an error, no fallback to anything else.
    (tmp_path / "env" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataUnavailableError, match="t10k-labels-idx1-ubyte"):
        load_dataset()


def test_fashion_names_and_debian_dir(isolated, tmp_path, monkeypatch, fake_arrays, write_folder):
    fashion = write_folder(tmp_path / "usr-share-fashion", fake_arrays(seed=3))
    monkeypatch.setattr(sources, "FASHION_MNIST_DIRS", (fashion,))
    ds = load_dataset(name="fashion-mnist")
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert str(fashion) in ds.source
    assert load_dataset(fashion, name="fashion").name == "fashion-mnist"
    assert available_datasets() == ["fashion-mnist"]


def test_fashion_in_the_cache(isolated, fake_arrays, write_folder):
    folder = write_folder(isolated / "fashion-mnist", fake_arrays(seed=4))
    ds = load_dataset(name="fmnist")
    assert ds.name == "fashion-mnist" and ds.source == f"folder {folder}"


def test_fashion_not_found_says_how(isolated):
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(name="fashion-mnist")
    msg = str(info.value)
    assert "dataset-fashion-mnist" in msg and "--data" in msg and "no-fashion" in msg
    assert len(info.value.attempts) == 2


def test_unknown_name(isolated):
    with pytest.raises(ValueError, match="fashion-mnist.*cifar10.*one sub-folder per class"):
        load_dataset(name="imagenet")


def test_available_datasets(isolated, tmp_path, monkeypatch, fake_arrays, write_folder):
    assert available_datasets() == []
    write_folder(isolated / "mnist", fake_arrays())
    assert available_datasets() == ["mnist"]
    assert available_datasets(tmp_path / "other-cache") == []
    monkeypatch.setenv("CNNVIZ_DATA", str(write_folder(tmp_path / "env", fake_arrays())))
    assert available_datasets(tmp_path / "other-cache") == ["mnist"]


def test_cache_is_used_before_any_download(fake, isolated, write_folder):
    write_folder(isolated / "mnist", fake)
    ds = load_dataset()
    assert ds.source == f"cache {isolated / 'mnist'}"
    np.testing.assert_array_equal(ds.test_labels, fake["t10k-labels-idx1-ubyte"])


def test_broken_cache_file_is_reported_when_downloading_is_off(fake, isolated, write_folder):
    write_folder(isolated / "mnist", fake)
    write_idx(isolated / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(12, np.uint8))
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(download=False)
    msg = str(info.value)
    assert "downloading is off" in msg and "SHA-256" in msg
    assert "missing t10k-labels-idx1-ubyte" in msg


def test_cache_folder_that_cannot_be_created(fake, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataUnavailableError, match="could not be stored") as info:
        load_dataset(cache_dir=blocker)
    assert "CNNVIZ_CACHE=DIR" in str(info.value)
