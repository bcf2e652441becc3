"""What the app keeps between runs in QSettings: the window's geometry and docks, the training
settings, the curves' view, the timeline's budget, the dataset, the folders last used, and
whether and how often to autosave."""

from __future__ import annotations

import json

from PySide6.QtCore import QSettings

from cnnviz.training.config import TrainConfig
from cnnviz.training.driver import TIMELINE_EVERY, TIMELINE_MB

__all__ = ["AppSettings"]

STATE_VERSION = 2  # of the saved dock arrangement: 2 added the inspection docks
AUTOSAVE_MINUTES = 5.0


class AppSettings:
    """Typed reads (with fallbacks for missing or broken values) and writes of `store`."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings()

    def config(self) -> TrainConfig:
        """The training settings last used, or the defaults."""
        raw = self.store.value("config/train", "")
        try:
            cfg = TrainConfig.from_dict(json.loads(raw)) if raw else TrainConfig()
            cfg.validate()
        except (ValueError, TypeError):
            cfg = TrainConfig()
        return cfg

    def dataset(self) -> tuple[str, str | None]:
        """(load_dataset name, folder or None) last loaded."""
        return (str(self.store.value("data/name", "mnist")),
                self.store.value("data/folder", "") or None)

    def folder(self, kind: str, default) -> str:
        """The folder last used for `kind` ("checkpoint", "export", "data")."""
        key = "data/folder" if kind == "data" else f"{kind}/dir"
        return str(self.store.value(key, "") or default)

    def set_folder(self, kind: str, folder) -> None:
        self.store.setValue(f"{kind}/dir", str(folder))

    def autosave(self) -> tuple[bool, float]:
        """(on, every how many minutes): "autosave/enabled" (default on) and
        "autosave/minutes" (default 5; fractions allowed, a bad value gives the default)."""
        on = str(self.store.value("autosave/enabled", "true")).lower() != "false"
        try:
            minutes = float(self.store.value("autosave/minutes", AUTOSAVE_MINUTES))
        except (TypeError, ValueError):
            minutes = AUTOSAVE_MINUTES
        return on, minutes if minutes > 0 else AUTOSAVE_MINUTES

    def set_autosave(self, on: bool) -> None:
        self.store.setValue("autosave/enabled", "true" if on else "false")

    def restore(self, window, curves, timeline) -> None:
        """Geometry, docks, the curves' smoothing and scale, the timeline's settings."""
        s = self.store
        if s.value("window/geometry") is not None:
            window.restoreGeometry(s.value("window/geometry"))
        if s.value("window/state") is not None:
            window.restoreState(s.value("window/state"), STATE_VERSION)
        try:
            curves.set_smoothing(float(s.value("curves/smoothing", 0.9)))
        except (TypeError, ValueError):
            pass
        curves.set_log_scale(str(s.value("curves/log", "false")).lower() == "true")
        try:
            every = int(s.value("timeline/every", TIMELINE_EVERY))
            budget = float(s.value("timeline/budget_mb", TIMELINE_MB))
        except (TypeError, ValueError):
            every, budget = TIMELINE_EVERY, TIMELINE_MB
        timeline.set_settings(every, budget)

    def save(self, window, config: TrainConfig, curves, timeline,
             dataset: tuple[str, str | None]) -> None:
        s = self.store
        s.setValue("window/geometry", window.saveGeometry())
        s.setValue("window/state", window.saveState(STATE_VERSION))
        s.setValue("config/train", json.dumps(config.to_dict()))
        s.setValue("curves/smoothing", curves.smoothing_weight())
        s.setValue("curves/log", "true" if curves.log_scale.isChecked() else "false")
        every, budget = timeline.settings()
        s.setValue("timeline/every", every)
        s.setValue("timeline/budget_mb", budget)
        name, folder = dataset
        s.setValue("data/name", name)
        s.setValue("data/folder", folder or "")
        s.sync()
