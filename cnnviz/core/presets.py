"""Named architectures as plain specs."""

from __future__ import annotations

import copy


def _conv(i, o, k, padding=0, stride=1):
    return {"type": "Conv2D", "in_channels": i, "out_channels": o, "kernel_size": k,
            "stride": stride, "padding": padding}


def _dense(i, o):
    return {"type": "Dense", "in_features": i, "out_features": o}


RELU, FLAT, POOL2 = {"type": "ReLU"}, {"type": "Flatten"}, {"type": "MaxPool2D", "kernel_size": 2}

PRESETS = {
    "lenet5": [
        _conv(1, 6, 5, padding=2), RELU, POOL2, _conv(6, 16, 5), RELU, POOL2, FLAT,
        _dense(400, 120), RELU, _dense(120, 84), RELU, _dense(84, 10),
    ],
    "cnn-bn": [
        _conv(1, 32, 3, padding=1), {"type": "BatchNorm2D", "num_features": 32}, RELU, POOL2,
        _conv(32, 64, 3, padding=1), {"type": "BatchNorm2D", "num_features": 64}, RELU, POOL2,
        FLAT, _dense(3136, 128), RELU, {"type": "Dropout", "p": 0.25}, _dense(128, 10),
    ],
    "mlp": [FLAT, _dense(784, 128), RELU, _dense(128, 10)],
}
DEFAULT_PRESET = "cnn-bn"


def preset(name: str) -> list[dict]:
    """A copy of the named spec; raises KeyError listing the names."""
    if name not in PRESETS:
        raise KeyError(f"unknown architecture {name!r}; choose one of: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
