"""An attack lab: the smallest L-infinity change of an image's pixels (0..1 units) that makes
the network call it a chosen class. Runs on the model's backend (xp); returns numpy. Like
inspect, it reuses the eval-mode backward, which overwrites the layers' grads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnviz.backend import to_numpy
from cnnviz.core.losses import softmax
from cnnviz.training.synthesis import per_channel

EPS_MAX = 0.3  # the largest L-infinity change tried by default, pixel units (0..1)
STEPS = 100  # signed-gradient steps while the ball grows to eps_max
STEP_SCALE = 2.5  # each step moves pixels by STEP_SCALE times the ball's growth per step


@dataclass
class Attack:
    """The result of targeted_attack.

    perturbed: (1, C, H, W) float32 normalised (the input the network saw); delta_pixels:
    (C, H, W) float32, the change in pixel units (0..1 scale); linf: max |delta_pixels|;
    predicted and probability: the network's class for `perturbed` and its probability;
    probs_before, probs_after: (classes,) float32; success: predicted == target.
    """

    perturbed: np.ndarray
    delta_pixels: np.ndarray
    linf: float
    predicted: int
    probability: float
    probs_before: np.ndarray
    probs_after: np.ndarray
    success: bool


def _probs_and_grad(model, x, targets):
    """(softmax probabilities (N, classes), d CE(targets) / d x (N, C, H, W)) in eval mode;
    targets: (N,) class per row."""
    xp = model.backend.xp
    logits = model.forward(x, False)
    p = softmax(logits)
    dy = p.copy()
    dy[xp.arange(len(p)), targets] -= 1
    first = model.layers[0].input_grad
    try:
        dx = model.backward(dy.astype(logits.dtype), input_grad=True)
    finally:
        model.layers[0].input_grad = first
    return p, xp.asarray(dx)


def _expanding_ball(model, x, targets, mean, std, eps_max: float, steps: int, stop_event):
    """Targeted signed-gradient steps in pixel space inside an L-infinity ball around each
    image that grows from 0 to eps_max over `steps` steps; an image stops moving once the
    network calls it its target, so its change stays near the smallest that works.

    x: (N, C, H, W) normalised, targets: (N,) on the backend. Returns (pixels (N, C, H, W)
    before, after, success (N,) bool, probabilities after (N, classes)) on the backend."""
    xp = model.backend.xp
    c = x.shape[1]
    mu, sd = per_channel(xp, mean, c), per_channel(xp, std, c)
    p0 = xp.clip(x * sd + mu, 0, 1).astype(xp.float32)
    p, done = p0.copy(), xp.zeros(len(x), dtype=bool)
    alpha = xp.float32(STEP_SCALE * eps_max / steps)
    for t in range(1, steps + 1):
        probs, g = _probs_and_grad(model, (p - mu) / sd, targets)
        done = done | (probs.argmax(axis=1) == targets)
        if bool(done.all()) or (stop_event is not None and stop_event.is_set()):
            break
        eps = xp.float32(eps_max * t / steps)
        q = xp.clip(p0 + xp.clip(p - alpha * xp.sign(g) - p0, -eps, eps), 0, 1)
        p = xp.where(done.reshape(-1, 1, 1, 1), p, q).astype(xp.float32)
    probs = softmax(model.forward((p - mu) / sd, False))
    return p0, p, probs.argmax(axis=1) == targets, probs


def targeted_attack(model, x, target: int, mean, std, eps_max: float = EPS_MAX,
                    steps: int = STEPS) -> Attack:
    """Make the network predict `target` for x (1, C, H, W) normalised with as small an
    L-infinity change of its pixels (0..1 units, at most eps_max) as `steps` targeted
    signed-gradient steps in a growing ball find (_expanding_ball). mean, std: the session's
    norm (one value, or one per channel). Deterministic (no random start)."""
    if not eps_max > 0 or not steps >= 1:
        raise ValueError("eps_max and steps must be positive")
    xp = model.backend.xp
    x = xp.asarray(x, dtype=xp.float32)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"attack one image (1, C, H, W), got shape {tuple(x.shape)}")
    classes = int(model.forward(x, False).shape[1])
    if not 0 <= int(target) < classes:
        raise ValueError(f"no class {target}: choose a target from 0 to {classes - 1}")
    probs_before = to_numpy(softmax(model.forward(x, False)))[0].astype(np.float32)
    p0, p, ok, probs = _expanding_ball(model, x, xp.asarray([int(target)]), mean, std,
                                       eps_max, steps, None)
    mu, sd = per_channel(xp, mean, x.shape[1]), per_channel(xp, std, x.shape[1])
    delta = to_numpy(p - p0)[0].astype(np.float32)
    probs = to_numpy(probs)[0].astype(np.float32)
    return Attack(to_numpy((p - mu) / sd).astype(np.float32), delta,
                  float(np.abs(delta).max()), int(probs.argmax()), float(probs.max()),
                  probs_before, probs, bool(to_numpy(ok)[0]))


def attack_many(model, images, labels, target: int, mean, std, n: int = 100,
                eps_max: float = EPS_MAX, steps: int = STEPS, batch: int = 100,
                stop_event=None):
    """targeted_attack on each of the first `n` of images (N, C, H, W) normalised whose label
    (N,) is not `target`, `batch` at a time. Returns (indices (m,) int64, linf (m,) float32,
    success (m,) bool), m <= n; fewer when stop_event (a threading.Event) is set."""
    xp = model.backend.xp
    pool = np.flatnonzero(np.asarray(labels) != int(target))[:n]
    linf, success = [], []
    for i in range(0, len(pool), batch):
        if stop_event is not None and stop_event.is_set():
            break
        chunk = pool[i : i + batch]
        x = model.backend.to_device(images[chunk])
        p0, p, ok, _ = _expanding_ball(model, x, xp.full(len(chunk), int(target)), mean, std,
                                       eps_max, steps, stop_event)
        linf.append(to_numpy(xp.abs(p - p0).reshape(len(chunk), -1).max(axis=1)))
        success.append(to_numpy(ok))
    m = sum(map(len, linf))
    return (pool[:m].astype(np.int64), np.concatenate(linf or [[]]).astype(np.float32),
            np.concatenate(success or [[]]).astype(bool))
