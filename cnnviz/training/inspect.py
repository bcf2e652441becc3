"""Where the network looks and what its units want: saliency, Grad-CAM, occlusion, top
activating digits per channel, and a 2-D embedding, and the one rule for a digit to inspect
(check_digit). Numpy in, numpy out; run on the training thread between steps (they reuse the
model's backward pass, which overwrites its grads)."""

from __future__ import annotations

import numpy as np

from cnnviz.backend import to_numpy
from cnnviz.core.losses import softmax

# Images per forward pass. On the 2-core CPU, cnn-bn costs least per image at 32-64 images: at
# 500 its arrays (50 MB after the first conv, 113 MB of conv windows) overflow the 32 MB L3 and
# are mapped fresh from the kernel each batch. Top 9 digits of 4.Conv2D over the 10,000 test
# digits: 2.1 s with 64 per batch, 3.2 s with 500 (medians of 5 runs, same code otherwise).
BATCH = 64


def check_digit(digit, n_test: int):
    """The one rule for a chosen digit: a test index in [0, n_test) (returned as int), or a
    drawing, (28, 28) floats in [0, 1] (returned as a float32 copy). ValueError otherwise."""
    if isinstance(digit, (int, np.integer)):
        if not 0 <= digit < n_test:
            raise ValueError(f"there is no test digit {int(digit)}: choose an index from 0 "
                             f"to {n_test - 1}")
        return int(digit)
    image = np.array(digit, np.float32, copy=True)
    if image.shape != (28, 28) or not np.isfinite(image).all():
        raise ValueError(f"a drawn digit must be a (28, 28) image of finite values in [0, 1], "
                         f"got shape {image.shape}")
    return np.clip(image, 0.0, 1.0)


def _layer_index(model, layer: str | int) -> int:
    if isinstance(layer, (int, np.integer)):
        return int(layer)
    if layer not in model.names:
        raise ValueError(f"no layer {layer!r}; layers are: {', '.join(model.names)}")
    return model.names.index(layer)


def _unit(m: np.ndarray) -> np.ndarray:
    """Scale a map to [0, 1] (all zeros stays zeros)."""
    top = float(m.max())
    return (m / top).astype(np.float32) if top > 0 else np.zeros_like(m, np.float32)


def _upsample(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of (h, w) to `shape` (each cell covers its input area)."""
    rows = np.minimum((np.arange(shape[0]) * m.shape[0]) // shape[0], m.shape[0] - 1)
    cols = np.minimum((np.arange(shape[1]) * m.shape[1]) // shape[1], m.shape[1] - 1)
    return m[np.ix_(rows, cols)]


def gradient_to(model, x, target: int, layer: str | int | None = None):
    """Gradient of the class score logits[0, target] (eval mode) with respect to the input
    (layer None) or to the output of `layer`.

    x: (1, C, H, W) on the model's backend. Returns (activation, gradient) as numpy arrays of
    that layer's output shape without the batch axis (for the input: x itself).
    """
    stop = -1 if layer is None else _layer_index(model, layer)
    outputs, h = [], x
    for lyr in model.layers:
        h = lyr.forward(h, False)
        outputs.append(h)
    xp = model.backend.xp
    dy = xp.zeros_like(outputs[-1])
    dy[0, target] = 1
    for i in range(len(model.layers) - 1, stop, -1):
        model.layers[i].input_grad = True
        dy = model.layers[i].backward(dy)
    act = x if stop < 0 else outputs[stop]
    return to_numpy(act)[0], to_numpy(dy)[0]


def saliency(model, x, target: int) -> np.ndarray:
    """|d score / d input|, max over input channels, scaled to [0, 1]: (H, W)."""
    _, grad = gradient_to(model, x, target)
    return _unit(np.abs(grad).max(axis=0))


def grad_cam(model, x, target: int, layer: str | int) -> np.ndarray:
    """Grad-CAM of a conv-shaped layer, upsampled to the input: (H, W) in [0, 1].

    The map is relu(sum_c dscore/dA_c * A_c) at each position: Grad-CAM's element-wise form
    (HiResCAM, Draelos & Carin 2020). Classic Grad-CAM first averages each channel's gradient
    over the positions; that is the same for a global-average-pooling head, but our models end
    in Flatten + Dense, where the average can cancel out and leave a blank map although the
    score comes from one region (the tests show such a model).
    """
    act, grad = gradient_to(model, x, target, layer)
    if act.ndim != 3:
        raise ValueError(f"Grad-CAM needs a layer with (channels, height, width) output; "
                         f"{layer} outputs {act.shape}")
    cam = np.maximum((grad * act).sum(axis=0), 0)
    return _unit(_upsample(cam, tuple(x.shape[2:])))


def occlusion(model, x, target: int, patch: int = 6, stride: int = 2, fill: float | None = None):
    """Drop in the target's probability when a `patch` x `patch` square is greyed out,
    averaged over the patches covering each pixel: (H, W), positive where the digit matters.

    fill: the value painted (default: the image's minimum, i.e. the background).
    All occluded copies go through the model in batches.
    """
    xn = to_numpy(x)
    _, c, h, w = xn.shape
    fill = float(xn.min()) if fill is None else fill
    tops = range(0, max(h - patch, 0) + 1, stride)
    lefts = range(0, max(w - patch, 0) + 1, stride)
    spots = [(r, q) for r in tops for q in lefts]
    copies = np.repeat(xn, len(spots), axis=0)
    for i, (r, q) in enumerate(spots):
        copies[i, :, r : r + patch, q : q + patch] = fill
    base = float(to_numpy(softmax(model.forward(x, False)))[0, target])
    probs = np.concatenate([
        to_numpy(softmax(model.forward(model.backend.to_device(copies[i : i + BATCH]), False)))
        for i in range(0, len(copies), BATCH)])[:, target]
    drop, count = np.zeros((h, w)), np.zeros((h, w))
    for (r, q), p in zip(spots, probs):
        drop[r : r + patch, q : q + patch] += base - p
        count[r : r + patch, q : q + patch] += 1
    return (drop / np.maximum(count, 1)).astype(np.float32)


def _device_outputs(model, images: np.ndarray, stop: int, batch: int):
    """Yield (start, output of layer `stop` on the model's backend) for images in batches."""
    for i in range(0, len(images), batch):
        h = model.backend.to_device(images[i : i + batch])
        for lyr in model.layers[: stop + 1]:
            h = lyr.forward(h, False)
        yield i, h


def _rank_key(scores: np.ndarray) -> np.ndarray:
    """Scores with NaN as -inf: NaN ranks below everything (as in argsort of -scores)."""
    return np.where(np.isnan(scores), -np.inf, scores)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores of each row, best first, equal scores in position
    order, NaN last: (R, n) -> (R, min(k, n)). Rows are short (k + one batch), so a stable
    sort costs microseconds."""
    return np.argsort(-_rank_key(scores), axis=1, kind="stable")[:, :k]


def top_activations(model, images: np.ndarray, layer: str | int, k: int = 9):
    """The k images that drive each channel of `layer` hardest (score: the channel's maximum).

    images: (N, C, H, W) normalised. Returns (indices (channels, k) int64 best first,
    scores (channels, k) float32, maps (channels, k, h, w) float32 of those images).
    One vectorised pass over the images, keeping a running top-k per channel and the maps of
    the current top k (so no second pass); equal scores keep the earlier image.
    """
    stop = _layer_index(model, layer)
    xp = model.backend.xp
    best_i = best_s = best_m = None
    for start, out in _device_outputs(model, images, stop, BATCH):
        if out.ndim != 4:
            raise ValueError(f"top activations need a (channels, height, width) layer; "
                             f"{layer} outputs {out.shape[1:]}")
        n, c = out.shape[:2]
        scores = to_numpy(out.reshape(n, c, -1).max(axis=2)).T  # (channels, batch)
        if best_s is not None:
            if best_s.shape[1] == k and not (_rank_key(scores) > _rank_key(best_s[:, -1:])).any():
                continue  # nothing in this batch beats any channel's current k-th best
            scores = np.concatenate([best_s, scores], axis=1)
        old = 0 if best_s is None else best_s.shape[1]
        keep = _top_k(scores, k)  # (channels, k) positions: < old in the kept best, else batch
        fresh = keep >= old
        channels = np.arange(c)[:, None]
        rows = xp.asarray(np.where(fresh, keep - old, 0))
        maps = to_numpy(out[rows, xp.asarray(channels)])  # (channels, k, h, w)
        idx = np.where(fresh, start + keep - old, 0)
        if best_s is not None:
            kept = np.where(fresh, 0, keep)
            idx = np.where(fresh, idx, best_i[channels, kept])
            maps = np.where(fresh[:, :, None, None], maps, best_m[channels, kept])
        best_s = np.take_along_axis(scores, keep, axis=1)
        best_i, best_m = idx, maps
    return best_i.astype(np.int64), best_s.astype(np.float32), best_m.astype(np.float32)


def embedding(model, images: np.ndarray, layer: str | int | None = None,
              predictions: bool = False):
    """PCA of a layer's outputs (default: the input of the last layer) to 2-D.

    Returns (coords (N, 2) float32, explained variance ratio (2,) float32), and with
    `predictions` also the predicted classes (N,) int64, from the same forward pass.
    """
    stop = _layer_index(model, len(model.layers) - 2 if layer is None else layer)
    last = len(model.layers) - 1 if predictions else stop
    feats, preds = [], []
    for _, h in _device_outputs(model, images, stop, BATCH):
        feats.append(to_numpy(h).reshape(len(h), -1))
        if predictions:
            for lyr in model.layers[stop + 1 : last + 1]:
                h = lyr.forward(h, False)
            preds.append(to_numpy(h.argmax(axis=1)))
    feats = np.concatenate(feats).astype(np.float64)
    feats -= feats.mean(axis=0)
    _, s, vt = np.linalg.svd(feats, full_matrices=False)
    var = s**2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    out = (feats @ vt[:2].T).astype(np.float32), ratio.astype(np.float32)
    return (*out, np.concatenate(preds).astype(np.int64)) if predictions else out


def explain_layer(ratio: float, dead: float) -> str | None:
    """A one-line diagnosis for a layer whose update ratio is far from 1e-3 or whose ReLU units
    are mostly dead; None when it looks healthy."""
    if dead == dead and dead > 0.5:
        return (f"{dead:.0%} of its units output zero for the whole batch: they no longer learn; "
                "lower the learning rate or use LeakyReLU")
    if ratio == ratio and ratio > 1e-2:
        return (f"weights change by {ratio:.1e} of their size per step (healthy is about 1e-3): "
                "the learning rate is probably too high")
    if ratio == ratio and 0 < ratio < 1e-4:
        return (f"weights change by only {ratio:.1e} of their size per step (healthy is about "
                "1e-3): the learning rate is probably too low, or the gradient vanishes here")
    return None
