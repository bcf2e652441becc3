"""Sequential models built from plain, JSON-serialisable specs."""

from __future__ import annotations

import math
import time

import numpy as np

from cnnviz.backend import NUMPY, get_backend, to_numpy
from cnnviz.core.layers import (
    LAYER_TYPES,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    ReLU,
)

GLOROT_ACTIVATIONS = {"Tanh", "Sigmoid", "HardTanh"}
#: Layers whose eval-mode output may be their input or a view of it.
VIEW_LAYERS = (Dropout, Flatten, Identity)
# Samples per chunk of predict on the CPU (see Sequential.predict). Measured at batch 256 on the
# 2-core CPU (bench --eval): 16 gives lenet5 28k images/s (the whole batch at once: 16k) and
# cnn-bn 7.8k (5.3k); 8 and 32 were 5-15% slower. Two threads over the chunks (BLAS on one
# thread each) were no faster. On a GPU the whole batch goes at once.
PREDICT_CHUNK = 16
# Spec keys that can be left out: they follow from the shape that reaches the layer.
INFERRED_KEYS = {
    "Conv2D": "in_channels", "Dense": "in_features",
    "BatchNorm2D": "num_features", "BatchNorm1D": "num_features",
}
# Sizes past these are typos, refused before anything is allocated: weights of all layers
# together (200 MB of float32; training holds about 4x that with gradients and Adam's
# moments), and the values one layer outputs for one sample (128 MB).
MAX_PARAMS = 50_000_000
MAX_OUTPUT = 2**25
# The spec keys whose product is a layer's number of weights.
WEIGHT_KEYS = {
    "Conv2D": ("in_channels", "out_channels", "kernel_size", "kernel_size"),
    "Dense": ("in_features", "out_features"),
    "BatchNorm2D": ("num_features",), "BatchNorm1D": ("num_features",),
}


class SpecError(ValueError):
    """A spec that cannot be built: unknown layer, bad argument or impossible shapes."""


class Sequential:
    """Layers applied in order. x: (N, C, H, W) -> logits (N, classes).

    `names[i]` is "i.Kind"; parameters are named "i.Kind.key". `timings` holds per-layer forward
    and backward milliseconds of the last step when `profile` is on.
    """

    def __init__(self, layers, input_shape=(1, 28, 28), spec=None):
        self.layers = list(layers)
        self.names = [f"{i}.{layer.kind}" for i, layer in enumerate(self.layers)]
        self.input_shape = tuple(input_shape)
        self.spec = spec if spec is not None else [layer.spec() for layer in self.layers]
        self.training = True
        self.backend = NUMPY
        self.profile = False
        self.timings = {name: [0.0, 0.0] for name in self.names}

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def forward(self, x, training=None):
        """x: (N, *input_shape) -> logits (N, classes)."""
        training = self.training if training is None else training
        for name, layer in zip(self.names, self.layers):
            t0 = time.perf_counter() if self.profile else 0.0
            x = layer.forward(x, training)
            if self.profile:
                self.timings[name][0] = (time.perf_counter() - t0) * 1e3
        return x

    __call__ = forward

    def predict(self, x):
        """x: (N, *input_shape) -> logits (N, classes) in eval mode, by the shortest route: each
        BatchNorm2D right after a Conv2D is folded into the conv's weights (one pass instead of
        three), ReLU works in place on the array the layer before made, and on the CPU the
        layers with feature maps take the batch PREDICT_CHUNK samples at a time, so that each
        reads the last one's output from cache; the layers after them (Flatten, Dense, ...)
        take the whole batch, so a dense layer's weights are read once. For evaluation only:
        it leaves the layers' caches unfit for a backward pass (use forward for that)."""
        steps, spatial = self._predict_steps()
        n = x.shape[0]
        chunk = n if self.backend.name != "numpy" else PREDICT_CHUNK
        if self.profile:
            for name in self.names:
                self.timings[name][0] = 0.0
        if n > chunk and spatial:
            first = self._predict_chunk(x[:chunk], steps[:spatial])
            maps = self.backend.xp.empty((n, *first.shape[1:]), dtype=first.dtype)
            maps[:chunk] = first
            for i in range(chunk, n, chunk):
                maps[i : i + chunk] = self._predict_chunk(x[i : i + chunk], steps[:spatial])
            return self._predict_chunk(maps, steps[spatial:], owned=True)
        return self._predict_chunk(x, steps)

    def _predict_steps(self):
        """predict's route: ([(layer, folded (w, b) or None, names it covers)], how many of
        them, from the first, output feature maps (C, H, W))."""
        steps, layers, i = [], self.layers, 0
        shape, spatial = self.input_shape, 0
        while i < len(layers):
            layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
            size = 2 if isinstance(layer, Conv2D) and isinstance(after, BatchNorm2D) else 1
            folded = after.fold(layer.params["W"], layer.params["b"]) if size == 2 else None
            steps.append((layer, folded, self.names[i : i + size]))
            shape = layer.output_shape(shape)
            spatial += len(shape) == 3 and spatial == len(steps) - 1
            i += size
        return steps, spatial

    def _predict_chunk(self, x, steps, owned=False):
        """x (n, ...) through `steps` (from _predict_steps). `owned`: x is an array predict
        made (not the caller's, nor a view of it), so ReLU may work in place on it."""
        xp = self.backend.xp
        for layer, folded, names in steps:
            t0 = time.perf_counter() if self.profile else 0.0
            if folded is not None:
                x = layer.infer(x, *folded)
            elif isinstance(layer, ReLU) and owned:
                x = xp.maximum(x, 0, out=x)
            else:
                x = layer.forward(x, False)
            owned = owned or not isinstance(layer, VIEW_LAYERS)
            if self.profile:
                self.timings[names[0]][0] += (time.perf_counter() - t0) * 1e3
        return x

    def backward(self, dy, input_grad=False):
        """dlogits (N, classes) -> dx (N, *input_shape), or None unless `input_grad`.

        Fills every layer's grads. The first layer skips its input gradient unless asked.
        """
        self.layers[0].input_grad = input_grad
        for name, layer in zip(reversed(self.names), reversed(self.layers)):
            t0 = time.perf_counter() if self.profile else 0.0
            dy = layer.backward(dy)
            if self.profile:
                self.timings[name][1] = (time.perf_counter() - t0) * 1e3
        return dy

    def record(self, x):
        """Every layer's output for input x (eval mode): list of (name, array (N, ...))."""
        out = []
        for name, layer in zip(self.names, self.layers):
            x = layer.forward(x, False)
            out.append((name, x))
        return out

    def parameters(self):
        """Yield (name, param, grad) for every trained array."""
        for name, layer in zip(self.names, self.layers):
            for key, p in layer.params.items():
                yield f"{name}.{key}", p, layer.grads[key]

    def buffers(self):
        """Yield (name, buffer) for every non-trained state array."""
        for name, layer in zip(self.names, self.layers):
            for key, b in layer.buffers.items():
                yield f"{name}.{key}", b

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def num_params(self) -> int:
        return sum(int(p.size) for _, p, _ in self.parameters())

    def to(self, backend):
        """Move every array to `backend` ("numpy", "cupy" or a Backend)."""
        self.backend = get_backend(backend)
        for layer in self.layers:
            layer.to(self.backend)
        return self

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Params and buffers as numpy copies, by name."""
        state = {name: to_numpy(p).copy() for name, p, _ in self.parameters()}
        state.update({name: to_numpy(b).copy() for name, b in self.buffers()})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays into the model in place; names and shapes must match exactly."""
        own = dict((n, p) for n, p, _ in self.parameters())
        own.update(dict(self.buffers()))
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(
                f"weights do not fit this model: missing {missing[:4]}, unexpected {extra[:4]}"
            )
        for name, arr in own.items():
            if tuple(state[name].shape) != tuple(arr.shape):
                raise ValueError(
                    f"weights do not fit this model: {name} has shape {tuple(state[name].shape)}, "
                    f"the model expects {tuple(arr.shape)}"
                )
            arr[...] = self.backend.to_device(np.asarray(state[name], dtype=arr.dtype))

    def rng_state(self) -> dict:
        """Bit-generator states of the layers that draw random numbers (dropout), by name."""
        return {n: layer.rng.bit_generator.state for n, layer in zip(self.names, self.layers)
                if isinstance(layer, Dropout)}

    def set_rng_state(self, state: dict) -> None:
        for n, layer in zip(self.names, self.layers):
            if isinstance(layer, Dropout) and n in state:
                layer.rng.bit_generator.state = state[n]

    def summary(self) -> list[dict]:
        """Per layer: name, kind, output_shape, params, mult_adds (one sample), and algorithm
        (a Conv2D's in training on the CPU, "direct" or "winograd"; None for other layers)."""
        rows, shape = [], self.input_shape
        for name, layer in zip(self.names, self.layers):
            macs = layer.mult_adds(shape)
            algorithm = layer.algorithm_for(shape) if isinstance(layer, Conv2D) else None
            shape = layer.output_shape(shape)
            n_params = sum(int(p.size) for p in layer.params.values())
            rows.append({"name": name, "kind": layer.kind, "output_shape": shape,
                         "params": n_params, "mult_adds": macs, "algorithm": algorithm})
        return rows


def format_summary(rows: list[dict], input_shape) -> str:
    """The summary rows as a text table with totals."""
    lines = [f"{'layer':<16}{'output shape':<18}{'params':>12}{'mult-adds':>14}",
             f"{'input':<16}{str(tuple(input_shape)):<18}"]
    for r in rows:
        lines.append(f"{r['name']:<16}{str(r['output_shape']):<18}{r['params']:>12,}"
                     f"{r['mult_adds']:>14,}" + (f"  {r['algorithm']}" if r["algorithm"] else ""))
    lines.append(f"{'total':<16}{'':<18}{sum(r['params'] for r in rows):>12,}"
                 f"{sum(r['mult_adds'] for r in rows):>14,}")
    return "\n".join(lines)


def resolve_spec(spec, input_shape=(1, 28, 28)) -> tuple[list[dict], list[tuple]]:
    """Check a spec and fill in the inferable sizes.

    Returns (complete spec, output shape per layer). Raises SpecError naming the layer and
    the shapes when a layer is unknown, has bad arguments, cannot take its input, or would
    need more than MAX_PARAMS weights in all or output more than MAX_OUTPUT values.
    """
    if not isinstance(spec, (list, tuple)) or not spec:
        raise SpecError("an architecture spec is a non-empty list of layer dicts")
    shape, full, shapes, params = tuple(input_shape), [], [], 0
    for i, entry in enumerate(spec):
        if not isinstance(entry, dict) or "type" not in entry:
            raise SpecError(f"layer {i}: expected a dict with a 'type' key, got {entry!r:.200}")
        kind = entry["type"]
        if not isinstance(kind, str) or kind not in LAYER_TYPES:
            raise SpecError(f"layer {i}: unknown type {kind!r:.60}; known: "
                            f"{', '.join(LAYER_TYPES)}")
        args = {k: v for k, v in entry.items() if k != "type"}
        key = INFERRED_KEYS.get(kind)
        if key and key not in args:
            args[key] = shape[0] if shape else 0
        try:
            params += math.prod(max(int(args[k]), 0) for k in WEIGHT_KEYS.get(kind, ()))
        except (KeyError, TypeError, ValueError, OverflowError):
            pass  # the layer itself names the missing or bad argument
        if params > MAX_PARAMS:
            raise SpecError(f"layer {i} ({kind}) brings the model to {params:,} weights, more "
                            f"than the {MAX_PARAMS:,} that fit; use fewer channels or features")
        try:
            layer = LAYER_TYPES[kind](**args)
            shape = tuple(layer.output_shape(shape))
        except (TypeError, ValueError, OverflowError) as exc:
            raise SpecError(f"layer {i} ({kind}) with input shape {shape}: {exc}") from None
        if math.prod(shape) > MAX_OUTPUT:
            raise SpecError(f"layer {i} ({kind}) outputs {shape} per sample, more than "
                            f"{MAX_OUTPUT:,} values; use fewer channels, less padding or a "
                            "larger stride")
        full.append({"type": kind, **layer.config()})
        shapes.append(shape)
    if len(shape) != 1:
        raise SpecError(f"the last layer must output class scores (N, classes), it outputs {shape}")
    return full, shapes


def build_model(spec, input_shape=(1, 28, 28), seed=0, backend="numpy") -> Sequential:
    """A Sequential from a spec (list of {"type": Kind, **args}) initialised from `seed`.

    Conv2D and Dense weights use He init, or Glorot when the next activation is tanh-like; the
    last of them, when no activation follows it (the class scores), starts small ("output").
    """
    full, _ = resolve_spec(spec, input_shape)
    rng = np.random.default_rng(seed)
    layers = []
    for i, entry in enumerate(full):
        cls, args = LAYER_TYPES[entry["type"]], {k: v for k, v in entry.items() if k != "type"}
        if cls in (Conv2D, Dense):
            nxt = next((e["type"] for e in full[i + 1:] if e["type"] not in ("BatchNorm2D",
                        "BatchNorm1D", "MaxPool2D", "AvgPool2D", "Dropout")), None)
            last = not any(e["type"] in ("Conv2D", "Dense") for e in full[i + 1:])
            init = ("glorot" if nxt in GLOROT_ACTIVATIONS
                    else "output" if last and nxt is None else "he")
            args.update(init=init, rng=rng)
        elif cls is Dropout:
            args.update(rng=np.random.default_rng([seed, i]))
        layers.append(cls(**args))
    return Sequential(layers, input_shape, full).to(backend)
