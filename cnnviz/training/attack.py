"""An attack lab: the smallest L-infinity change of an image's pixels (0..1 units) that makes
the network call it a chosen class. Runs on the model's backend (xp); returns numpy. Like
inspect, it reuses the eval-mode backward, which overwrites the layers' grads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnviz.backend import to_numpy
from cnnviz.core.losses import softmax
from cnnviz.training.synthesis import per_channel


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


def _probs_and_grad(model, x, target: int):
    """(softmax probabilities (K, classes), d CE(target) / d x (K, C, H, W)) in eval mode."""
    xp = model.backend.xp
    logits = model.forward(x, False)
    p = softmax(logits)
    dy = p.copy()
    dy[:, target] -= 1
    first = model.layers[0].input_grad
    try:
        dx = model.backward(dy.astype(logits.dtype), input_grad=True)
    finally:
        model.layers[0].input_grad = first
    return p, xp.asarray(dx)


def targeted_attack(model, x, target: int, mean, std, eps_max: float = 0.3,
                    step: float = 0.01, steps: int = 50, eps_step: float = 0.02) -> Attack:
    """Make the network predict `target` for x (1, C, H, W) normalised, with the smallest
    L-infinity budget on the grid eps_step, 2 eps_step, ... up to eps_max (pixel units).

    Every budget runs at once, one copy of the image each, in one batch: `steps` targeted PGD
    steps in pixel space (descend the target's cross-entropy by the gradient's sign, step
    max(step, 2.5 eps / steps)), projected onto the eps-ball and onto [0, 1]; a copy stops
    moving once the network predicts the target. Returns the smallest budget that succeeded,
    or the largest attempt with success=False. mean, std: the session's norm (one value, or
    one per channel). Deterministic (no random start).
    """
    if not eps_max > 0 or not steps >= 1 or not eps_step > 0:
        raise ValueError("eps_max, eps_step and steps must be positive")
    xp = model.backend.xp
    x = xp.asarray(x, dtype=xp.float32)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"attack one image (1, C, H, W), got shape {tuple(x.shape)}")
    c = x.shape[1]
    classes = int(model.forward(x, False).shape[1])
    if not 0 <= int(target) < classes:
        raise ValueError(f"no class {target}: choose a target from 0 to {classes - 1}")
    target = int(target)
    mu, sd = per_channel(xp, mean, c), per_channel(xp, std, c)
    p0 = xp.clip(x * sd + mu, 0, 1)
    probs_before = to_numpy(softmax(model.forward(x, False)))[0].astype(np.float32)

    def result(p, ok: bool, probs) -> Attack:
        delta = to_numpy(p - p0)[0].astype(np.float32)
        probs = to_numpy(probs).astype(np.float32)
        return Attack(to_numpy((p - mu) / sd).astype(np.float32), delta,
                      float(np.abs(delta).max()), int(probs.argmax()), float(probs.max()),
                      probs_before, probs, ok)

    if int(probs_before.argmax()) == target:
        return result(p0, True, probs_before)
    n = max(int(np.floor(eps_max / eps_step + 1e-6)), 1)
    eps_host = np.minimum(np.arange(1, n + 1) * eps_step, eps_max).astype(np.float32)
    if eps_host[-1] < eps_max:
        eps_host = np.append(eps_host, np.float32(eps_max))
    eps = xp.asarray(eps_host).reshape(-1, 1, 1, 1)
    alpha = xp.maximum(xp.float32(step), 2.5 * eps / steps)
    p = xp.repeat(p0, len(eps_host), axis=0)
    done = xp.zeros(len(eps_host), dtype=bool)
    for _ in range(steps):
        probs, g = _probs_and_grad(model, (p - mu) / sd, target)
        done = done | (probs.argmax(axis=1) == target)
        if bool(done.all()):
            break
        moving = (~done).reshape(-1, 1, 1, 1)
        q = p - alpha * xp.sign(g)
        q = xp.clip(p0 + xp.clip(q - p0, -eps, eps), 0, 1)
        p = xp.where(moving, q, p).astype(xp.float32)
    probs = softmax(model.forward((p - mu) / sd, False))
    ok = to_numpy(probs.argmax(axis=1) == target)
    i = int(np.argmax(ok)) if ok.any() else len(eps_host) - 1
    return result(p[i : i + 1], bool(ok[i]), probs[i])
