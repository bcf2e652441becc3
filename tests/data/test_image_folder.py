"""Image folders: layouts, grey and colour, resizing, the stratified holdout and the cache."""

import os

import numpy as np
import pytest
from PIL import Image

from cnnviz.data import image_folder
from cnnviz.data.dataset import DataFormatError, DataUnavailableError
from cnnviz.data.image_folder import holdout_count, read_image_folder
from cnnviz.data.sources import load_dataset
from cnnviz.data.synthetic import synthetic_images

MNIST_DIR = os.environ.get("CNNVIZ_DATA")  # read before the isolated fixture unsets it
PALETTE = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255],
     [0, 255, 255], [255, 128, 0], [128, 0, 255], [0, 128, 64], [200, 200, 200]],
    np.float32,
)  # fmt: skip


def _grey(n, seed=0):
    return synthetic_images(n, seed)  # (n, 28, 28) uint8, (n,) uint8


def _colour32(n, seed=0):
    """(n, 32, 32, 3) uint8: the synthetic squares padded to 32x32, tinted by class."""
    x, y = synthetic_images(n, seed)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2))).astype(np.float32)
    return (x[..., None] * PALETTE[y][:, None, None, :] / 255).astype(np.uint8), y


def _save(folder, images, labels, ext=".png", names=None, start=0):
    """Write image i to folder/<class name>/<start + i:04d><ext>; return the paths."""
    paths = []
    for i, (img, label) in enumerate(zip(images, labels)):
        d = folder / (names[label] if names else f"class{label}")
        d.mkdir(parents=True, exist_ok=True)
        paths.append(d / f"{start + i:04d}{ext}")
        Image.fromarray(img).save(paths[-1], quality=95)
    return paths


def _rows(images):
    return sorted(img.tobytes() for img in images)


def test_holdout_count():
    assert [holdout_count(n) for n in (0, 1, 2, 9, 10, 14, 15, 25, 100)] == [
        0, 0, 1, 1, 1, 1, 2, 3, 10,
    ]  # fmt: skip


def test_grey_png_round_trips_with_a_stratified_holdout(isolated, tmp_path):
    x, y = _grey(300)
    _save(tmp_path / "digits", x, y)
    ds = read_image_folder(tmp_path / "digits")
    assert ds.name == "digits" and ds.class_names == tuple(f"class{i}" for i in range(10))
    assert ds.channels == 1 and ds.image_shape == (1, 28, 28)
    assert ds.train_images.dtype == np.uint8 and ds.train_images.shape[1:] == (28, 28)
    assert len(ds.train_labels) + len(ds.test_labels) == 300
    for c in range(10):  # 10% of each class, rounded
        n = int((y == c).sum())
        assert (ds.test_labels == c).sum() == holdout_count(n)
        assert (ds.train_labels == c).sum() == n - holdout_count(n)
    # Exactly the same pixels, each with its own label.
    got = np.concatenate([ds.train_images, ds.test_images])
    got_labels = np.concatenate([ds.train_labels, ds.test_labels])
    assert _rows(got) == _rows(x)
    label_of = {img.tobytes(): label for img, label in zip(x, y)}
    assert all(label_of[img.tobytes()] == label for img, label in zip(got, got_labels))


def test_holdout_is_deterministic_for_the_seed(isolated, tmp_path):
    x, y = _grey(200)
    _save(tmp_path / "d", x, y)
    a = read_image_folder(tmp_path / "d", seed=1, use_cache=False)
    b = read_image_folder(tmp_path / "d", seed=1, use_cache=False)
    c = read_image_folder(tmp_path / "d", seed=2)
    np.testing.assert_array_equal(a.test_images, b.test_images)
    assert _rows(a.test_images) != _rows(c.test_images)
    np.testing.assert_array_equal(np.bincount(a.test_labels), np.bincount(c.test_labels))


def test_train_test_layout_colour_png(isolated, tmp_path):
    x, y = _colour32(120)
    names = ["cat", "dog", "eel", "emu", "fox", "gnu", "hen", "owl", "pig", "yak"]
    _save(tmp_path / "r" / "train", x[:100], y[:100], names=names)
    keep = y[100:] != 3  # the test split need not have every class
    _save(tmp_path / "r" / "test", x[100:][keep], y[100:][keep], names=names, start=100)
    ds = read_image_folder(tmp_path / "r")
    assert ds.class_names == tuple(names) and ds.channels == 3
    assert ds.image_shape == (3, 32, 32) and ds.train_images.shape == (100, 32, 32, 3)
    assert len(ds.test_labels) == keep.sum()
    # Order: by class, then by file name; PNG is lossless.
    order = np.lexsort((np.arange(100), y[:100]))
    np.testing.assert_array_equal(ds.train_images, x[:100][order])
    np.testing.assert_array_equal(ds.train_labels, y[:100][order])
    t_order = np.lexsort((np.arange(keep.sum()), y[100:][keep]))
    np.testing.assert_array_equal(ds.test_images, x[100:][keep][t_order])


def test_colour_jpeg_and_case_insensitive_extensions(isolated, tmp_path):
    x, y = _colour32(60, seed=3)
    _save(tmp_path / "j", x[:30], y[:30], ext=".jpg")
    _save(tmp_path / "j", x[30:], y[30:], ext=".JPEG", start=30)
    ds = read_image_folder(tmp_path / "j", use_cache=False)
    assert ds.channels == 3 and ds.image_shape == (3, 32, 32)
    got = np.concatenate([ds.train_images, ds.test_images])
    assert len(got) == 60
    # Lossy, but each image is close to one original of its class.
    labels = np.concatenate([ds.train_labels, ds.test_labels])
    for img, label in zip(got, labels):
        errs = np.abs(x[y == label].astype(int) - img.astype(int)).mean(axis=(1, 2, 3))
        assert errs.min() < 6


def test_one_colour_image_makes_the_dataset_colour(isolated, tmp_path):
    x, y = _grey(20)
    _save(tmp_path / "m", x, y)
    rgb_grey = np.repeat(x[0][..., None], 3, axis=2)  # an RGB file of grey pixels: grey
    Image.fromarray(rgb_grey).save(tmp_path / "m" / "class0" / "rgbgrey.png")
    assert read_image_folder(tmp_path / "m", use_cache=False).channels == 1
    colour = np.zeros((28, 28, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).save(tmp_path / "m" / "class0" / "red.bmp")
    ds = read_image_folder(tmp_path / "m", use_cache=False)
    assert ds.channels == 3 and ds.train_images.shape[1:] == (28, 28, 3)
    allimg = np.concatenate([ds.train_images, ds.test_images])
    reds = [img for img in allimg if (img[..., 0] == 200).all() and (img[..., 1] == 0).all()]
    assert len(reds) == 1
    greys = [img for img in allimg if (img[..., 0] == img[..., 2]).all()]
    assert _rows(g[..., 0] for g in greys) == _rows([*x, x[0]])


def test_resize_to_a_chosen_size_and_default_most_common(isolated, tmp_path):
    x, y = _grey(40)
    _save(tmp_path / "s", x, y)
    big = np.kron(x[0], np.ones((2, 2), np.uint8))  # one 56x56 image among 28x28 ones
    Image.fromarray(big).save(tmp_path / "s" / f"class{y[0]}" / "big.png")
    ds = read_image_folder(tmp_path / "s")
    assert ds.image_shape == (1, 28, 28)
    got = np.concatenate([ds.train_images, ds.test_images])
    assert sum(np.abs(g.astype(int) - x[0]).mean() < 8 for g in got) >= 2  # big, shrunk
    small = read_image_folder(tmp_path / "s", image_size=14)
    assert small.image_shape == (1, 14, 14)
    blocks = x.reshape(40, 14, 2, 14, 2).mean(axis=(2, 4))
    got = np.concatenate([small.train_images, small.test_images]).astype(float)
    errs = [np.abs(blocks - g).mean(axis=(1, 2)).min() for g in got]  # to the nearest block
    assert max(errs) < 12
    rect = read_image_folder(tmp_path / "s", image_size=(20, 24))
    assert rect.train_images.shape[1:] == (20, 24) and rect.image_shape == (1, 20, 24)
    with pytest.raises(ValueError, match="image_size"):
        read_image_folder(tmp_path / "s", image_size=0)


def test_other_and_hidden_files_are_ignored(isolated, tmp_path):
    x, y = _grey(30)
    _save(tmp_path / "h", x, y)
    (tmp_path / "h" / "class0" / "notes.txt").write_text("not an image")
    (tmp_path / "h" / "class0" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "h" / "class0" / "._0000.png").write_bytes(b"macOS junk")
    (tmp_path / "h" / ".thumbs").mkdir()
    (tmp_path / "h" / ".thumbs" / "t.png").write_bytes(b"junk")
    (tmp_path / "h" / "README.md").write_text("about")
    ds = read_image_folder(tmp_path / "h")
    assert len(ds.train_labels) + len(ds.test_labels) == 30 and ".thumbs" not in ds.class_names


def test_second_read_comes_from_the_cache(isolated, tmp_path, monkeypatch):
    x, y = _grey(50)
    paths = _save(tmp_path / "c", x, y)
    seen = []
    first = read_image_folder(tmp_path / "c", progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 50) and seen[-1] == (50, 50)
    assert "cache" not in first.source
    assert len(os.listdir(isolated / image_folder.CACHE_FOLDER)) == 1

    def no_decoding(*args, **kwargs):
        raise OSError("decoded again")

    monkeypatch.setattr(Image, "open", no_decoding)
    second = read_image_folder(tmp_path / "c")
    assert "from the cache" in second.source and second.class_names == first.class_names
    np.testing.assert_array_equal(second.train_images, first.train_images)
    np.testing.assert_array_equal(second.test_labels, first.test_labels)
    # A changed file invalidates it; so does use_cache=False.
    with pytest.raises(DataFormatError, match="decoded again"):
        read_image_folder(tmp_path / "c", use_cache=False)
    st = paths[0].stat()
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(DataFormatError, match="decoded again"):
        read_image_folder(tmp_path / "c")


def test_unwritable_cache_still_reads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    x, y = _grey(20)
    _save(tmp_path / "u", x, y)
    ds = read_image_folder(tmp_path / "u", cache_dir=blocker)
    assert len(ds.train_labels) + len(ds.test_labels) == 20


@pytest.mark.parametrize("content", [b"this is no PNG", "half"])
def test_corrupt_image_is_named(isolated, tmp_path, content):
    x, y = _grey(20)
    paths = _save(tmp_path / "b", x, y)
    bad = paths[7]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if content == "half" else content)
    with pytest.raises(DataFormatError) as info:
        read_image_folder(tmp_path / "b")
    msg = str(info.value)
    assert msg.startswith(f"{bad}: not a readable image (PIL says ")
    assert msg.endswith("); remove or replace it")


def test_class_folder_without_images(isolated, tmp_path):
    x, y = _grey(20)
    _save(tmp_path / "e", x, y)
    (tmp_path / "e" / "zebra").mkdir()
    (tmp_path / "e" / "zebra" / "readme.txt").write_text("soon")
    with pytest.raises(DataFormatError, match=r"zebra: class folder 'zebra' holds no PNG"):
        read_image_folder(tmp_path / "e")


def test_unknown_test_class(isolated, tmp_path):
    x, y = _grey(30)
    _save(tmp_path / "t" / "train", x[:20], y[:20], names=[f"d{i}" for i in range(10)])
    _save(tmp_path / "t" / "test", x[20:], y[20:], names=[f"d{i}" for i in range(10)])
    _save(tmp_path / "t" / "test", x[:1], [0], names=["unicorn"])
    with pytest.raises(DataFormatError) as info:
        read_image_folder(tmp_path / "t")
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 't' / 'test' / 'unicorn'}: test class 'unicorn'")
    assert "d0, d1" in msg


def test_empty_roots_and_missing_train(isolated, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="no class folder with images"):
        read_image_folder(tmp_path / "empty")
    x, y = _grey(3)
    for i, img in enumerate(x):
        Image.fromarray(img).save(tmp_path / "empty" / f"{i}.png")
    with pytest.raises(DataFormatError, match=r"\(3 images lie directly in it\)"):
        read_image_folder(tmp_path / "empty")
    _save(tmp_path / "only-test" / "test", x, y)
    with pytest.raises(DataFormatError, match=r"test/<class>/ folders but no train/<class>/"):
        read_image_folder(tmp_path / "only-test")
    with pytest.raises(DataUnavailableError, match="does not exist"):
        read_image_folder(tmp_path / "nowhere")


def test_classes_called_train_and_test_in_a_flat_layout(isolated, tmp_path):
    x, y = _grey(40)
    _save(tmp_path / "f", x, y % 3, names=["test", "train", "zoo"])
    ds = read_image_folder(tmp_path / "f")
    assert ds.class_names == ("test", "train", "zoo")
    assert len(ds.train_labels) + len(ds.test_labels) == 40


def test_load_dataset_recognises_an_image_folder(isolated, tmp_path):
    x, y = _colour32(40)
    _save(tmp_path / "pets", x, y)
    seen = []
    ds = load_dataset(tmp_path / "pets", image_size=16, progress=lambda *a: seen.append(a))
    assert ds.name == "pets" and ds.image_shape == (3, 16, 16)
    assert seen[-1] == (f"decoding images in {tmp_path / 'pets'}", 40, 40)
    load_dataset(tmp_path / "pets", cache_dir=tmp_path / "own-cache")
    assert len(os.listdir(tmp_path / "own-cache" / image_folder.CACHE_FOLDER)) == 1


def test_load_dataset_names_every_layout_for_an_unknown_folder(isolated, tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(tmp_path / "nothing")
    msg = str(info.value)
    assert "train-images-idx3-ubyte" in msg and "data_batch_1.bin" in msg
    assert "sub-folder per class" in msg


@pytest.mark.mnist
@pytest.mark.skipif(not MNIST_DIR, reason="CNNVIZ_DATA is not set")
def test_real_mnist_digits_round_trip_as_png(isolated, tmp_path):
    from cnnviz.data.folder import load_folder

    mnist = load_folder(MNIST_DIR)
    x, y = mnist.test_images[:400], mnist.test_labels[:400]
    names = [str(i) for i in range(10)]
    _save(tmp_path / "m" / "train", x[:300], y[:300], names=names)
    _save(tmp_path / "m" / "test", x[300:], y[300:], names=names, start=300)
    ds = read_image_folder(tmp_path / "m")
    assert ds.class_names == mnist.class_names and ds.image_shape == (1, 28, 28)
    order = np.lexsort((np.arange(300), y[:300]))
    np.testing.assert_array_equal(ds.train_images, x[:300][order])
    np.testing.assert_array_equal(ds.train_labels, y[:300][order])
    t_order = np.lexsort((np.arange(100), y[300:]))
    np.testing.assert_array_equal(ds.test_images, x[300:][t_order])
    np.testing.assert_array_equal(ds.test_labels, y[300:][t_order])


def test_other_pillow_modes(isolated, tmp_path):
    """Alpha is dropped, a palette of greys is grey, 16-bit grey keeps its top 8 bits."""
    x, _ = _grey(4)
    d = tmp_path / "modes" / "a"
    d.mkdir(parents=True)
    Image.fromarray(x[0]).convert("LA").save(d / "la.png")
    Image.fromarray(x[1]).convert("P").save(d / "p.png")
    Image.fromarray(x[2].astype(np.uint16) * 257).save(d / "i16.png")
    Image.fromarray(x[3]).save(d / "l.bmp")
    ds = read_image_folder(tmp_path / "modes", use_cache=False)
    assert ds.channels == 1
    assert _rows(np.concatenate([ds.train_images, ds.test_images])) == _rows(x)
    Image.fromarray(np.stack([x[0]] * 3 + [x[1]], axis=-1), "RGBA").save(d / "rgba.png")
    ds = read_image_folder(tmp_path / "modes", use_cache=False)
    assert ds.channels == 1 and len(ds.train_labels) + len(ds.test_labels) == 5
