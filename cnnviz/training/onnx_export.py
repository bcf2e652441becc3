"""ONNX export of a trained model: pixels in 0..1 -> class scores, the normalisation included.

The graph is built with the `onnx` package (the optional extra: pip install "cnnviz[export]"),
imported only when a model is exported. One ONNX node (or none) per cnnviz layer, named after
it ("0.Conv2D"); its weights are initializers with the model's parameter names
("0.Conv2D.W"), so the file reads like the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cnnviz import __version__
from cnnviz.backend import to_numpy
from cnnviz.core.layers import (
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    HardTanh,
    Identity,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from cnnviz.training.checkpoint import checkpoint_model

OPSET = 17
# The IR version of ONNX 1.12, the release that brought opset 17: runtimes from then on read
# the file (onnx would otherwise stamp its own, newer one).
IR_VERSION = 8
INPUT, OUTPUT = "pixels", "scores"
INSTALL_HINT = 'pip install "cnnviz[export]"'


class ExportError(ValueError):
    """A model that cannot be exported: a layer with no ONNX counterpart, a norm or class
    names that do not fit it, or the onnx package missing."""


class _Graph:
    """The nodes and initializers (float32 constants) of the graph being built."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []

    def const(self, name: str, array) -> str:
        arr = np.ascontiguousarray(to_numpy(array), dtype=np.float32)
        self.initializers.append(self.numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        """Append an `op` node whose one output is named `name`; returns that name."""
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name


def _conv(g, name, layer, x):
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    w, b = g.const(f"{name}.W", layer.params["W"]), g.const(f"{name}.b", layer.params["b"])
    return g.node("Conv", [x, w, b], name, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)


def _batch_norm(g, name, layer, x):
    """Inference batch norm from the running statistics; (N, F) input for BatchNorm1D."""
    arrays = {**layer.params, **layer.buffers}
    keys = ("gamma", "beta", "running_mean", "running_var")
    return g.node("BatchNormalization", [x, *(g.const(f"{name}.{k}", arrays[k]) for k in keys)],
                  name, epsilon=layer.eps)


def _dense(g, name, layer, x):
    """cnnviz keeps W as (in, out): Gemm's B as it is (transB 0)."""
    w, b = g.const(f"{name}.W", layer.params["W"]), g.const(f"{name}.b", layer.params["b"])
    return g.node("Gemm", [x, w, b], name)


def _pool(op):
    def convert(g, name, layer, x):
        k, s = layer.kernel_size, layer.stride
        return g.node(op, [x], name, kernel_shape=[k, k], strides=[s, s])
    return convert


def _unary(op, **attrs):
    return lambda g, name, layer, x: g.node(op, [x], name, **attrs)


def _hard_tanh(g, name, layer, x):
    return g.node("Clip", [x, g.const(f"{name}.min", -1.0), g.const(f"{name}.max", 1.0)], name)


def _leaky_relu(g, name, layer, x):
    return g.node("LeakyRelu", [x], name, alpha=layer.negative_slope)


def _pass(g, name, layer, x):
    """Eval mode leaves x as it is (Dropout, Identity): no node."""
    return x


# Each layer class -> convert(graph, layer name, layer, input name) -> output name. Exact
# classes: a subclass may compute something else, so it is refused rather than guessed.
CONVERTERS = {
    Conv2D: _conv, BatchNorm2D: _batch_norm, BatchNorm1D: _batch_norm, Dense: _dense,
    MaxPool2D: _pool("MaxPool"), AvgPool2D: _pool("AveragePool"),
    Flatten: _unary("Flatten", axis=1), ReLU: _unary("Relu"), Tanh: _unary("Tanh"),
    Sigmoid: _unary("Sigmoid"), LeakyReLU: _leaky_relu, HardTanh: _hard_tanh,
    Dropout: _pass, Identity: _pass,
}


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    return onnx


def _norm_arrays(norm, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) as (1, C, 1, 1) float32 from one value each, or one per channel."""
    mean, std = (np.atleast_1d(np.asarray(v, np.float32)).ravel() for v in norm)
    if len(mean) != len(std) or len(mean) not in (1, channels):
        raise ExportError(f"norm has {len(mean)} means and {len(std)} stds for {channels} "
                          f"input channels; give one value each, or one per channel")
    if np.any(std <= 0):
        raise ExportError(f"norm std {std.tolist()} must be positive")
    shape = (1, len(mean), 1, 1)
    return mean.reshape(shape), std.reshape(shape)


def onnx_model(model, norm, class_names=None):
    """`model` (a Sequential) as an onnx.ModelProto, checked with onnx.checker.

    Input "pixels": float32 (N, C, H, W) in 0..1, N free. The first nodes normalise it,
    (x - mean) / std per channel with norm = (mean, std), as cnnviz.data.loader.normalize
    does; output "scores": (N, classes), the logits of the model's eval-mode forward (softmax
    them for probabilities). class_names (default "0", "1", ...) go to the metadata_props as
    a JSON list, with the norm. Raises ExportError naming a layer it cannot express.
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    g = _Graph(helper, numpy_helper)
    shape = tuple(model.input_shape)  # (C, H, W)
    mean, std = _norm_arrays(norm, shape[0])
    x = g.node("Sub", [INPUT, g.const("norm.mean", mean)], "norm.sub")
    x = g.node("Div", [x, g.const("norm.std", std)], "norm.div")
    for name, layer in zip(model.names, model.layers):
        convert = CONVERTERS.get(type(layer))
        if convert is None:
            known = ", ".join(sorted(cls.kind for cls in CONVERTERS))
            raise ExportError(f"layer {name} ({type(layer).__name__}) has no ONNX counterpart "
                              f"in the exporter; exportable layers: {known}")
        x = convert(g, name, layer, x)
        shape = layer.output_shape(shape)
    g.nodes[-1].output[0] = OUTPUT  # x, the last node's output, is the graph's
    classes = shape[0]
    names = [str(i) for i in range(classes)] if class_names is None else list(class_names)
    if len(names) != classes:
        raise ExportError(f"{len(names)} class names for a model with {classes} class scores")
    inp = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", *model.input_shape],
                                        "float32 pixels in 0..1, (N, C, H, W)")
    out = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", classes],
                                        "class scores (logits), (N, classes)")
    graph = helper.make_graph(g.nodes, "cnnviz", [inp], [out], g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="cnnviz",
                              producer_version=__version__)
    helper.set_model_props(proto, {
        "class_names": json.dumps(names),
        "norm_mean": json.dumps(np.ravel(np.asarray(norm[0], float)).tolist()),
        "norm_std": json.dumps(np.ravel(np.asarray(norm[1], float)).tolist()),
    })
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, norm, path, class_names=None) -> dict:
    """Write `model` as ONNX (see onnx_model) to `path`. Returns what was written:
    {path, opset, input_shape ["batch", C, H, W], classes (names), bytes}."""
    proto = onnx_model(model, norm, class_names)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(proto.SerializeToString())
    props = {p.key: p.value for p in proto.metadata_props}
    return {"path": str(path), "opset": OPSET, "input_shape": ["batch", *model.input_shape],
            "classes": json.loads(props["class_names"]), "bytes": path.stat().st_size}


def export_checkpoint(path, out) -> dict:
    """A checkpoint's model as ONNX at `out`; returns export_onnx's summary."""
    model, norm, class_names = checkpoint_model(path)
    return export_onnx(model, norm, out, class_names)
