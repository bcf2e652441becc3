"""The command line: train/evaluate/bench/summary/lr-find, JSON output, and one-line errors."""

import io
import json

import pytest

from cnnviz.cli import DownloadBars, main
from cnnviz.core.layers import Conv2D
from cnnviz.data.idx import write_idx
from cnnviz.data.synthetic import synthetic_images
from cnnviz.training.checkpoint import read_checkpoint


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    tx, ty = synthetic_images(400, 0)
    sx, sy = synthetic_images(100, 1)
    write_idx(folder / "train-images-idx3-ubyte.gz", tx)
    write_idx(folder / "train-labels-idx1-ubyte.gz", ty)
    write_idx(folder / "t10k-images-idx3-ubyte", sx)
    write_idx(folder / "t10k-labels-idx1-ubyte", sy)
    return folder


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_train_json_save_evaluate_and_resume(data_dir, tmp_path, capsys):
    ck = tmp_path / "run.npz"
    args = ["train", "--arch", "lenet5", "--data", str(data_dir), "--epochs", "3",
            "--batch-size", "32", "--val-size", "40", "--optimizer", "adam", "--lr", "3e-3",
            "--json", "--save", str(ck)]
    assert main(args) == 0
    r = last_json(capsys.readouterr().out)
    for key in ("test_accuracy", "test_loss", "epochs", "seconds", "images_per_second",
                "peak_memory_mb"):
        assert key in r
    assert r["epochs"] == 3 and r["test_accuracy"] > 0.5
    _, arrays = read_checkpoint(ck)  # the run's history goes with the weights
    assert arrays["history/steps"].shape == (r["steps"], 4)
    assert arrays["history/steps"][:, 0].tolist() == list(range(1, r["steps"] + 1))
    assert arrays["history/epochs"][:, 0].tolist() == [0, 1, 2]
    assert arrays["history/epochs"][-1, 1] == r["steps"]
    assert main(["evaluate", "--load", str(ck), "--data", str(data_dir), "--json"]) == 0
    ev = last_json(capsys.readouterr().out)
    assert ev["test_accuracy"] == pytest.approx(r["test_accuracy"])
    assert sum(map(sum, ev["confusion"])) == ev["count"] == 100
    assert main(["train", "--resume", str(ck), "--epochs", "4", "--data", str(data_dir),
                 "--json"]) == 0
    assert last_json(capsys.readouterr().out)["epochs"] == 4


def test_evaluate_prints_a_confusion_table(data_dir, tmp_path, capsys):
    ck = tmp_path / "c.npz"
    main(["train", "--arch", "mlp", "--data", str(data_dir), "--epochs", "1", "--save", str(ck)])
    capsys.readouterr()
    assert main(["evaluate", "--load", str(ck), "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "confusion matrix" in out


def test_bench_reports_throughput_and_layers(capsys):
    assert main(["bench", "--arch", "lenet5", "--steps", "3", "--warmup", "1", "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["mode"] == "train" and r["images_per_second"] > 0
    assert set(r["layers"]["0.Conv2D"]) - {"algorithm"} == {"forward_ms", "backward_ms"}


def test_bench_eval_times_forward_passes_only(capsys):
    assert main(["bench", "--arch", "mlp", "--eval", "--steps", "2", "--warmup", "1",
                 "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["mode"] == "eval" and r["images_per_second"] > 0
    assert list(r["layers"]) == ["0.Flatten", "1.Dense", "2.ReLU", "3.Dense"]
    for times in r["layers"].values():
        assert times["forward_ms"] >= 0 and "backward_ms" not in times
    assert main(["bench", "--arch", "mlp", "--eval", "--steps", "2", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "eval-mode forward" in out and "1.Dense" in out and "backward" not in out


def test_bench_shows_the_conv_algorithm_when_layers_report_one(monkeypatch, capsys):
    monkeypatch.setattr(Conv2D, "algorithm_used", "some-algorithm", raising=False)
    assert main(["bench", "--arch", "lenet5", "--eval", "--steps", "1", "--warmup", "0",
                 "--json"]) == 0
    layers = last_json(capsys.readouterr().out)["layers"]
    assert "algorithm" in layers["0.Conv2D"] and "algorithm" not in layers["1.ReLU"]
    assert main(["bench", "--arch", "lenet5", "--eval", "--steps", "1", "--warmup", "0"]) == 0
    assert "algorithm" in capsys.readouterr().out


def test_summary_table(capsys):
    assert main(["summary", "--arch", "cnn-bn"]) == 0
    out = capsys.readouterr().out
    assert "(32, 28, 28)" in out and "421,834" in out


@pytest.mark.parametrize("args, needle", [
    (["evaluate", "--load", "missing.npz"], "no such checkpoint"),
    (["train", "--data", "/nonexistent-folder"], "nonexistent-folder"),
    (["train", "--lr", "-1", "--data", "."], "learning rate"),
])
def test_errors_are_one_line_without_traceback(args, needle, capsys):
    assert main(args) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert err.startswith("cnnviz ")


def test_bad_spec_file_names_the_layer(tmp_path, capsys):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps([{"type": "Flatten"}, {"type": "Dense", "in_features": 100,
                                                       "out_features": 10}]))
    assert main(["summary", "--spec", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "layer 1 (Dense)" in err and "784" in err
    spec.write_text("[{")
    assert main(["summary", "--spec", str(spec)]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_bad_flag_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--optimizer", "adamw"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_divergence_exits_with_advice(data_dir, capsys):
    assert main(["train", "--arch", "mlp", "--data", str(data_dir), "--optimizer", "sgd",
                 "--lr", "1e30", "--schedule", "constant"]) == 1
    err = capsys.readouterr().err
    assert "diverged at step" in err and "Lower the learning rate" in err


def test_download_bars_draw_one_bar_per_file():
    out = io.StringIO()
    with DownloadBars(file=out, mininterval=0) as p:
        p("train-images-idx3-ubyte.gz", 0, 2048)
        p("train-images-idx3-ubyte.gz", 2048, 2048)
        p("other", 10, None)
        p("decoding images in /data", 3000, 3000)
    text = out.getvalue()
    assert "train-images-idx3-ubyte.gz" in text and "100%" in text and "2.00k" in text
    assert "other" in text and "10.0B" in text
    assert "3000/3000" in text and "images/s" in text  # images are counted, not bytes


def test_download_bars_disabled_draw_nothing():
    out = io.StringIO()
    with DownloadBars(file=out, disable=True) as p:
        p("f.gz", 5, 10)
    assert out.getvalue() == ""


def test_lr_find_prints_a_table_a_suggestion_and_json(data_dir, capsys):
    assert main(["lr-find", "--arch", "mlp", "--data", str(data_dir), "--optimizer", "sgd",
                 "--batch-size", "32", "--steps", "20", "--start", "1e-5", "--end", "10",
                 "--json"]) == 0
    out = capsys.readouterr().out
    r = last_json(out)
    assert set(r) == {"lrs", "smoothed", "suggestion", "stopped_early"}
    assert len(r["lrs"]) == len(r["smoothed"]) <= 20 and r["lrs"][0] == pytest.approx(1e-5)
    assert 1e-5 < r["suggestion"] < 10
    assert "suggested learning rate: " in out and "smoothed" in out.splitlines()[0]
    assert main(["lr-find", "--arch", "mlp", "--data", str(data_dir), "--optimizer", "sgd",
                 "--steps", "30", "--end", "1e4"]) == 0
    out = capsys.readouterr().out
    assert "stopped after" in out and "of 30 steps" in out


@pytest.mark.parametrize("args, needle", [
    (["--steps", "5"], "steps"),
    (["--start", "0"], "start"),
    (["--start", "1e-2", "--end", "1e-3"], "end"),
])
def test_lr_find_bad_arguments_fail_before_loading_data(args, needle, capsys):
    assert main(["lr-find", "--data", "/nonexistent-folder", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnnviz lr-find: error:") and needle in err
    assert "nonexistent-folder" not in err and "Traceback" not in err


def test_train_on_an_image_folder_resized_with_image_size(tmp_path, capsys, monkeypatch):
    from PIL import Image

    from cnnviz.data.synthetic import synthetic_images
    from cnnviz.training.checkpoint import read_checkpoint

    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))
    images, labels = synthetic_images(120)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "data" / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    ck = tmp_path / "c.npz"
    assert main(["train", "--data", str(tmp_path / "data"), "--image-size", "16", "--arch",
                 "lenet5", "--epochs", "1", "--save", str(ck), "--json"]) == 0
    meta, _ = read_checkpoint(ck)
    assert meta["input_shape"] == [1, 16, 16] and meta["config"]["image_size"] == 16
    assert meta["class_names"] == [f"class{c}" for c in range(10)]
    capsys.readouterr()
    assert main(["train", "--data", str(tmp_path / "data"), "--image-size", "0"]) != 0
    assert "image size must be at least 1" in capsys.readouterr().err
