"""Layers, NCHW, float32 by default. `LAYER_TYPES` maps spec names to classes."""

from cnnviz.core.layers.activation import HardTanh, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from cnnviz.core.layers.base import Layer
from cnnviz.core.layers.conv import Conv2D
from cnnviz.core.layers.dense import Dense, Flatten
from cnnviz.core.layers.dropout import Dropout
from cnnviz.core.layers.norm import BatchNorm1D, BatchNorm2D
from cnnviz.core.layers.pool import AvgPool2D, MaxPool2D

LAYER_TYPES = {
    cls.kind: cls
    for cls in (
        Conv2D, MaxPool2D, AvgPool2D, BatchNorm2D, BatchNorm1D, Dense, Flatten, Dropout,
        ReLU, LeakyReLU, Tanh, Sigmoid, HardTanh, Identity,
    )
}

__all__ = ["LAYER_TYPES", "Layer", *LAYER_TYPES]
