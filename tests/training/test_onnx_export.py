"""ONNX export: onnxruntime on the exported graph gives cnnviz's eval-mode scores."""

import json
import os
import sys

import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.core.layers import LAYER_TYPES, BatchNorm1D, BatchNorm2D, Layer
from cnnviz.core.model import Sequential, build_model
from cnnviz.data.loader import normalize
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training.onnx_export import CONVERTERS, ExportError, export_onnx, onnx_model
from tests.specs import bn_cnn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Between them, every layer kind and conv/pool variant: padding 0/1/2, stride 1/2, kernel
# 3/5, a conv with 16 input channels (the channels-last path), one by Winograd, overlapping
# pools.
CONVS = [
    {"type": "Conv2D", "out_channels": 6, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2D"},
    {"type": "ReLU"},
    {"type": "MaxPool2D", "kernel_size": 2},
    {"type": "Conv2D", "out_channels": 16, "kernel_size": 5, "stride": 2, "padding": 2},
    {"type": "LeakyReLU", "negative_slope": 0.2},
    {"type": "Conv2D", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "HardTanh"},
    {"type": "Conv2D", "out_channels": 8, "kernel_size": 3, "padding": 1, "algorithm": "winograd"},
    {"type": "AvgPool2D", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Dense", "out_features": 5},
]
DENSE = [
    {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "stride": 2},
    {"type": "Tanh"},
    {"type": "MaxPool2D", "kernel_size": 3, "stride": 2},
    {"type": "AvgPool2D", "kernel_size": 1},
    {"type": "Flatten"},
    {"type": "Dense", "out_features": 20},
    {"type": "BatchNorm1D"},
    {"type": "Sigmoid"},
    {"type": "Dropout", "p": 0.5},
    {"type": "Identity"},
    {"type": "Dense", "out_features": 7},
]
NORMS = {1: ((0.3,), (0.2,)), 3: ((0.45, 0.5, 0.55), (0.2, 0.25, 0.3))}


def trained_looking(spec, input_shape, seed=0):
    """A model in eval mode whose batch norms have non-trivial gamma, beta and running stats."""
    model = build_model(spec, input_shape, seed=seed).eval()
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        if isinstance(layer, (BatchNorm1D, BatchNorm2D)):
            f = layer.num_features
            layer.params["gamma"][...] = rng.uniform(0.5, 2.0, f)
            layer.params["beta"][...] = rng.normal(0, 0.5, f)
            layer.buffers["running_mean"][...] = rng.normal(0, 1.0, f)
            layer.buffers["running_var"][...] = rng.uniform(0.2, 3.0, f)
    return model


def run_onnx(proto, pixels):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"pixels": pixels})[0]


def random_pixels(n, c, h, w, seed=0):
    """(pixels (N, C, H, W) in 0..1 for ONNX, the same as cnnviz's input: (N, H, W) grey or
    (N, H, W, 3) colour)."""
    rng = np.random.default_rng(seed)
    if c == 1:
        pixels = rng.random((n, h, w), dtype=np.float32)
        return pixels[:, None], pixels
    pixels = rng.random((n, h, w, c), dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)), pixels


@pytest.mark.parametrize("spec", [CONVS, DENSE], ids=["convs", "dense"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 16)], ids=["grey", "colour"])
def test_onnxruntime_scores_match_the_eval_forward(spec, shape):
    model = trained_looking(spec, shape)
    norm = NORMS[shape[0]]
    nchw, own = random_pixels(6, *shape)
    x = normalize(own, *norm)
    want = model.forward(x, False)
    assert np.allclose(model.predict(x), want, atol=1e-5)  # evaluate's route, the same scores
    got = run_onnx(onnx_model(model, norm), nchw)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))
    # a batch of one runs too: the batch dimension is free
    np.testing.assert_allclose(run_onnx(onnx_model(model, norm), nchw[:1]), want[:1],
                               rtol=1e-4, atol=1e-4)


def test_the_graph_holds_normalisation_layers_and_metadata(tmp_path):
    model = trained_looking(DENSE, (3, 16, 16))
    names = [f"class {i}" for i in range(7)]
    r = export_onnx(model, NORMS[3], tmp_path / "sub" / "m.onnx", class_names=names)
    assert r["classes"] == names and r["opset"] == 17
    assert r["input_shape"] == ["batch", 3, 16, 16]
    assert r["bytes"] == os.path.getsize(r["path"]) > 0
    proto = onnx.load(r["path"])
    onnx.checker.check_model(proto)
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["Sub", "Div", "Conv", "Tanh", "MaxPool", "AveragePool", "Flatten", "Gemm",
                   "BatchNormalization", "Sigmoid", "Gemm"]  # no node for Dropout, Identity
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 16, 16]
    assert proto.graph.output[0].name == "scores"
    weights = {t.name for t in proto.graph.initializer}
    assert {"0.Conv2D.W", "5.Dense.W", "6.BatchNorm1D.running_var"} <= weights
    props = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert props["class_names"] == names
    assert props["norm_std"] == list(NORMS[3][1])


def test_every_layer_type_has_a_converter():
    assert set(LAYER_TYPES.values()) <= set(CONVERTERS)


class Square(Layer):
    kind = "Square"

    def forward(self, x, training=False):
        return x * x


def test_clear_errors_for_what_cannot_be_exported(tmp_path, monkeypatch):
    model = build_model(DENSE, (1, 28, 28))
    odd = Sequential([model.layers[0], Square(), *model.layers[1:]], (1, 28, 28))
    with pytest.raises(ExportError, match=r"layer 1\.Square \(Square\) has no ONNX"):
        onnx_model(odd, NORMS[1])
    with pytest.raises(ExportError, match="2 means and 2 stds for 1 input channels"):
        onnx_model(model, ((0.1, 0.2), (0.3, 0.3)))
    with pytest.raises(ExportError, match="3 class names for a model with 7 class scores"):
        onnx_model(model, NORMS[1], class_names=["a", "b", "c"])
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    with pytest.raises(ExportError, match=r'pip install "cnnviz\[export\]"'):
        export_onnx(model, NORMS[1], tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint of a few steps of bn_cnn on synthetic digits (their own norm), and its
    session."""
    config = TrainConfig(spec=bn_cnn(), epochs=1, batch_size=32, val_size=0, limit_train=160,
                         augment=0)
    session = TrainingSession(config, synthetic_dataset(160, 50))
    session.run()
    path = tmp_path / "run.npz"
    session.save(path)
    return path, session


def test_cli_export_round_trip(checkpoint, tmp_path, capsys):
    path, session = checkpoint
    out = tmp_path / "model.onnx"
    assert main(["export", "--load", str(path), "--out", str(out), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r == {"path": str(out), "opset": 17, "input_shape": ["batch", 1, 28, 28],
                 "classes": list(session.class_names), "bytes": out.stat().st_size}
    pixels = session.test_images[:, None].astype(np.float32) / 255
    proto = onnx.load(out)
    got = run_onnx(proto, pixels)
    want = session.model.predict(session.splits["test"][0])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.array_equal(got.argmax(axis=1), session.evaluate("test", emit=False).predictions)


def test_cli_export_errors_are_one_line(checkpoint, tmp_path, capsys, monkeypatch):
    assert main(["export", "--load", str(tmp_path / "none.npz"), "--out", "m.onnx"]) == 1
    assert "none.npz: no such checkpoint file" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)
    out = tmp_path / "m.onnx"
    assert main(["export", "--load", str(checkpoint[0]), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnviz export: error:") and 'cnnviz[export]' in err
    assert len(err.splitlines()) == 1 and not out.exists()


@pytest.mark.mnist
@pytest.mark.skipif(not os.environ.get("CNNVIZ_DATA"), reason="needs real MNIST in CNNVIZ_DATA")
def test_on_mnist_onnxruntime_gets_cnnvizs_test_accuracy(tmp_path):
    config = TrainConfig(spec=bn_cnn(), epochs=2, limit_train=3000, val_size=0, augment=0)
    session = TrainingSession(config)
    session.run()
    ev = session.evaluate("test", emit=False)
    export_onnx(session.model, session.norm, tmp_path / "m.onnx", session.class_names)
    pixels = session.test_images[:, None].astype(np.float32) / 255  # uint8 (N, 28, 28)
    preds = run_onnx(onnx.load(tmp_path / "m.onnx"), pixels).argmax(axis=1)
    accuracy = float((preds == ev.labels).mean())
    assert ev.accuracy > 0.7, ev.accuracy  # trained: the comparison means something
    assert abs(accuracy - ev.accuracy) <= 0.001, (accuracy, ev.accuracy)
    assert (preds == ev.predictions).mean() >= 0.999
