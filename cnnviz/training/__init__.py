"""Headless training: the session that the CLI and the app both drive. No Qt."""

from cnnviz.training.config import TrainConfig
from cnnviz.training.session import DivergenceError, TrainingSession

__all__ = ["DivergenceError", "TrainConfig", "TrainingSession"]
