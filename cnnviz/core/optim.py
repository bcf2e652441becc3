"""Optimizers with PyTorch's update rules, and learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np

from cnnviz.backend import array_module, to_numpy

#: Every FLUSH_EVERY steps, |values| below FLUSH_BELOW in the parameters and optimizer slots
#: are set to 0 (see Optimizer._flush_tiny).
FLUSH_EVERY = 50
FLUSH_BELOW = 1e-30


class Optimizer:
    """Updates a model's params in place from its grads.

    `lr` and `momentum` may be changed between steps. `state` holds per-parameter arrays
    (name -> {slot: array}); `t` counts steps taken.
    """

    kind = "Optimizer"
    slots: tuple[str, ...] = ()

    def __init__(self, model, lr, weight_decay=0.0):
        self.model = model
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.t = 0
        self.state = {}

    def zero_grad(self):
        self.model.zero_grad()

    def _grad(self, p, g):
        """The gradient with L2 weight decay added (a new array when decay is on)."""
        return g + self.weight_decay * p if self.weight_decay else g

    def _slot(self, name, slot, like):
        s = self.state.setdefault(name, {})
        if slot not in s:
            s[slot] = array_module(like).zeros_like(like)
        return s[slot]

    def step(self):
        self.t += 1
        for name, p, g in self.model.parameters():
            self._update(name, p, self._grad(p, g))
        if self.t % FLUSH_EVERY == 0:
            self._flush_tiny()

    def _flush_tiny(self):
        """Zero |values| below FLUSH_BELOW in the parameters and slots. Weights that never get
        a gradient (inputs a dead ReLU keeps at 0) and their moments decay geometrically
        under weight decay and momentum into float32's subnormal range, where every product
        touching them runs many times slower on x86: a long cnn-bn run went from 22 to 82 ms
        a step. Weights are ~1e-2, so nothing below 1e-30 changes a result; near-subnormal
        values must go too, as their products are subnormal. Depends only on t, which
        checkpoints keep, so resumes stay exact."""
        arrays = [p for _, p, _ in self.model.parameters()]
        arrays += [v for slots in self.state.values() for v in slots.values()]
        for a in arrays:
            a[array_module(a).abs(a) < FLUSH_BELOW] = 0

    def _update(self, name, p, g):
        raise NotImplementedError

    def hyper(self) -> dict:
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> dict:
        """{"kind", "t", "hyper": {...}, "state": {"param.slot": numpy array}}."""
        flat = {f"{n}/{k}": to_numpy(v).copy() for n, s in self.state.items() for k, v in s.items()}
        return {"kind": self.kind, "t": self.t, "hyper": self.hyper(), "state": flat}

    def load_state_dict(self, d: dict) -> None:
        if d["kind"] != self.kind:
            raise ValueError(f"optimizer state is for {d['kind']}, this optimizer is {self.kind}")
        params = {n: p for n, p, _ in self.model.parameters()}
        self.state = {}
        for key, arr in d["state"].items():
            name, slot = key.rsplit("/", 1)
            if name not in params or params[name].shape != arr.shape:
                raise ValueError(f"optimizer state {key} does not fit this model")
            self.state.setdefault(name, {})[slot] = self.model.backend.to_device(
                np.asarray(arr, dtype=params[name].dtype))
        self.t = int(d["t"])
        for k, v in d["hyper"].items():
            setattr(self, k, v)

    def to(self, backend):
        """Move the state arrays (call after the model moved)."""
        for s in self.state.values():
            for k, v in s.items():
                s[k] = backend.to_device(to_numpy(v))


class SGD(Optimizer):
    """p -= lr * g, with optional (Nesterov) momentum: buf = momentum * buf + g."""

    kind = "SGD"

    def __init__(self, model, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(model, lr, weight_decay)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")

    def hyper(self):
        return {**super().hyper(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, name, p, g):
        if self.momentum:
            buf = self._slot(name, "momentum", p)
            buf *= self.momentum
            buf += g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g


class Adagrad(Optimizer):
    """sum += g^2; p -= lr * g / (sqrt(sum) + eps)."""

    kind = "Adagrad"

    def __init__(self, model, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(model, lr, weight_decay)
        self.eps = eps

    def _update(self, name, p, g):
        xp = array_module(p)
        s = self._slot(name, "sum", p)
        s += g * g
        p -= self.lr * g / (xp.sqrt(s) + self.eps)


class RMSprop(Optimizer):
    """sq = alpha * sq + (1 - alpha) * g^2; p -= lr * g / (sqrt(sq) + eps)."""

    kind = "RMSprop"

    def __init__(self, model, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(model, lr, weight_decay)
        self.alpha, self.eps = alpha, eps

    def _update(self, name, p, g):
        xp = array_module(p)
        sq = self._slot(name, "square_avg", p)
        sq *= self.alpha
        sq += (1 - self.alpha) * g * g
        p -= self.lr * g / (xp.sqrt(sq) + self.eps)


class Adam(Optimizer):
    """Adam with bias correction; `momentum` is beta1 (so one-cycle can cycle it)."""

    kind = "Adam"

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(model, lr, weight_decay)
        self.momentum, self.beta2, self.eps = float(betas[0]), float(betas[1]), eps

    def hyper(self):
        return {**super().hyper(), "momentum": self.momentum}

    def _update(self, name, p, g):
        xp = array_module(p)
        m, v = self._slot(name, "exp_avg", p), self._slot(name, "exp_avg_sq", p)
        b1, b2 = self.momentum, self.beta2
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        denom = xp.sqrt(v)
        denom *= 1 / math.sqrt(bc2)
        denom += self.eps
        p -= (self.lr / bc1) * m / denom


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
#: The optimizers whose `momentum` (Adam: beta1) is used, so the schedule may move it.
MOMENTUM_OPTIMIZERS = ("momentum", "nesterov", "adam")


def make_optimizer(name, model, lr, momentum=0.9, weight_decay=0.0) -> Optimizer:
    """One of OPTIMIZERS by name: sgd | momentum | nesterov | adagrad | rmsprop | adam."""
    if name == "sgd":
        return SGD(model, lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return SGD(model, lr, momentum=momentum, nesterov=name == "nesterov",
                   weight_decay=weight_decay)
    if name == "adagrad":
        return Adagrad(model, lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return RMSprop(model, lr, weight_decay=weight_decay)
    if name == "adam":
        return Adam(model, lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


SCHEDULES = ("constant", "step", "cosine", "onecycle")


def scheduled_lr(schedule, base_lr, step, total_steps, step_size=None, gamma=0.1) -> float:
    """Learning rate at `step` (0-based) of `total_steps`.

    constant: base_lr. step: base_lr * gamma ** (step // step_size) (step_size defaults to a
    third of the run). cosine: from base_lr down to 0. onecycle: PyTorch's OneCycleLR with
    max_lr = base_lr (warm up from base_lr/25 over 30%, anneal to base_lr/25e4).
    """
    total = max(int(total_steps), 1)
    step = min(max(int(step), 0), total)
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        size = step_size or max(total // 3, 1)
        return base_lr * gamma ** (step // size)
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * step / total))
    if schedule == "onecycle":
        start, end = base_lr / 25, base_lr / 25 / 1e4
        up = 0.3 * total - 1
        if step <= up:
            return _cos_anneal(start, base_lr, step / up if up > 0 else 1.0)
        return _cos_anneal(base_lr, end, min((step - up) / max(total - 1 - up, 1), 1.0))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")


ONECYCLE_MOMENTUM_SPAN = 0.1  # one-cycle's momentum swing around the base value


def scheduled_momentum(schedule, base_momentum, step, total_steps) -> float:
    """Momentum (or Adam's beta1) at `step`. One-cycle swings it around the base value, as
    PyTorch's OneCycleLR does between base_momentum and max_momentum: from high = base + 0.05
    down to high - 0.1 while the learning rate warms up, and back (high at most 0.999, low at
    least 0): the default 0.9 gives 0.95 -> 0.85 -> 0.95. Other schedules keep it constant."""
    if schedule != "onecycle":
        return base_momentum
    high = min(base_momentum + ONECYCLE_MOMENTUM_SPAN / 2, 0.999)
    low = max(high - ONECYCLE_MOMENTUM_SPAN, 0.0)
    total = max(int(total_steps), 1)
    up = 0.3 * total - 1
    if step <= up:
        return _cos_anneal(high, low, step / up if up > 0 else 1.0)
    return _cos_anneal(low, high, min((step - up) / max(total - 1 - up, 1), 1.0))


def _cos_anneal(start, end, frac):
    return end + (start - end) / 2 * (1 + math.cos(math.pi * frac))
