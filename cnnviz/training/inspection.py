"""What a session shows of its model: evaluation, activations, attribution, top digits,
embedding and kernels, each emitted as an event to the session's listeners. No Qt."""

from __future__ import annotations

import time

import numpy as np

from cnnviz.backend import to_numpy
from cnnviz.core.layers import Conv2D
from cnnviz.core.losses import softmax
from cnnviz.data.loader import normalize
from cnnviz.training import inspect
from cnnviz.training.attack import EPS_MAX, attack_many, targeted_attack
from cnnviz.training.events import (
    ActivationSnapshot,
    AttackResult,
    AttackSummary,
    Attribution,
    Embedding,
    Evaluation,
    FilterSnapshot,
    PreferredInputs,
    TopActivations,
)
from cnnviz.training.metrics import confusion_matrix
from cnnviz.training.synthesis import best_test_inputs, synthesize

EVAL_BATCH = 64  # images per eval forward: larger batches overflow the CPU caches


def _picture(x):
    """One normalised input x (1, C, H, W) as events carry it: (H, W) grey, (H, W, C) colour."""
    return x[0, 0].copy() if x.shape[1] == 1 else np.ascontiguousarray(x[0].transpose(1, 2, 0))


class SessionInspection:
    """The inspection half of TrainingSession (a mixin): it reads the session's model,
    backend, splits, step_count and stop_event, and emits through its `emit`."""

    def evaluate(self, split: str = "test", limit: int | None = None,
                 emit: bool = True) -> Evaluation | None:
        """Loss, accuracy, confusion matrix and per-sample predictions on a split (eval mode),
        for its first `limit` samples (all when None). Returns None, emitting nothing, when
        stop_event is set before the pass ends (it is checked between batches). emit=False
        returns the Evaluation without telling the listeners."""
        x, y = self.splits[split]
        if limit:
            x, y = x[:limit], y[:limit]
        probs = np.empty((len(y), self.model_classes()), np.float32)
        for i in range(0, len(y), EVAL_BATCH):
            if self.stop_event.is_set():
                return None
            logits = self.model.predict(self.backend.to_device(x[i : i + EVAL_BATCH]))
            probs[i : i + EVAL_BATCH] = to_numpy(softmax(logits))
        preds = probs.argmax(axis=1)
        eps = np.finfo(np.float32).tiny
        loss = float(-np.log(np.maximum(probs[np.arange(len(y)), y], eps)).mean()) if len(y) else 0
        ev = Evaluation(split, self.step_count, loss, float((preds == y).mean()) if len(y) else 0.0,
                        confusion_matrix(y, preds, probs.shape[1]), preds, y.copy(), probs)
        if emit:
            self.emit(ev)
        return ev

    def model_classes(self) -> int:
        return self.model.summary()[-1]["output_shape"][0]

    def _input(self, image) -> tuple[np.ndarray, int | None]:
        """(x (1, 1, H, W) normalised, label or None) for a test index or an (H, W) image
        (uint8 0..255, or float in [0, 1])."""
        if isinstance(image, (int, np.integer)):
            return self.splits["test"][0][image : image + 1], int(self.splits["test"][1][image])
        img = np.asarray(image)
        if img.dtype != np.uint8:
            img = np.clip(np.asarray(img, np.float32), 0, 1)
        return normalize(img[None], *self.norm), None

    def activations(self, image, label: int | None = None) -> ActivationSnapshot:
        """One image through every layer. image: (H, W) uint8 / [0, 1] float, or an int index
        into the test set."""
        x, known = self._input(image)
        label = known if label is None else label
        outputs = self.model.record(self.backend.to_device(x))
        maps = [(name, to_numpy(out[0]).astype(np.float32)) for name, out in outputs]
        probs = to_numpy(softmax(outputs[-1][1]))[0]
        snap = ActivationSnapshot(self.step_count, _picture(x), maps, probs, label)
        self.emit(snap)
        return snap

    def conv_layers(self) -> list[str]:
        """Names of the layers whose output is a stack of maps (C, H, W)."""
        return [r["name"] for r in self.model.summary() if len(r["output_shape"]) == 3]

    def attribution(self, image, target: int | None = None, layer: str | None = None,
                    ) -> Attribution:
        """Saliency, Grad-CAM (of `layer`, default the last conv-shaped layer) and occlusion
        for a test index or a drawn image, for class `target` (default: the predicted one)."""
        x, label = self._input(image)
        xd = self.backend.to_device(x)
        probs = to_numpy(softmax(self.model.forward(xd, False)))[0]
        target = int(probs.argmax()) if target is None else int(target)
        layer = layer or self.conv_layers()[-1]
        ev = Attribution(self.step_count, _picture(x), target, layer,
                         inspect.saliency(self.model, xd, target),
                         inspect.grad_cam(self.model, xd, target, layer),
                         inspect.occlusion(self.model, xd, target), probs, label)
        self.emit(ev)
        return ev

    def top_activations(self, layer: str, k: int = 9) -> TopActivations:
        """The k test digits that drive each channel of `layer` hardest, in one pass."""
        t0 = time.perf_counter()
        idx, scores, maps = inspect.top_activations(self.model, self.splits["test"][0], layer, k)
        ev = TopActivations(self.step_count, layer, idx, scores, maps, time.perf_counter() - t0)
        self.emit(ev)
        return ev

    def preferred_inputs(self, layer: str | None, classes: bool = False, steps: int = 200,
                         seed: int = 0) -> PreferredInputs:
        """What each channel of `layer` (conv-shaped), or with classes=True each class, wants
        to see: inputs synthesized by gradient ascent within the pixel range real data takes
        once normalised, (0 - mean) / std .. (1 - mean) / std per channel; with the test
        image that does best at the same objective, for comparison."""
        t0 = time.perf_counter()
        mean, std = (np.asarray(v, np.float32) for v in self.norm)
        test = self.splits["test"][0]
        r = synthesize(self.model, layer, test.shape[1:], (0 - mean) / std, (1 - mean) / std,
                       steps=steps, seed=seed, classes=classes)
        index, best = best_test_inputs(self.model, test, layer, classes=classes)
        ev = PreferredInputs(self.step_count, "classes" if classes else str(layer), r.images,
                             r.objective, index, best, time.perf_counter() - t0)
        self.emit(ev)
        return ev

    def attack(self, image, target: int) -> AttackResult:
        """The smallest L-infinity change (pixels 0..1) of a test index or a drawn image that
        makes the network call it `target` (training.attack.targeted_attack)."""
        x, label = self._input(image)
        a = targeted_attack(self.model, self.backend.to_device(x), target, *self.norm)
        ev = AttackResult(self.step_count, int(target), _picture(x),
                          _picture(a.delta_pixels[None]), a.linf, a.probs_before,
                          a.probs_after, a.predicted, a.success, label)
        self.emit(ev)
        return ev

    def attack_all(self, target: int, n: int = 100) -> AttackSummary | None:
        """Targeted attacks on the first n test digits not of class `target`; None, emitting
        nothing, when stop_event is set before they end."""
        t0 = time.perf_counter()
        x, y = self.splits["test"]
        idx, linf, ok = attack_many(self.model, x, y, target, *self.norm, n=n,
                                    stop_event=self.stop_event)
        if self.stop_event.is_set():
            return None
        ev = AttackSummary(self.step_count, int(target), idx, linf, ok, EPS_MAX,
                           time.perf_counter() - t0)
        self.emit(ev)
        return ev

    def embedding(self, n: int = 2000) -> Embedding:
        """PCA of the penultimate layer's outputs for the first n test digits (a Dropout
        there is skipped: in eval mode it passes its input through)."""
        x, y = self.splits["test"]
        x, y = x[:n], y[:n]
        names = self.model.names[:-1]
        layer = next((nm for nm in reversed(names) if not nm.endswith(".Dropout")), names[-1])
        coords, explained, preds = inspect.embedding(self.model, x, layer, predictions=True)
        ev = Embedding(self.step_count, layer, coords, y.copy(), preds, np.arange(len(y)),
                       explained)
        self.emit(ev)
        return ev

    def filters(self) -> FilterSnapshot:
        """Every conv layer's kernels as numpy copies."""
        snap = FilterSnapshot(self.step_count, {
            name: to_numpy(layer.params["W"]).copy()
            for name, layer in zip(self.model.names, self.model.layers)
            if isinstance(layer, Conv2D)})
        self.emit(snap)
        return snap
