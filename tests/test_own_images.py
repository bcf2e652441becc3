"""Training on your own images through the CLI: the same MNIST digits as IDX files, as a grey
PNG image folder, as 32x32 colour PNG and JPEG folders, and in the CIFAR-10 binary layout reach
about the same accuracy."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cnnviz.cli import main

pytestmark = [pytest.mark.mnist,
              pytest.mark.skipif(not os.environ.get("CNNVIZ_DATA"), reason="needs CNNVIZ_DATA")]

N_TRAIN, N_TEST = 2000, 500
TINT = np.array([[1.0, 0.6, 0.3], [0.3, 1.0, 0.6], [0.6, 0.3, 1.0]])  # by index, not by class


@pytest.fixture(scope="module")
def digits():
    from cnnviz.data.sources import load_dataset

    ds = load_dataset(os.environ["CNNVIZ_DATA"])
    return (ds.train_images[:N_TRAIN], ds.train_labels[:N_TRAIN],
            ds.test_images[:N_TEST], ds.test_labels[:N_TEST], ds.class_names)


def colour32(images, labels):
    """(N, 28, 28) digits -> (N, 32, 32, 3): padded by 2, each tinted one of three colours
    by its index (so the colour says nothing of the class)."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    tint = TINT[np.arange(len(labels)) % 3]
    return (padded[..., None] * tint[:, None, None, :]).astype(np.uint8)


def write_folder(root, images, labels, names, ext):
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}{ext}", quality=95)


def train(capsys, *args) -> float:
    capsys.readouterr()
    assert main(["train", "--epochs", "1", "--val-size", "0", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_accuracy"]


def test_the_same_digits_learn_alike_in_every_layout(digits, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))
    tx, ty, sx, sy, names = digits
    idx = train(capsys, "--data", os.environ["CNNVIZ_DATA"], "--limit-train", str(N_TRAIN),
                "--limit-test", str(N_TEST))
    results = {}
    for kind, ext, convert in (("grey", ".png", lambda x, y: x),
                               ("colour", ".png", colour32), ("colour", ".jpg", colour32)):
        root = tmp_path / f"{kind}{ext}"
        write_folder(root / "train", convert(tx, ty), ty, names, ext)
        write_folder(root / "test", convert(sx, sy), sy, names, ext)
        results[kind + ext] = train(capsys, "--data", str(root))
    cifar = tmp_path / "cifar" / "cifar-10-batches-bin"
    cifar.mkdir(parents=True)

    def records(images, labels):
        planes = colour32(images, labels).transpose(0, 3, 1, 2).reshape(len(labels), -1)
        return np.c_[labels.astype(np.uint8), planes].astype(np.uint8).tobytes()

    for i, part in enumerate(np.array_split(np.arange(N_TRAIN), 5)):
        (cifar / f"data_batch_{i + 1}.bin").write_bytes(records(tx[part], ty[part]))
    (cifar / "test_batch.bin").write_bytes(records(sx, sy))
    (cifar / "batches.meta.txt").write_text("\n".join(names) + "\n")
    results["cifar"] = train(capsys, "--data", str(cifar.parent))
    assert idx > 0.85, idx
    for name, acc in results.items():  # the order of the batches differs, so not bitwise
        assert acc > idx - 0.05, (name, acc, idx)
