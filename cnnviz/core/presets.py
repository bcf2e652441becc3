"""Named architectures as plain specs."""

from __future__ import annotations

import copy


def _conv(i, o, k, padding=0, stride=1):
    return {"type": "Conv2D", "in_channels": i, "out_channels": o, "kernel_size": k,
            "stride": stride, "padding": padding}


def _dense(i, o):
    return {"type": "Dense", "in_features": i, "out_features": o}


RELU, FLAT, POOL2 = {"type": "ReLU"}, {"type": "Flatten"}, {"type": "MaxPool2D", "kernel_size": 2}


def _block(o):
    """3x3 conv to `o` channels (input channels inferred), batch norm, ReLU, 2x2 max pool."""
    return [{"type": "Conv2D", "out_channels": o, "kernel_size": 3, "padding": 1},
            {"type": "BatchNorm2D"}, RELU, POOL2]


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
    # For 32x32 colour images (CIFAR-10): three conv blocks with batch norm. The sizes that
    # follow from the input are left out, so it fits any input (28x28 grey too).
    "cifar-bn": [
        *_block(32), *_block(64), *_block(128), FLAT, {"type": "Dense", "out_features": 128},
        RELU, {"type": "Dropout", "p": 0.25}, {"type": "Dense", "out_features": 10},
    ],
}
DEFAULT_PRESET = "cnn-bn"


INFERRED = ("in_channels", "in_features", "num_features")


def fit_preset(spec: list[dict], classes: int) -> list[dict]:
    """A preset's spec for other data: the sizes that follow from the input shape left out (the
    model infers them), and the last Dense giving `classes` scores. For 28x28 grey digits in
    10 classes it resolves to the preset itself."""
    fitted = [{k: v for k, v in entry.items() if k not in INFERRED} for entry in spec]
    last = max(i for i, e in enumerate(fitted) if e["type"] == "Dense")
    fitted[last]["out_features"] = int(classes)
    return fitted


def preset(name: str) -> list[dict]:
    """A copy of the named spec; raises KeyError listing the names."""
    if name not in PRESETS:
        raise KeyError(f"unknown architecture {name!r}; choose one of: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
