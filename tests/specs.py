"""Small architectures the tests share (JSON-style layer lists, as TrainConfig.spec takes)."""

from __future__ import annotations


def bn_cnn(classes: int = 10, dropout: float = 0.3) -> list[dict]:
    """Conv(4) BatchNorm ReLU MaxPool, Dense(16) ReLU Dropout, Dense(classes)."""
    return [
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2D"},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 16},
        {"type": "ReLU"},
        {"type": "Dropout", "p": dropout},
        {"type": "Dense", "out_features": classes},
    ]


def two_conv(hidden: int | None = None) -> list[dict]:
    """Conv(4) ReLU MaxPool, Conv(6) ReLU MaxPool, [Dense(hidden) ReLU,] Dense(10)."""
    head = [{"type": "Dense", "out_features": hidden}, {"type": "ReLU"}] if hidden else []
    return [
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Conv2D", "out_channels": 6, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        *head,
        {"type": "Dense", "out_features": 10},
    ]
