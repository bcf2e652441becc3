"""What the network wants to see: inputs synthesized by gradient ascent to drive one channel of
a layer (or one class score) as hard as they can, and the best a real image does for
comparison. Runs on the model's backend (xp); returns numpy. Like inspect, it reuses the
model's eval-mode forward and backward, which overwrite the layers' grads: call it between
training steps, never during one."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cnnviz.backend import to_numpy
from cnnviz.training.inspect import BATCH, _device_outputs, _layer_index


@dataclass
class Synthesis:
    """K synthesized inputs and what each reached.

    images: (K, C, H, W) float32, normalised (as the network takes them), within [lo, hi].
    objective: (K,) float32, the value input k reaches: the mean of channel k of the layer's
    output, or the score (logit) of class k. seconds: wall time of the optimisation.
    """

    images: np.ndarray
    objective: np.ndarray
    seconds: float


def per_channel(xp, v, c: int):
    """A bound (scalar or one per channel) as an xp array broadcasting over (K, C, H, W)."""
    v = np.asarray(v, np.float32)
    return xp.asarray(np.broadcast_to(v.reshape(-1) if v.ndim else v, (c,)).reshape(1, c, 1, 1))


def _blur(xp, x):
    """3x3 box blur over the last two axes (edges repeated)."""
    p = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = x.shape[2:]
    out = xp.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += p[:, :, dy : dy + h, dx : dx + w]
    return out / 9


def _objective_and_grad(model, x, stop: int, classes: bool):
    """(objective (K,), d objective_k / d x_k (K, C, H, W)) on the backend, in eval mode.

    Runs the layers up to `stop` (the last for class scores) and back from there. Input k's
    objective is the mean of channel k of that layer's output, or logit k."""
    xp = model.backend.xp
    h = x
    for lyr in model.layers[: stop + 1]:
        h = lyr.forward(h, False)
    k = x.shape[0]
    rows = xp.arange(k)
    if classes:
        obj = h[rows, rows]
        dy = xp.zeros_like(h)
        dy[rows, rows] = 1
    else:
        size = int(np.prod(h.shape[2:]))
        obj = h.reshape(k, h.shape[1], -1)[rows, rows].mean(axis=1)
        dy = xp.zeros_like(h)
        dy[rows, rows] = 1.0 / size
    first = model.layers[0].input_grad
    try:
        for i in range(stop, -1, -1):
            model.layers[i].input_grad = True
            dy = model.layers[i].backward(dy)
    finally:
        model.layers[0].input_grad = first
    return obj, dy


def synthesize(model, layer: str | None, input_shape, lo, hi, steps: int = 200,
               lr: float = 0.05, seed: int = 0, l2: float = 1e-3, blur_every: int = 4,
               jitter: int = 1, classes: bool = False) -> Synthesis:
    """Inputs that maximise each channel of `layer` (conv-shaped output (C', H', W'): K = C',
    input k maximising the mean of channel k), or with classes=True each class score of the
    last layer (K = classes; `layer` is ignored). All K inputs are optimised in one batch.

    Adam ascent on the input from seeded small noise (std 0.1 around 0, the mean pixel), with
    L2 decay (x *= 1 - l2 each step), a 3x3 box blur every `blur_every` steps (0: never; none
    in the last tenth of the steps, so the result is sharp), a random roll by up to `jitter`
    pixels (undone on the gradient), and clipping to [lo, hi]: the range normalised real data
    takes, (0 - mean) / std .. (1 - mean) / std, a scalar or one per channel.
    input_shape: (C, H, W). Deterministic by seed.
    """
    if steps < 1 or lr <= 0:
        raise ValueError(f"steps must be at least 1 and lr positive, got {steps} and {lr}")
    t0 = time.perf_counter()
    xp = model.backend.xp
    c, h, w = (int(v) for v in input_shape)
    if classes:
        stop = len(model.layers) - 1
        k = int(_shape_at(model, (c, h, w), stop)[0])
    else:
        if layer is None:
            raise ValueError("give a layer to visualise, or classes=True for the class scores")
        stop = _layer_index(model, layer)
        shape = _shape_at(model, (c, h, w), stop)
        if len(shape) != 3:
            raise ValueError(f"synthesis needs a layer with (channels, height, width) output; "
                             f"{layer} outputs {shape}")
        k = int(shape[0])
    rng = np.random.default_rng(seed)
    lo_, hi_ = per_channel(xp, lo, c), per_channel(xp, hi, c)
    x = xp.asarray(rng.normal(0.0, 0.1, (k, c, h, w)).astype(np.float32))
    x = xp.minimum(xp.maximum(x, lo_), hi_)
    m, v = xp.zeros_like(x), xp.zeros_like(x)
    b1, b2, tiny = 0.9, 0.999, 1e-8
    sharp_from = steps - max(steps // 10, 1)
    for t in range(1, steps + 1):
        sy, sx = (int(s) for s in rng.integers(-jitter, jitter + 1, 2)) if jitter else (0, 0)
        xs = xp.roll(x, (sy, sx), axis=(2, 3)) if sy or sx else x
        _, g = _objective_and_grad(model, xs, stop, classes)
        if sy or sx:
            g = xp.roll(g, (-sy, -sx), axis=(2, 3))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step = lr * (m / (1 - b1**t)) / (xp.sqrt(v / (1 - b2**t)) + tiny)
        x = (x + step.astype(xp.float32)) * xp.float32(1 - l2)
        if blur_every and t % blur_every == 0 and t < sharp_from:
            x = _blur(xp, x)
        x = xp.minimum(xp.maximum(x, lo_), hi_).astype(xp.float32)
    obj, _ = _objective_and_grad(model, x, stop, classes)
    return Synthesis(to_numpy(x).astype(np.float32), to_numpy(obj).astype(np.float32),
                     time.perf_counter() - t0)


def _shape_at(model, input_shape, stop: int) -> tuple:
    """The output shape (without the batch axis) of layer `stop`."""
    shape = tuple(input_shape)
    for lyr in model.layers[: stop + 1]:
        shape = tuple(lyr.output_shape(shape))
    return shape


def best_test_inputs(model, images: np.ndarray, layer: str | int | None,
                     classes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The real input that does best at what synthesize maximises, for each of its K
    objectives: the mean of channel k of `layer` (conv-shaped), or with classes=True the
    score of class k. images: (N, C, H, W) normalised. Returns (index (K,) int64 into
    images, objective (K,) float32 it reaches). (inspect.top_activations ranks channels by
    their maximum, not their mean.)"""
    stop = len(model.layers) - 1 if classes else _layer_index(model, layer)
    best = index = None
    start = 0
    for _, out in _device_outputs(model, images, stop, BATCH):
        if classes:
            scores = out
        elif out.ndim == 4:
            scores = out.reshape(out.shape[0], out.shape[1], -1).mean(axis=2)
        else:
            raise ValueError(f"the strongest real input needs a (channels, height, width) "
                             f"layer; {layer} outputs {out.shape[1:]}")
        scores = to_numpy(scores)
        top = scores.max(axis=0)
        at = scores.argmax(axis=0) + start
        if best is None:
            best, index = top, at
        else:
            better = top > best
            best, index = np.where(better, top, best), np.where(better, at, index)
        start += len(scores)
    return index.astype(np.int64), best.astype(np.float32)
