"""Synthesized inputs: what each channel of a layer, and each class, wants to see; and the
visualize command."""

import json

import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.core.losses import softmax
from cnnviz.data.idx import write_idx
from cnnviz.data.synthetic import synthetic_dataset, synthetic_images
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training.synthesis import best_test_inputs, synthesize
from tests.specs import bn_cnn, two_conv


def trained(spec, epochs=3):
    s = TrainingSession(TrainConfig(spec=spec, batch_size=32, epochs=epochs, val_size=60,
                                    lr=3e-3, seed=1), synthetic_dataset(600, 100))
    s.run()
    return s


def pixel_range(session):
    mean, std = (np.asarray(v, np.float32) for v in session.norm)
    return (0 - mean) / std, (1 - mean) / std


@pytest.fixture(scope="module")
def session():
    return trained(bn_cnn())


def test_synthesized_inputs_beat_the_best_test_image_on_the_first_conv(session):
    lo, hi = pixel_range(session)
    x = session.splits["test"][0]
    r = synthesize(session.model, "0.Conv2D", x.shape[1:], lo, hi, steps=100)
    _, best = best_test_inputs(session.model, x, "0.Conv2D")
    assert r.images.shape == (4, 1, 28, 28) and r.images.dtype == np.float32
    assert r.objective.shape == best.shape == (4,)
    assert (r.objective > best).mean() >= 0.75
    assert r.images.min() >= lo.min() - 1e-6 and r.images.max() <= hi.max() + 1e-6
    assert r.seconds > 0


def test_objective_is_the_channel_mean_it_reports(session):
    lo, hi = pixel_range(session)
    r = synthesize(session.model, "2.ReLU", (1, 28, 28), lo, hi, steps=20)
    h = r.images
    for lyr in session.model.layers[:3]:
        h = lyr.forward(h, False)
    np.testing.assert_allclose(r.objective, h[np.arange(4), np.arange(4)].mean(axis=(1, 2)),
                               rtol=1e-4, atol=1e-5)


def test_class_images_are_classified_as_their_class(session):
    lo, hi = pixel_range(session)
    r = synthesize(session.model, None, (1, 28, 28), lo, hi, classes=True)
    assert r.images.shape == (10, 1, 28, 28)
    probs = softmax(session.model.forward(r.images, False))
    assert (probs.argmax(axis=1) == np.arange(10)).all()
    assert np.diag(probs).min() > 0.5


def test_deterministic_by_seed_and_within_range(session):
    lo, hi = pixel_range(session)
    a = synthesize(session.model, "0.Conv2D", (1, 28, 28), lo, hi, steps=30, seed=3)
    b = synthesize(session.model, "0.Conv2D", (1, 28, 28), lo, hi, steps=30, seed=3)
    c = synthesize(session.model, "0.Conv2D", (1, 28, 28), lo, hi, steps=30, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    for r in (a, c):
        assert r.images.min() >= float(lo[0]) - 1e-6 and r.images.max() <= float(hi[0]) + 1e-6


def test_a_deeper_conv_layer_and_the_training_mode_is_untouched():
    s = trained(two_conv(), epochs=2)
    lo, hi = pixel_range(s)
    x = s.splits["test"][0]
    first = s.model.layers[0].input_grad
    r = synthesize(s.model, "3.Conv2D", x.shape[1:], lo, hi, steps=100)
    _, best = best_test_inputs(s.model, x, "3.Conv2D")
    assert r.images.shape == (6, 1, 28, 28) and best.shape == (6,)
    assert (r.objective > best).mean() >= 0.5
    assert s.model.layers[0].input_grad == first
    s.step()  # training goes on afterwards


def test_bad_layers_are_value_errors(session):
    lo, hi = pixel_range(session)
    with pytest.raises(ValueError, match="no layer"):
        synthesize(session.model, "9.Conv2D", (1, 28, 28), lo, hi, steps=2)
    with pytest.raises(ValueError, match="channels, height, width"):
        synthesize(session.model, "5.Dense", (1, 28, 28), lo, hi, steps=2)
    with pytest.raises(ValueError, match="classes=True"):
        synthesize(session.model, None, (1, 28, 28), lo, hi, steps=2)
    with pytest.raises(ValueError, match="channels, height, width"):
        best_test_inputs(session.model, session.splits["test"][0][:5], "5.Dense")


@pytest.mark.parametrize("layer, classes", [("2.ReLU", False), (None, True)])
def test_best_test_inputs_name_the_strongest_real_input(session, layer, classes):
    """Across several batches (BATCH is smaller than the test set), the index and objective
    of each channel's (or class's) strongest test input agree with a brute-force pass."""
    import cnnviz.training.synthesis as synthesis

    x = session.splits["test"][0][:70]
    old, synthesis.BATCH = synthesis.BATCH, 16
    try:
        index, best = best_test_inputs(session.model, x, layer, classes=classes)
    finally:
        synthesis.BATCH = old
    h = x
    for lyr in session.model.layers[: (len(session.model.layers) if classes else 3)]:
        h = lyr.forward(h, False)
    scores = h if classes else h.mean(axis=(2, 3))
    np.testing.assert_array_equal(index, scores.argmax(axis=0))
    np.testing.assert_allclose(best, scores.max(axis=0), rtol=1e-5, atol=1e-6)
    assert index.dtype == np.int64 and best.dtype == np.float32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(checkpoint path, data folder) of a small bn_cnn run on synthetic IDX files."""
    root = tmp_path_factory.mktemp("visualize")
    folder = root / "data"
    folder.mkdir()
    tx, ty = synthetic_images(400, 0)
    sx, sy = synthetic_images(100, 1)
    write_idx(folder / "train-images-idx3-ubyte", tx)
    write_idx(folder / "train-labels-idx1-ubyte", ty)
    write_idx(folder / "t10k-images-idx3-ubyte", sx)
    write_idx(folder / "t10k-labels-idx1-ubyte", sy)
    s = TrainingSession(TrainConfig(spec=bn_cnn(), batch_size=32, epochs=8, val_size=40,
                                    lr=3e-3, seed=1, data_dir=str(folder)))
    s.run()
    s.save(root / "run.npz")
    return root / "run.npz", folder


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_visualize_layer_prints_json_and_writes_a_grid(checkpoint, tmp_path, capsys):
    pytest.importorskip("PIL")
    ck, data = checkpoint
    png = tmp_path / "grid.png"
    assert main(["visualize", "--load", str(ck), "--data", str(data), "--layer", "0.Conv2D",
                 "--steps", "60", "--out", str(png), "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["layer"] == "0.Conv2D" and r["channels"] == 4
    assert len(r["activation"]) == len(r["best_test_activation"]) == 4
    assert r["seconds"] > 0
    from PIL import Image

    with Image.open(png) as img:
        assert img.size[0] > 28 and img.size[1] > 28


def test_visualize_classes_prints_probabilities(checkpoint, capsys):
    ck, data = checkpoint
    assert main(["visualize", "--load", str(ck), "--data", str(data), "--classes",
                 "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["classes"] == [str(i) for i in range(10)]
    assert len(r["probability"]) == 10 and min(r["probability"]) > 0.5


def test_visualize_errors_are_one_line(checkpoint, capsys):
    ck, data = checkpoint
    assert main(["visualize", "--load", str(ck), "--data", str(data), "--layer", "x"]) == 1
    err = capsys.readouterr().err
    assert "no layer 'x'" in err and "Traceback" not in err and len(err.splitlines()) == 1
