"""Hyper-parameters, backend and dataset.

When each setting takes effect is training.config's LIVE (at the next step: `sigLiveChanged`),
ON_RESUME (on Start/Resume) and ON_RESET (on Reset, or Start before the first step); the panel
reads those lists for its labels and its note of pending changes.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from cnnviz.backend import gpu_status
from cnnviz.core.optim import MOMENTUM_OPTIMIZERS, OPTIMIZERS, SCHEDULES
from cnnviz.data.augment import AUGMENT_LEVELS, Augment
from cnnviz.training.config import LIVE, ON_RESET, ON_RESUME, TrainConfig, changed

__all__ = ["ControlsPanel", "DATASETS", "augment_level", "augment_text"]

#: (label, load_dataset name)
DATASETS = (("MNIST", "mnist"), ("Fashion-MNIST", "fashion-mnist"))

PENDING_STYLE = "color: #ff9f1c;"
FIND_LR, FINDING_LR = "Find learning rate…", "Finding…"
FIND_LR_TIP = ("Learning-rate range test: a copy of the run trains for 100 steps while the rate "
               "rises from 1e-6 to 1, and the rate where its loss falls fastest is suggested. "
               "The run itself is not changed.")


def _applies(field: str) -> str:
    """When a change of `field` takes effect, for its tooltip."""
    if field in LIVE:
        return "Applies at the next step, also while training."
    if field in ON_RESUME:
        return "Applies on Reset, or when you resume after a pause."
    return "Applies on Reset."


MOMENTUM_TIP = ("Momentum of SGD (momentum, nesterov) and beta1 of Adam. Under one-cycle it "
                "swings from this + 0.05 down to this - 0.05 and back. "
                + _applies("momentum"))


_A = Augment()
AUGMENT_TIP = (
    "Random distortions of each training image, so that the network learns the digit rather "
    f"than its exact pixels: shifts up to {_A.max_shift:g} px × strength, rotations up to "
    f"{_A.max_rotation:g}° × strength and zooms up to {100 * _A.max_scale:g} % × strength, "
    "each image its own. Seeded by the run's seed, so a run resumes exactly. The Training "
    "batch panel shows what the network receives. " + _applies("augment"))


def _strength(value: float) -> str:
    """0.5 -> "0.5", 1 -> "1.0", 0.75 -> "0.75"."""
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def augment_level(strength: float) -> str | None:
    """The name of a strength in AUGMENT_LEVELS ("light"), or None for another value."""
    return next((name for name, value in AUGMENT_LEVELS.items()
                 if math.isclose(value, strength, abs_tol=1e-9)), None)


def augment_text(strength: float) -> str:
    """A strength for people: "off", "light, 0.5", or "0.8" for a value between levels."""
    name = augment_level(strength)
    if name == "off":
        return name
    return f"{name}, {_strength(strength)}" if name else _strength(strength)


def _duration(secs: float) -> str:
    secs = int(round(secs))
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _spin(lo, hi, decimals, step, tip):
    w = QtWidgets.QDoubleSpinBox()
    w.setRange(lo, hi)
    w.setDecimals(decimals)
    w.setSingleStep(step)
    w.setKeyboardTracking(False)
    w.setToolTip(tip)
    return w


class ControlsPanel(QtWidgets.QWidget):
    """Training settings. `config(base)` returns a TrainConfig with these values."""

    sigLiveChanged = QtCore.Signal(float, float, float)  # lr, momentum, augment
    sigSettingsChanged = QtCore.Signal()  # any other setting changed (applies on Reset)
    sigDatasetChosen = QtCore.Signal(str)  # a load_dataset name
    sigOpenFolder = QtCore.Signal()
    sigFindLr = QtCore.Signal()  # run the learning-rate range test

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        d = TrainConfig()
        self._applied: TrainConfig | None = None

        # live
        self.lr = _spin(1e-6, 10.0, 6, 1e-4, "Base learning rate (the schedule scales it). "
                        + _applies("lr"))
        self.lr.setStepType(QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr.setValue(d.lr)
        self.find_lr = QtWidgets.QPushButton(FIND_LR)
        self.find_lr.setToolTip(FIND_LR_TIP)
        self.find_lr.setEnabled(False)  # until a session is ready
        self.momentum = _spin(0.0, 0.999, 3, 0.01, MOMENTUM_TIP)
        self.momentum.setValue(d.momentum)
        self.augment = QtWidgets.QComboBox()
        for name, value in AUGMENT_LEVELS.items():
            self.augment.addItem(name if name == "off" else f"{name} ({_strength(value)})",
                                 value)
        self.augment.setToolTip(AUGMENT_TIP)
        self._show_augment(d.augment)
        live = QtWidgets.QGroupBox("Live: applies at the next step")
        form = QtWidgets.QFormLayout(live)
        form.addRow("Learning rate", self.lr)
        form.addRow("", self.find_lr)
        form.addRow("Momentum", self.momentum)
        form.addRow("Augmentation", self.augment)

        # applies on Reset
        self.optimizer = QtWidgets.QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.optimizer.setCurrentText(d.optimizer)
        self.optimizer.setToolTip("Update rule. " + _applies("optimizer"))
        self.batch_size = QtWidgets.QSpinBox()
        self.batch_size.setRange(1, 4096)
        self.batch_size.setValue(d.batch_size)
        self.batch_size.setKeyboardTracking(False)
        self.batch_size.setToolTip("Images per training step. " + _applies("batch_size"))
        self.weight_decay = _spin(0.0, 1.0, 6, 1e-4, "L2 weight decay. "
                                  + _applies("weight_decay"))
        self.weight_decay.setStepType(
            QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.weight_decay.setValue(d.weight_decay)
        self.schedule = QtWidgets.QComboBox()
        self.schedule.addItems(SCHEDULES)
        self.schedule.setCurrentText(d.schedule)
        self.schedule.setToolTip("Learning-rate schedule over the whole run (one-cycle warms "
                                 "up, then anneals). " + _applies("schedule"))
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(d.epochs)
        self.epochs.setKeyboardTracking(False)
        self.epochs.setToolTip("Length of the run (raise it to continue a finished run). "
                               + _applies("epochs"))
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(d.seed)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("Seeds the initial weights, the validation split and the batch "
                             "order: the same seed gives the same run. " + _applies("seed"))
        self.backend = QtWidgets.QComboBox()
        self.backend.addItems(["numpy", "cupy"])
        usable, reason = gpu_status()
        self.gpu_usable = usable
        if not usable:
            item = self.backend.model().item(1)
            item.setEnabled(False)
            item.setToolTip(f"GPU unavailable: {reason}")
            self.backend.setToolTip(f"numpy runs on the CPU. cupy is disabled: {reason}")
        else:
            self.backend.setToolTip("numpy runs on the CPU, cupy on the GPU. "
                                    + _applies("backend"))
        run = QtWidgets.QGroupBox("Run: applies on Reset")
        form = QtWidgets.QFormLayout(run)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Weight decay", self.weight_decay)
        form.addRow("Schedule", self.schedule)
        form.addRow("Epochs", self.epochs)
        form.addRow("Seed", self.seed)
        form.addRow("Backend", self.backend)
        self.pending = QtWidgets.QLabel("")
        self.pending.setWordWrap(True)
        self.pending.setStyleSheet(PENDING_STYLE)
        form.addRow(self.pending)

        # dataset
        self.dataset = QtWidgets.QComboBox()
        for label, name in DATASETS:
            self.dataset.addItem(label, name)
        self.dataset.setToolTip("Load a named dataset (from CNNVIZ_DATA, the cache, or a "
                                "download for MNIST)")
        self.open_folder = QtWidgets.QPushButton("Open data folder…")
        self.open_folder.setToolTip("Train on a folder of the four MNIST-layout IDX files (raw "
                                    "or .gz), the CIFAR-10 binary batches, or class folders of "
                                    "images (DIR/<class>/*, or DIR/train and DIR/test)")
        self.dataset_info = QtWidgets.QLabel("No data loaded yet")
        self.dataset_info.setWordWrap(True)
        self.dataset_info.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        data = QtWidgets.QGroupBox("Data")
        box = QtWidgets.QVBoxLayout(data)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.dataset, 1)
        row.addWidget(self.open_folder)
        box.addLayout(row)
        box.addWidget(self.dataset_info)

        # progress
        self.epoch_bar = QtWidgets.QProgressBar()
        self.epoch_bar.setFormat("epoch –")
        self.epoch_bar.setToolTip("Batches done in the current epoch")
        self.run_bar = QtWidgets.QProgressBar()
        self.run_bar.setFormat("run –")
        self.run_bar.setToolTip("Steps done of the whole run (epochs x batches per epoch)")
        self.progress_info = QtWidgets.QLabel("Not started")
        lines = 3
        self.progress_info.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 4)
        self.progress_info.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft
                                        | QtCore.Qt.AlignmentFlag.AlignTop)
        self.progress_info.setTextFormat(QtCore.Qt.TextFormat.RichText)
        progress = QtWidgets.QGroupBox("Progress")
        box = QtWidgets.QVBoxLayout(progress)
        box.addWidget(self.epoch_bar)
        box.addWidget(self.run_bar)
        box.addWidget(self.progress_info)
        self._results = {"val": None, "test": None}

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(live)
        layout.addWidget(run)
        layout.addWidget(progress)
        layout.addWidget(data)
        layout.addStretch(1)

        self.lr.valueChanged.connect(self._on_live_changed)
        self.momentum.valueChanged.connect(self._on_live_changed)
        self.augment.currentIndexChanged.connect(self._on_live_changed)
        for w in (self.optimizer, self.schedule, self.backend):
            w.currentIndexChanged.connect(self._on_setting_changed)
        for w in (self.batch_size, self.epochs, self.seed, self.weight_decay):
            w.valueChanged.connect(self._on_setting_changed)
        self.dataset.activated.connect(self._on_dataset_activated)
        self.open_folder.clicked.connect(self.sigOpenFolder)
        self.find_lr.clicked.connect(self.sigFindLr)

    # -- public -----------------------------------------------------------------------------

    def config(self, base: TrainConfig | None = None) -> TrainConfig:
        """A TrainConfig with this panel's values over `base` (its arch/spec/data kept)."""
        import copy

        cfg = copy.deepcopy(base) if base is not None else TrainConfig()
        cfg.optimizer = self.optimizer.currentText()
        cfg.lr = float(self.lr.value())
        cfg.momentum = float(self.momentum.value())
        cfg.augment = float(self.augment.currentData())
        cfg.weight_decay = float(self.weight_decay.value())
        cfg.schedule = self.schedule.currentText()
        cfg.batch_size = int(self.batch_size.value())
        cfg.epochs = int(self.epochs.value())
        cfg.seed = int(self.seed.value())
        cfg.backend = self.backend.currentText()
        return cfg

    def set_config(self, cfg: TrainConfig) -> None:
        """Show `cfg` (without emitting change signals) and take it as the applied one."""
        widgets = (self.lr, self.momentum, self.augment, self.optimizer, self.weight_decay,
                   self.schedule, self.batch_size, self.epochs, self.seed, self.backend)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.lr.setValue(cfg.lr)
            self.momentum.setValue(cfg.momentum)
            self._show_augment(cfg.augment)
            self.optimizer.setCurrentText(cfg.optimizer)
            self.weight_decay.setValue(cfg.weight_decay)
            self.schedule.setCurrentText(cfg.schedule)
            self.batch_size.setValue(cfg.batch_size)
            self.epochs.setValue(cfg.epochs)
            self.seed.setValue(cfg.seed)
            self.backend.setCurrentText(cfg.backend if cfg.backend in ("numpy", "cupy")
                                        else "numpy")
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.set_applied(cfg)

    def set_augment(self, strength: float) -> None:
        """Choose an augmentation strength, as the user would: the run applies it at its
        next step (sigLiveChanged). A value between the levels is offered as "custom"."""
        was = self.augment.currentData()
        self.augment.blockSignals(True)
        try:
            self._show_augment(strength)
        finally:
            self.augment.blockSignals(False)
        if self.augment.currentData() != was:
            self._on_live_changed()

    def _show_augment(self, strength: float) -> None:
        """Select `strength`: its level, else one "custom (value)" item after the levels."""
        combo, levels = self.augment, len(AUGMENT_LEVELS)
        strength = float(strength)
        if augment_level(strength) is not None:
            i = next(i for i in range(levels)
                     if math.isclose(combo.itemData(i), strength, abs_tol=1e-9))
        else:
            text = f"custom ({_strength(strength)})"
            if combo.count() == levels:
                combo.addItem(text, strength)
            else:
                combo.setItemText(levels, text)
                combo.setItemData(levels, strength)
            i = levels
        combo.setCurrentIndex(i)

    def set_lr_find(self, enabled: bool, finding: bool = False, why: str = "") -> None:
        """The Find learning rate button: enabled or not (`why` not, for its tooltip), and
        whether a test runs now ("Finding…", disabled)."""
        self.find_lr.setText(FINDING_LR if finding else FIND_LR)
        self.find_lr.setEnabled(enabled and not finding)
        self.find_lr.setToolTip(FIND_LR_TIP + (f"\n\n{why}" if why and not finding else ""))

    def use_lr(self, lr: float) -> None:
        """Put `lr` in the learning-rate field, as if typed: the run applies it at its next
        step (sigLiveChanged)."""
        self.lr.setValue(lr)

    def set_applied(self, cfg: TrainConfig) -> None:
        """The config the running session uses; differences are flagged as pending."""
        import copy

        self._applied = copy.deepcopy(cfg)
        self._update_pending()

    def pending_changes(self) -> list[str]:
        """Names of settings that differ from the session's and wait for Reset."""
        if self._applied is None:
            return []
        was = self._applied
        now = self.config(was)  # only this panel's fields can differ
        return [n.replace("_", " ") for n in changed(now, was, ON_RESUME + ON_RESET)]

    def set_progress(self, step: int, total_steps: int, epoch: int, epochs: int,
                     position: int, steps_per_epoch: int, images_per_second: float = 0.0,
                     batch_size: int = 0) -> None:
        """Show how far the run is. epoch: 0-based epoch of the last step; position: batches
        done in it."""
        self.epoch_bar.setRange(0, max(steps_per_epoch, 1))
        self.epoch_bar.setValue(min(position, steps_per_epoch))
        self.epoch_bar.setFormat(f"epoch {min(epoch + 1, epochs)}/{epochs}: batch %v/%m")
        self.run_bar.setRange(0, max(total_steps, 1))
        self.run_bar.setValue(min(step, total_steps))
        self.run_bar.setFormat("run: step %v/%m (%p%)")
        left = max(total_steps - step, 0)
        eta = ""
        if images_per_second > 0 and batch_size and left:
            secs = left * batch_size / images_per_second
            eta = f" · {_duration(secs)} left at {images_per_second:,.0f} img/s"
        self._eta = f"{left:,} steps to go{eta}" if left else "run complete"
        self._show_progress_info()

    def set_result(self, split: str, accuracy: float | None, step: int | None = None) -> None:
        """The latest validation ("val") or test ("test") accuracy, or None to clear."""
        self._results[split] = None if accuracy is None else (accuracy, step)
        self._show_progress_info()

    def reset_progress(self) -> None:
        self.epoch_bar.reset()
        self.epoch_bar.setFormat("epoch –")
        self.run_bar.reset()
        self.run_bar.setFormat("run –")
        self._results = {"val": None, "test": None}
        self._eta = "Not started: press Start"
        self._show_progress_info()

    def _show_progress_info(self) -> None:
        lines = [getattr(self, "_eta", "")]
        for split, label in (("val", "validation"), ("test", "test")):
            r = self._results.get(split)
            if r is not None:
                lines.append(f"last {label} accuracy <b>{100 * r[0]:.2f}%</b>"
                             + (f" (step {r[1]:,})" if r[1] is not None else ""))
        self.progress_info.setText("<br>".join(lines))

    def set_dataset_info(self, text: str, name: str | None = None) -> None:
        self.dataset_info.setText(text)
        if name is not None:
            i = self.dataset.findData(name)
            if i >= 0:
                self.dataset.setCurrentIndex(i)

    # -- slots ------------------------------------------------------------------------------

    @QtCore.Slot()
    def _on_live_changed(self, *_):
        self.sigLiveChanged.emit(float(self.lr.value()), float(self.momentum.value()),
                                 float(self.augment.currentData()))

    @QtCore.Slot()
    def _on_setting_changed(self, *_):
        self._update_pending()
        self.sigSettingsChanged.emit()

    @QtCore.Slot(int)
    def _on_dataset_activated(self, index: int):
        self.sigDatasetChosen.emit(self.dataset.itemData(index))

    def _update_pending(self):
        names = self.pending_changes()
        resume = ", ".join(n.replace("_", " ") for n in ON_RESUME)
        self.pending.setText(f"Changed: {', '.join(names)}. Press Reset to apply ({resume} "
                             "also apply on Resume)." if names else "")
        self._update_momentum()

    def _update_momentum(self):
        """The box is live only for an optimizer that uses momentum (the running one, or the
        chosen one before any session); otherwise it says why it is off."""
        name = (self._applied or self.config()).optimizer
        uses = name in MOMENTUM_OPTIMIZERS
        self.momentum.setEnabled(uses)
        self.momentum.setToolTip(MOMENTUM_TIP if uses else (
            f"{name} has no momentum, so this box is off. Choose momentum, nesterov or adam "
            "and press Reset to use it."))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(340, 560)
