"""Training configuration: everything needed to rebuild a run, JSON-serialisable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from cnnviz.backend import default_backend_name
from cnnviz.core.optim import OPTIMIZERS, SCHEDULES
from cnnviz.core.presets import DEFAULT_PRESET, PRESETS
from cnnviz.data.augment import Augment

#: When a changed setting takes effect in a running session. The app's controls, the run
#: driver and the pending-changes note all read these three tuples.
LIVE = ("lr", "momentum", "augment")  # at the next step, even while training
ON_RESUME = ("epochs", "schedule", "weight_decay", "backend")  # on Start/Resume, or Reset
ON_RESET = ("arch", "spec", "optimizer", "batch_size", "seed", "val_size", "limit_train",
            "limit_test")  # only on Reset (a new session), or Start before the first step


@dataclass
class TrainConfig:
    """A run's settings. `spec` (a layer list) wins over `arch` (a preset name) when given.

    The defaults are the recipe chosen with benchmarks/recipes.py (README, "Learning"): Adam at
    5e-3 on a one-cycle schedule, batch 32, light augmentation. It learns visibly from the first
    steps of a short run and ends high on long ones.
    """

    arch: str = DEFAULT_PRESET
    spec: list | None = None
    optimizer: str = "adam"
    lr: float = 5e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    batch_size: int = 32
    epochs: int = 2
    seed: int = 0
    backend: str = field(default_factory=default_backend_name)  # $CNNVIZ_BACKEND or numpy
    dataset: str = "mnist"
    data_dir: str | None = None
    image_size: int | None = None  # image folders: resize to this (None: the most common size)
    val_size: int = 5000
    limit_train: int | None = None
    limit_test: int | None = None
    augment: float = 0.5  # strength of random shifts, rotations and zooms (0: off)
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting and its allowed values."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of: "
                             f"{', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of: "
                             f"{', '.join(SCHEDULES)}")
        if self.spec is None and self.arch not in PRESETS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of: "
                             f"{', '.join(PRESETS)}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("batch size and epochs must be at least 1")
        if self.val_size < 0:
            raise ValueError("validation size must be 0 or more")
        Augment(self.augment)  # ValueError naming a bad strength
        if self.image_size is not None and self.image_size < 1:
            raise ValueError(f"image size must be at least 1 pixel, got {self.image_size}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def changed(a: TrainConfig, b: TrainConfig, fields: tuple = LIVE + ON_RESUME + ON_RESET) -> list:
    """The names in `fields` whose values differ between `a` and `b`, in `fields` order."""
    return [f for f in fields if getattr(a, f) != getattr(b, f)]
