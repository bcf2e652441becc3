"""The training session: one object that the CLI and the app drive, step by step. No Qt."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

import numpy as np

from cnnviz.backend import get_backend, to_numpy
from cnnviz.core.layers import ReLU
from cnnviz.core.losses import SoftmaxCrossEntropy
from cnnviz.core.model import build_model, resolve_spec
from cnnviz.core.optim import (
    MOMENTUM_OPTIMIZERS,
    make_optimizer,
    scheduled_lr,
    scheduled_momentum,
)
from cnnviz.core.presets import PRESETS, fit_preset, preset
from cnnviz.data.augment import Augment
from cnnviz.data.loader import BatchIterator, channel_stats, normalize, split_validation
from cnnviz.training.config import TrainConfig
from cnnviz.training.events import (
    Diverged,
    EpochMetrics,
    LayerStats,
    StepMetrics,
    TrainingBatch,
)
from cnnviz.training.history import History
from cnnviz.training.inspection import SessionInspection

# A finished run given more epochs goes on with a new cycle of its schedule over the added
# steps, peaking at this fraction of the learning rate: a full-height cycle would first undo
# much of what the annealed end of the last one reached (a 1-epoch cnn-bn run extended to 2
# on 5,000 images fell from 89% to 55% that way).
EXTEND_PEAK = 0.1
BATCH_SAMPLE = 8  # images of each training batch kept for batch_sample


class DivergenceError(RuntimeError):
    """The loss became NaN or infinite. `event` is the Diverged event."""

    def __init__(self, event: Diverged):
        super().__init__(event.message)
        self.event = event


class TrainingSession(SessionInspection):
    """Trains a model on a dataset one batch at a time and reports what happens.

    `dataset` has train_images/train_labels/test_images/test_labels (uint8 (N, 28, 28) and
    (N,)) and class_names; when None it is loaded from config.dataset / config.data_dir.
    `listeners` are called with every event (StepMetrics, EpochMetrics, Evaluation, ...).
    """

    def __init__(self, config: TrainConfig | None = None, dataset=None):
        self.config = config = config or TrainConfig()
        config.validate()
        if dataset is None:
            from cnnviz.data.sources import load_dataset

            dataset = load_dataset(config.data_dir, name=config.dataset,
                                   image_size=config.image_size)
        self.dataset = dataset
        self.class_names = tuple(getattr(dataset, "class_names", [str(i) for i in range(10)]))
        self.listeners: list = []
        # When on, every step also emits LayerStats (costs a copy of the weights per step).
        self.collect_layer_stats = False
        self.stop_event = threading.Event()
        self._prepare_data()
        self.reset()

    # -- set-up ------------------------------------------------------------------------------

    def _prepare_data(self):
        cfg, ds = self.config, self.dataset
        train_x, train_y = ds.train_images, ds.train_labels
        if cfg.limit_train:
            train_x, train_y = train_x[: cfg.limit_train], train_y[: cfg.limit_train]
        val_size = min(cfg.val_size, len(train_x) // 5)
        # (mean, std) per channel of the training images, stored in checkpoints
        self.norm = channel_stats(ds.name, train_x)
        tx, ty, vx, vy = split_validation(train_x, train_y, val_size, cfg.seed)
        test_x, test_y = ds.test_images, ds.test_labels
        if cfg.limit_test:
            test_x, test_y = test_x[: cfg.limit_test], test_y[: cfg.limit_test]
        self.splits = {
            "train": (normalize(tx, *self.norm), np.asarray(ty, np.int64)),
            "val": (normalize(vx, *self.norm), np.asarray(vy, np.int64)),
            "test": (normalize(test_x, *self.norm), np.asarray(test_y, np.int64)),
        }
        self.test_images = np.asarray(test_x)
        c = self.splits["train"][0].shape[1]
        black = normalize(np.zeros((1, 1, 1, c) if c > 1 else (1, 1, 1), np.uint8), *self.norm)
        self.blank = float(black.flat[0]) if c == 1 else black[0, :, 0, 0]  # per channel

    def reset(self):
        """(Re)build the model and optimizer from the config and seed; clear the history."""
        cfg = self.config
        self.spec = cfg.spec if cfg.spec is not None else fit_preset(preset(cfg.arch),
                                                                      len(self.class_names))
        self.backend = get_backend(cfg.backend)
        input_shape = tuple(self.splits["train"][0].shape[1:])  # (C, H, W)
        self.model = build_model(self.spec, input_shape, cfg.seed, self.backend)
        self.optimizer = make_optimizer(cfg.optimizer, self.model, cfg.lr, cfg.momentum,
                                        cfg.weight_decay)
        self.loss_fn = SoftmaxCrossEntropy()
        self.batches = BatchIterator(*self.splits["train"], cfg.batch_size, seed=cfg.seed)
        self.step_count = 0
        self.cycle_start = 0  # the step the schedule in force began at (see extend)
        self.history = History()
        self._epoch_sums = [0.0, 0.0, 0]
        self._recent = deque(maxlen=20)
        self._seen = None  # (images, labels) of the last batch's first BATCH_SAMPLE
        self._epoch_start = time.perf_counter()

    # -- properties ------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The epoch being trained (0-based); equals config.epochs when the run is done."""
        return self.batches.epoch

    @property
    def position(self) -> int:
        """Index of the next batch within the current epoch."""
        return self.batches.position

    @property
    def steps_per_epoch(self) -> int:
        return len(self.batches)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def current_lr(self) -> float:
        cfg, start = self.config, self.cycle_start
        peak = cfg.lr if start == 0 or cfg.schedule == "constant" else cfg.lr * EXTEND_PEAK
        return scheduled_lr(cfg.schedule, peak, self.step_count - start, self.total_steps - start)

    def current_momentum(self) -> float:
        cfg, start = self.config, self.cycle_start
        return scheduled_momentum(cfg.schedule, cfg.momentum, self.step_count - start,
                                  self.total_steps - start)

    def set_epochs(self, epochs: int) -> str | None:
        """Change the run's length. While the schedule is still running it stretches or shrinks
        to the new end; a finished run given more epochs starts a new cycle of its schedule
        over the added steps, at EXTEND_PEAK of the learning rate, so it goes on from where it
        ended instead of jumping back to a high rate. Returns a sentence saying so, or None."""
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        was_finished = self.step_count >= self.total_steps
        self.config.epochs = int(epochs)
        if not (was_finished and self.step_count < self.total_steps):
            return None
        self.cycle_start = self.step_count
        return self.schedule_note()

    def schedule_note(self) -> str | None:
        """What the schedule does after an extension (None before any)."""
        if self.cycle_start == 0:
            return None
        cfg, added = self.config, self.total_steps - self.cycle_start
        if cfg.schedule == "constant":
            return f"going on for {added} more steps at the learning rate {cfg.lr:g}"
        return (f"going on for {added} more steps with a new {cfg.schedule} schedule peaking at "
                f"{cfg.lr * EXTEND_PEAK:g} ({EXTEND_PEAK:g} of the learning rate {cfg.lr:g})")

    def set_hyper(self, lr: float | None = None, momentum: float | None = None):
        """Change the base learning rate and/or momentum; takes effect at the next step."""
        if lr is not None:
            if not lr > 0:
                raise ValueError(f"learning rate must be positive, got {lr}")
            self.config.lr = float(lr)
        if momentum is not None:
            if not 0 <= momentum < 1:
                raise ValueError(f"momentum must be in [0, 1), got {momentum}")
            self.config.momentum = float(momentum)

    def apply(self, config: TrainConfig, fields) -> str | None:
        """Take the named `fields` of `config` (of config.LIVE and config.ON_RESUME) between
        steps; the others need a new session. Returns set_epochs' sentence, if any."""
        fields, note = set(fields), None
        if "backend" in fields and config.backend != self.backend.name:
            self.set_backend(config.backend)  # BackendError (no GPU) reaches the user
        self.set_hyper(lr=config.lr if "lr" in fields else None,
                       momentum=config.momentum if "momentum" in fields else None)
        if "augment" in fields:
            Augment(config.augment)  # ValueError names a bad strength
            self.config.augment = float(config.augment)
        if "epochs" in fields and config.epochs >= 1:
            note = self.set_epochs(config.epochs)
        if "schedule" in fields:
            self.config.schedule = config.schedule
        if "weight_decay" in fields:
            self.config.weight_decay = self.optimizer.weight_decay = float(config.weight_decay)
        return note

    def set_backend(self, name) -> None:
        """Move the model and optimizer state to another backend between steps."""
        self.backend = get_backend(name)
        self.config.backend = self.backend.name
        self.model.to(self.backend)
        self.optimizer.to(self.backend)

    # -- training ---------------------------------------------------------------------------

    def emit(self, event):
        for listener in list(self.listeners):
            listener(event)

    def step(self) -> StepMetrics:
        """Train on one batch. Raises DivergenceError (weights untouched) on a non-finite loss."""
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported, not warned
            return self._step()

    def _step(self) -> StepMetrics:
        model, backend = self.model, self.backend
        if self.position == 0:
            self._epoch_start = time.perf_counter()
        t0 = time.perf_counter()
        state = {"batches": self.batches.state_dict(), "rng": model.rng_state(),
                 "buffers": [b.copy() for _, b in model.buffers()]}
        x, y, epoch_ended = self.batches.next_batch()
        x = self._augment(x, state["batches"])
        self._seen = (x[:BATCH_SAMPLE].copy(), y[:BATCH_SAMPLE].copy())
        xb, yb = backend.to_device(x), backend.to_device(y)
        self.optimizer.lr = lr = self.current_lr()
        momentum = self.current_momentum()
        if self.config.optimizer in MOMENTUM_OPTIMIZERS:
            self.optimizer.momentum = momentum
        model.train()
        logits = model.forward(xb, True)
        loss = float(self.loss_fn.forward(logits, yb))
        if not math.isfinite(loss):
            self._diverge(loss, state)
        model.backward(self.loss_fn.backward())
        grad_sq = float(sum((g * g).sum() for _, _, g in model.parameters()))
        if not math.isfinite(grad_sq):
            self._diverge(grad_sq, state)
        before = self._weights_before() if self.collect_layer_stats else None
        self.optimizer.step()
        acc = float((to_numpy(self.loss_fn.probs.argmax(axis=1)) == y).mean())
        self.step_count += 1
        self._recent.append((time.perf_counter() - t0, len(y)))
        secs, imgs = map(sum, zip(*self._recent))
        metrics = StepMetrics(self.step_count, self.epoch if not epoch_ended else self.epoch - 1,
                              state["batches"]["position"] + 1, loss, acc, lr, momentum,
                              imgs / secs if secs > 0 else 0.0)
        self.history.add_step(metrics)
        s = self._epoch_sums
        s[0] += loss * len(y)
        s[1] += acc * len(y)
        s[2] += len(y)
        self.emit(metrics)
        if before is not None:
            self.emit(self._layer_stats(before))
        if epoch_ended:
            self._end_epoch(self.epoch - 1)
        return metrics

    def batch_sample(self) -> TrainingBatch | None:
        """Emit and return the first BATCH_SAMPLE images of the last training batch as the
        network received them; None before the first step."""
        if self._seen is None:
            return None
        ev = TrainingBatch(self.step_count, *self._seen, self.config.augment)
        self.emit(ev)
        return ev

    def _augment(self, x, batches: dict):
        """The training batch x (B, C, H, W) as the network receives it: distorted by
        config.augment (0: x itself), drawn from a generator seeded by the run's seed and the
        batch's epoch and position, so a resumed run sees the same images."""
        strength = self.config.augment
        if strength == 0:
            return x
        rng = np.random.default_rng([self.config.seed, batches["epoch"], batches["position"]])
        flip = bool(getattr(self.dataset, "flips", False))
        return Augment(strength, flip=flip).apply(x, rng, fill=self.blank)

    def _weights_before(self) -> dict:
        """Copies of each layer's "W" before the update (on the device)."""
        self.model.profile = True
        return {i: layer.params["W"].copy() for i, layer in enumerate(self.model.layers)
                if "W" in layer.params}

    def _layer_stats(self, before: dict) -> LayerStats:
        model = self.model
        xp = self.backend.xp
        n = len(model.layers)
        stats = np.full((3, n), np.nan)
        for i, layer in enumerate(model.layers):
            if i in before:
                w, old = layer.params["W"], before[i]
                stats[0, i] = float(xp.linalg.norm(layer.grads["W"]))
                stats[1, i] = float(xp.linalg.norm(w - old)) / max(float(xp.linalg.norm(old)),
                                                                    1e-12)
            if isinstance(layer, ReLU) and layer._cache is not None:
                alive = (layer._cache > 0).any(axis=0)
                stats[2, i] = 1.0 - float(alive.mean())
        ms = np.array([model.timings[name] for name in model.names], dtype=np.float64)
        return LayerStats(self.step_count, tuple(model.names), stats[0], stats[1], stats[2],
                          ms[:, 0], ms[:, 1])

    def _diverge(self, value: float, state: dict):
        # Undo what the failed forward pass changed: batch position, dropout RNG, BN statistics.
        self.batches.load_state_dict(state["batches"])
        self.model.set_rng_state(state["rng"])
        for (_, b), saved in zip(self.model.buffers(), state["buffers"]):
            b[...] = saved
        event = Diverged(
            self.step_count + 1, self.epoch, value,
            f"training diverged at step {self.step_count + 1}: the loss became {value}. "
            f"Lower the learning rate (now {self.config.lr:g}) and reset or resume; "
            f"the weights keep their last finite values.")
        self.emit(event)
        raise DivergenceError(event)

    def _end_epoch(self, epoch: int):
        s = self._epoch_sums
        val = self.evaluate("val") if len(self.splits["val"][1]) else None
        em = EpochMetrics(
            epoch, self.step_count, s[0] / max(s[2], 1), s[1] / max(s[2], 1),
            val.loss if val else float("nan"), val.accuracy if val else float("nan"),
            self.optimizer.lr, time.perf_counter() - self._epoch_start)
        self.history.add_epoch(em)
        self._epoch_sums = [0.0, 0.0, 0]
        self.emit(em)

    def run_epoch(self) -> int:
        """Train to the end of the current epoch or until stop_event is set; returns steps run."""
        start_epoch, n = self.epoch, 0
        while self.epoch == start_epoch and not self.stop_event.is_set():
            self.step()
            n += 1
        return n

    def run(self, epochs: int | None = None) -> int:
        """Train until `epochs` epochs are complete (default config.epochs) or stopped."""
        target = self.config.epochs if epochs is None else epochs
        n = 0
        while self.epoch < target and not self.stop_event.is_set():
            n += self.run_epoch()
        return n

    # -- checkpoints ------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write a checkpoint (see cnnviz.training.checkpoint)."""
        from cnnviz.training.checkpoint import save_checkpoint

        save_checkpoint(self, path)

    @classmethod
    def from_checkpoint(cls, path, dataset=None, **overrides) -> TrainingSession:
        """A session with the checkpoint's own config and spec (`overrides` change settings
        such as data_dir or backend), restored to the saved step."""
        from cnnviz.training.checkpoint import read_checkpoint

        meta, _ = read_checkpoint(path)
        saved = meta["config"]
        spec = meta["spec"]
        fitted = fit_preset(preset(saved["arch"]), len(meta["class_names"])) \
            if saved.get("arch") in PRESETS else None
        if saved.get("spec") is None and fitted and spec == resolve_spec(
                fitted, tuple(meta["input_shape"]))[0]:
            spec = None  # a preset run stays one (so it reports its name)
        epochs = overrides.pop("epochs", None)
        config = TrainConfig.from_dict({**saved, "spec": spec, **overrides})
        session = cls(config, dataset)
        session.load(path)
        if epochs is not None:
            session.set_epochs(epochs)
        return session

    def load(self, path) -> None:
        """Restore weights, optimizer, position and history from a checkpoint of this spec."""
        from cnnviz.training.checkpoint import load_checkpoint

        load_checkpoint(self, path)
