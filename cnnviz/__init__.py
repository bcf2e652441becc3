"""cnnviz: train a convolutional network written from scratch on MNIST and watch it learn."""

__version__ = "0.1.0"
