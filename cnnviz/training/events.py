"""Events a session emits, and the SessionInfo a run driver announces: small frozen
dataclasses of numpy arrays and Python floats only."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StepMetrics:
    """One training batch. `loss`/`accuracy` are of that batch; `images_per_second` is recent."""

    step: int
    epoch: int
    position: int
    loss: float
    accuracy: float
    lr: float
    momentum: float
    images_per_second: float


@dataclass(frozen=True)
class EpochMetrics:
    """End of an epoch: means over its batches plus validation (NaN when there is none)."""

    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class Evaluation:
    """A pass over a split. confusion: (K, K) int64, rows true class, columns predicted.

    predictions, labels: (N,) int64 for the evaluated samples (in split order);
    probs: (N, K) float32.
    """

    split: str
    step: int
    loss: float
    accuracy: float
    confusion: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray
    probs: np.ndarray


@dataclass(frozen=True)
class FilterSnapshot:
    """Conv kernels at a step: layer name -> (out, in, k, k) float32."""

    step: int
    filters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingBatch:
    """The first images of the last training batch as the network received them (augmented
    when config.augment > 0): images (n, C, H, W) normalised float32, labels (n,) int."""

    step: int
    images: np.ndarray
    labels: np.ndarray
    augment: float


@dataclass(frozen=True)
class ActivationSnapshot:
    """One image through every layer. image: (H, W) grey or (H, W, 3) colour, as the network
    sees it (normalised);
    maps: list of (layer name, output of that layer for this image, shape (C, H, W) or (F,));
    probs: (K,) class probabilities."""

    step: int
    image: np.ndarray
    maps: list
    probs: np.ndarray
    label: int | None = None


@dataclass(frozen=True)
class Diverged:
    """The loss became NaN or infinite; the weights kept their last finite values."""

    step: int
    epoch: int
    loss: float
    message: str


@dataclass(frozen=True)
class LayerStats:
    """Per-layer health of the last step, for the step debugger. Arrays are (L,) float64 over
    all layers in `names`; NaN where a quantity does not apply (no weights, not a ReLU).

    grad_norm: |dW|; update_ratio: |W_after - W_before| / |W_before|; dead_fraction: share of
    ReLU units that were zero for every sample of the batch; forward_ms / backward_ms.
    """

    step: int
    names: tuple
    grad_norm: np.ndarray
    update_ratio: np.ndarray
    dead_fraction: np.ndarray
    forward_ms: np.ndarray
    backward_ms: np.ndarray


@dataclass(frozen=True)
class Attribution:
    """Where the network looks for one image and class: maps (H, W) float32 over the input;
    image: (H, W) grey or (H, W, 3) colour, normalised.

    saliency: |d score / d input| in [0, 1]; grad_cam: Grad-CAM of `layer` in [0, 1];
    occlusion: drop in the class probability when each area is greyed out (can be negative).
    """

    step: int
    image: np.ndarray
    target: int
    layer: str
    saliency: np.ndarray
    grad_cam: np.ndarray
    occlusion: np.ndarray
    probs: np.ndarray
    label: int | None = None


@dataclass(frozen=True)
class TopActivations:
    """The test digits that drive each channel of `layer` hardest.

    indices: (C, k) int64 test-set indices, best first; scores: (C, k) float32 (the channel's
    maximum); maps: (C, k, h, w) float32 that channel's map for each of those digits.
    """

    step: int
    layer: str
    indices: np.ndarray
    scores: np.ndarray
    maps: np.ndarray
    seconds: float


@dataclass(frozen=True)
class PreferredInputs:
    """Inputs synthesized to drive each channel of `layer` (or, with layer "classes", each
    class score) as hard as they can (training.synthesis.synthesize).

    images: (K, C, H, W) float32, normalised as the network takes them; objective: (K,)
    float32, the channel's mean (or the class's logit) each input reaches; best_index: (K,)
    int64, the test image that reaches the most of the same objective, and best_objective:
    (K,) float32 how much; seconds: wall time.
    """

    step: int
    layer: str
    images: np.ndarray
    objective: np.ndarray
    best_index: np.ndarray
    best_objective: np.ndarray
    seconds: float


@dataclass(frozen=True)
class AttackResult:
    """A targeted attack on one digit (training.attack.targeted_attack).

    image: the digit as the network takes it, (H, W) grey or (H, W, C) colour, normalised;
    delta: the change in pixel units (0..1 scale), same shape; linf: max |delta|;
    probs_before, probs_after: (classes,) float32; predicted: the class after the change;
    success: predicted == target; label: the true class, None for a drawing.
    """

    step: int
    target: int
    image: np.ndarray
    delta: np.ndarray
    linf: float
    probs_before: np.ndarray
    probs_after: np.ndarray
    predicted: int
    success: bool
    label: int | None = None


@dataclass(frozen=True)
class AttackSummary:
    """Targeted attacks on the first test digits not of class `target`.

    indices: (n,) int64 test indices; linf: (n,) float32 each one's size (of the largest
    budget tried when it failed); success: (n,) bool; eps_max: the largest budget tried.
    """

    step: int
    target: int
    indices: np.ndarray
    linf: np.ndarray
    success: np.ndarray
    eps_max: float
    seconds: float

    @property
    def success_rate(self) -> float:
        return float(self.success.mean()) if len(self.success) else 0.0

    @property
    def median_linf(self) -> float:
        """The median size of the successful attacks (NaN when none succeeded)."""
        won = self.linf[self.success]
        return float(np.median(won)) if len(won) else float("nan")


@dataclass(frozen=True)
class Embedding:
    """Test digits' penultimate-layer outputs projected to 2-D by PCA.

    coords: (N, 2) float32; labels, predictions, indices: (N,) int64; explained: (2,) float32.
    """

    step: int
    layer: str
    coords: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    indices: np.ndarray
    explained: np.ndarray


@dataclass(frozen=True)
class SessionInfo:
    """A new, reset, reopened or branched session, as the GUI needs it (numpy copies). Its
    settings are not here: the "applied" notice that comes just before carries them, and
    again at every change.

    test_images: uint8 (N, H, W) grey or (N, H, W, 3) colour, of the evaluated test split;
    test_labels: (N,). norm: (mean, std), one value per channel, that turn the network's input
    back into [0, 1] pixels (cnnviz.data.loader.denormalize).
    history: a copy of the session's History. summary: model.summary() rows.
    conv_layers: names of the layers with (C, H, W) outputs. reason: "new", "reset",
    "opened <path>" or "branched from step <n>"; previous_history: after a branch, the
    History before it (to draw the old curves), else None.
    """

    dataset_name: str
    dataset_source: str
    class_names: tuple
    test_images: np.ndarray
    test_labels: np.ndarray
    spec: list
    summary: list
    history: object
    step: int
    epoch: int
    steps_per_epoch: int
    backend: str
    conv_layers: tuple = ()
    reason: str = "new"
    previous_history: object = None
    norm: tuple = ((0.1307,), (0.3081,))

    @classmethod
    def of(cls, session, reason: str, previous_history=None) -> SessionInfo:
        """What the GUI needs of a TrainingSession `session`, copied."""
        ds = session.dataset
        return cls(
            dataset_name=str(getattr(ds, "name", "dataset")),
            dataset_source=str(getattr(ds, "source", "")),
            class_names=tuple(session.class_names),
            test_images=np.array(session.test_images, np.uint8, copy=True),
            norm=tuple(tuple(v) for v in session.norm),
            test_labels=session.splits["test"][1].copy(),
            spec=copy.deepcopy(session.model.spec),
            summary=copy.deepcopy(session.model.summary()),
            history=session.history.copy(),
            step=session.step_count,
            epoch=session.epoch,
            steps_per_epoch=session.steps_per_epoch,
            backend=session.backend.name,
            conv_layers=tuple(session.conv_layers()),
            reason=reason,
            previous_history=previous_history,
        )
