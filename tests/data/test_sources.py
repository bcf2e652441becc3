import io

import numpy as np
import pytest

from cnnviz.data import sources
from cnnviz.data.idx import IDXError, write_idx
from cnnviz.data.sources import MNIST_FILES, DataUnavailableError, available_datasets, load_dataset


def test_explicit_folder_mixed_raw_and_gz(isolated, tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    folder = tmp_path / "d"
    write_folder(folder, dict(list(arrays.items())[:2]), gz=True)
    write_folder(folder, dict(list(arrays.items())[2:]), gz=False)
    ds = load_dataset(folder)
    assert ds.name == "mnist" and ds.class_names == tuple("0123456789")
    np.testing.assert_array_equal(ds.train_images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert ds.train_images.shape == (40, 28, 28) and ds.train_images.dtype == np.uint8
    assert str(folder) in ds.source
    assert "train=40" in repr(ds)


def test_explicit_folder_missing_files_named_and_nothing_else_tried(
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
    assert str(folder) in msg
    for base in MNIST_FILES[2:]:
        assert base in msg
    for base in MNIST_FILES[:2]:
        assert base not in msg


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


def test_wrong_layout_is_reported(isolated, tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    arrays["train-images-idx3-ubyte"] = np.zeros((40, 32, 32), np.uint8)
    write_folder(tmp_path / "d", arrays)
    with pytest.raises(IDXError, match=r"train-images-idx3-ubyte.*\(40, 32, 32\)"):
        load_dataset(tmp_path / "d")


def test_label_count_mismatch(isolated, tmp_path, fake_arrays, write_folder):
    arrays = fake_arrays()
    arrays["t10k-labels-idx1-ubyte"] = arrays["t10k-labels-idx1-ubyte"][:-1]
    write_folder(tmp_path / "d", arrays)
    with pytest.raises(IDXError, match="11 labels for 12 images"):
        load_dataset(tmp_path / "d")


def test_broken_file_in_explicit_folder_names_it(isolated, tmp_path, fake_arrays, write_folder):
    write_folder(tmp_path / "d", fake_arrays())
    bad = tmp_path / "d" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-8])
    with pytest.raises(IDXError, match="train-labels-idx1-ubyte.gz"):
        load_dataset(tmp_path / "d")


def test_fashion_names_and_debian_dir(isolated, tmp_path, monkeypatch, fake_arrays, write_folder):
    fashion = write_folder(tmp_path / "usr-share-fashion", fake_arrays(seed=3))
    monkeypatch.setattr(sources, "FASHION_MNIST_DIRS", (fashion,))
    ds = load_dataset(name="fashion-mnist")
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert str(fashion) in ds.source
    assert load_dataset(fashion, name="fashion").name == "fashion-mnist"
    assert available_datasets() == ["fashion-mnist"]


def test_fashion_not_found_says_how(isolated):
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(name="fashion-mnist")
    msg = str(info.value)
    assert "dataset-fashion-mnist" in msg and "--data" in msg and "no-fashion" in msg


def test_unknown_name(isolated):
    with pytest.raises(ValueError, match="fashion-mnist"):
        load_dataset(name="cifar10")


def test_available_datasets(isolated, tmp_path, fake_arrays, write_folder):
    assert available_datasets() == []
    write_folder(isolated / "mnist", fake_arrays())
    assert available_datasets() == ["mnist"]


def test_cache_is_used_and_verified(
    isolated, tmp_path, monkeypatch, fake_arrays, write_folder, raw_sha
):

    arrays = fake_arrays()
    monkeypatch.setattr(sources, "MNIST_SHA256", raw_sha(arrays, tmp_path / "h"))
    write_folder(isolated / "mnist", arrays)
    ds = load_dataset()
    assert ds.source == f"cache {isolated / 'mnist'}"
    # A cached file with the wrong content is deleted and reported; downloading is off.
    write_idx(isolated / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(12, np.uint8))
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(download=False)
    assert "SHA-256" in str(info.value)
    assert not (isolated / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_tqdm_progress_draws_a_bar():
    out = io.StringIO()
    with sources.tqdm_progress(file=out, mininterval=0) as p:
        p("train-images-idx3-ubyte.gz", 0, 2048)
        p("train-images-idx3-ubyte.gz", 2048, 2048)
        p("other", 10, None)
    text = out.getvalue()
    assert "train-images-idx3-ubyte.gz" in text and "100%" in text and "other" in text
