"""Events a session emits: small frozen dataclasses of numpy arrays and Python floats only."""

from __future__ import annotations

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
class ActivationSnapshot:
    """One image through every layer. image: (H, W) as the network sees it (normalised);
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
    """Where the network looks for one image and class: maps (H, W) float32 over the input.

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
