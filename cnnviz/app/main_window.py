"""The main window: builds the parts and wires them; the user's actions are its methods.

The parts: `state` (AppState: the session, chosen digit, scrubbed moment, docks on screen),
`controller` (the training thread), `docks` / `panels` (docks.py), `router` (updates to
panels), `inspections` (what the training thread computes), `status` (the status bar), `act`
(actions, menus, toolbar), `settings`, `dialogs` and `autosave`.
"""

from __future__ import annotations

import copy
from pathlib import Path

from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import QSettings, QTimer, Slot

from cnnviz.app.actions import enable_actions, make_actions
from cnnviz.app.autosave import Autosave
from cnnviz.app.controller import TrainingController
from cnnviz.app.data_loader import DataLoader
from cnnviz.app.dialogs import Dialogs
from cnnviz.app.docks import Docks
from cnnviz.app.inspection import Inspections
from cnnviz.app.lr_find_dialog import LrFindDialog
from cnnviz.app.panels.controls import DATASETS
from cnnviz.app.router import Router
from cnnviz.app.settings import AppSettings
from cnnviz.app.state import AppState
from cnnviz.app.status_bar import StatusBar
from cnnviz.core.presets import DEFAULT_PRESET, PRESETS, preset
from cnnviz.training.config import LIVE, TrainConfig
from cnnviz.training.driver import RUNNING, STOPPED, TIMELINE_EVERY, TIMELINE_MB
from cnnviz.training.events import SessionInfo

__all__ = ["MainWindow"]

DEFAULT_SIZE = (1600, 1000)


class MainWindow(QtWidgets.QMainWindow):
    """The cnnviz window.

    dataset: a Dataset to train on at once (tests); else `load_data` loads the last used
    (default MNIST) in the background at start-up. config: the TrainConfig to start from
    (default: the saved settings, else TrainConfig()); its data fields (val_size, limits)
    are kept for every reset. settings: a QSettings (default QSettings()).
    controller_options: keyword arguments of TrainingController (intervals, timeline).
    """

    def __init__(self, dataset=None, config: TrainConfig | None = None,
                 settings: QSettings | None = None, load_data: bool = True,
                 controller_options: dict | None = None):
        super().__init__()
        self.settings = AppSettings(settings)
        self.dialogs = Dialogs(self, self.settings)
        self.state = AppState(self)
        self.dataset = None
        self._data_request: tuple[str, str | None] = ("mnist", None)
        self._closed = False
        self._finding_lr = False  # a learning-rate range test runs on the training thread
        self.lr_dialog: LrFindDialog | None = None  # the last test's result

        self.setWindowTitle("cnnviz")
        self.setObjectName("cnnviz-main-window")
        self.resize(*DEFAULT_SIZE)
        Option = QtWidgets.QMainWindow.DockOption
        self.setDockOptions(Option.AnimatedDocks | Option.AllowNestedDocks
                            | Option.AllowTabbedDocks)
        placeholder = QtWidgets.QWidget()
        placeholder.setObjectName("central-placeholder")
        placeholder.hide()  # every panel is a dock; the central area takes no space
        self.setCentralWidget(placeholder)

        self.controller = TrainingController(self, **(controller_options or {}))
        self.loader = DataLoader(self)
        self.dock_set = Docks(self, self.state)
        self.docks, self.panels = self.dock_set.docks, self.dock_set.panels
        self.router = Router(self.controller, self.state, self.panels)
        self.inspections = Inspections(self.controller, self.state, self.panels)
        self.status = StatusBar(self.statusBar(), self.controller, self.state)
        self.act = make_actions(self, self.docks)
        self.default_layout()

        p = self.panels
        self._base_config = copy.deepcopy(config) if config is not None else (
            self.settings.config())
        p["controls"].set_config(self._base_config)
        self._show_spec(self._base_config)
        self.settings.restore(self, p["curves"], p["timeline"])
        every, budget = p["timeline"].settings()  # within the panel's ranges
        if (every, budget) != (TIMELINE_EVERY, TIMELINE_MB):
            self.controller.set_timeline(every, budget)
        self._connect()
        self.autosave = Autosave(self)  # after _connect: it opens a restored run after loads
        self._update_actions()

        if dataset is not None:
            self._on_data_loaded(dataset)
        elif load_data:
            QTimer.singleShot(0, lambda: self.load_dataset(*self.settings.dataset()))
        else:
            self._set_no_data()

    def _connect(self) -> None:
        c, p, s = self.controller, self.panels, self.state
        c.sigSessionReady.connect(s.set_session)
        s.sigSessionChanged.connect(self._on_session)
        s.sigDigitChanged.connect(c.choose_digit)
        c.sigStateChanged.connect(self._update_actions)
        c.sigDiverged.connect(lambda text: self.dialogs.warn("Training diverged", text))
        c.sigError.connect(lambda text: self.autosave.claim_error(text)
                           or self.dialogs.message("cnnviz", text))
        c.sigMoment.connect(self._on_moment)
        c.sigLrFound.connect(self._on_lr_found)
        c.sigCommandDone.connect(self._on_command_done)
        p["controls"].sigLiveChanged.connect(self._on_live_changed)
        p["controls"].sigSettingsChanged.connect(self._update_actions)
        p["controls"].sigDatasetChosen.connect(lambda name: self.load_dataset(name, None))
        p["controls"].sigOpenFolder.connect(self.open_folder_dialog)
        p["controls"].sigFindLr.connect(self.find_lr)
        p["architecture"].sigSpecChanged.connect(self._update_actions)
        p["confusion"].sigRefreshRequested.connect(self.evaluate)
        for key in ("digits", "confusion", "top_digits", "embedding"):
            p[key].sigDigitChosen.connect(self.choose_digit)
        p["timeline"].sigScrub.connect(c.moment)
        p["timeline"].sigLive.connect(lambda: s.set_moment(None))
        p["timeline"].sigBranch.connect(lambda step: c.branch(step, self.current_config()))
        p["timeline"].sigSettingsChanged.connect(c.set_timeline)
        self.loader.sigLoaded.connect(self._on_data_loaded)
        self.loader.sigFailed.connect(self._on_data_failed)

    def default_layout(self) -> None:
        self.dock_set.default_layout()

    def current_config(self) -> TrainConfig:
        """The TrainConfig the panels describe now (what Reset would use)."""
        cfg = self.panels["controls"].config(self._base_config)
        cfg.__dict__.update(self.panels["architecture"].config_fields())
        return cfg

    def _show_spec(self, cfg: TrainConfig) -> None:
        if cfg.spec is not None:
            self.panels["architecture"].set_spec(cfg.spec)
        else:
            arch = cfg.arch if cfg.arch in PRESETS else DEFAULT_PRESET
            self.panels["architecture"].set_spec(preset(arch), arch)

    @Slot()
    def _update_actions(self, *_) -> None:
        c = self.controller
        has_session = self.state.info is not None
        ready = (has_session and self.dataset is not None and not self.loader.loading
                 and not self._finding_lr)
        arch = self.panels["architecture"]
        enable_actions(self.act, has_session, ready, c.state == RUNNING, c.state == STOPPED,
                       "" if arch.is_valid() else arch.error_text())
        why = self._lr_find_unavailable()
        self.panels["controls"].set_lr_find(not why, self._finding_lr, why)

    # -- slots ------------------------------------------------------------------------------

    @Slot(object)
    def _on_session(self, info: SessionInfo) -> None:
        cfg = self.controller.config
        if info.reason.startswith("opened"):  # the run's settings replace the panel's
            self.panels["controls"].set_config(cfg)
            self._show_spec(cfg)
        arch = cfg.arch if cfg.spec is None else "custom"
        self.setWindowTitle(f"cnnviz: {arch} on {info.dataset_name}")
        self._update_actions()
        self.dock_set.check_visible()

    @Slot(float, float, float)
    def _on_live_changed(self, *_) -> None:
        if self.state.info is not None:
            self.controller.apply(self.current_config(), LIVE)

    @Slot(object)
    def _on_moment(self, moment) -> None:
        if not self.panels["timeline"].is_live():  # unless the user went back meanwhile
            self.state.set_moment(moment)

    @Slot(str)
    def _on_command_done(self, name: str) -> None:
        if name == "lr_find":
            self._finding_lr = False
            self._update_actions()

    @Slot(object)
    def _on_lr_found(self, result) -> None:
        """Show a range test's curve; its Use button types the rate into the Controls."""
        if self.lr_dialog is not None:
            self.lr_dialog.close()
            self.lr_dialog.deleteLater()
        cfg, last, info = self.controller.config, self.controller.last_step, self.state.info
        step = last.step if last is not None else (info.step if info is not None else 0)
        lr = self.panels["controls"].lr
        self.lr_dialog = LrFindDialog(
            result, f"A copy of the run at step {step:,} ({cfg.optimizer}, batch "
            f"{cfg.batch_size}) trained {len(result.lrs)} steps while its learning rate rose "
            f"from {result.lrs[0]:.0e} to {result.lrs[-1]:.2g}; the run itself is unchanged.",
            (lr.minimum(), lr.maximum()), lr.decimals(), self)
        self.lr_dialog.sigUse.connect(self.panels["controls"].use_lr)
        self.lr_dialog.show()

    def choose_digit(self, digit) -> None:
        """Follow a test index or a drawing through the network (a bad one is refused)."""
        try:
            self.state.choose_digit(digit)
        except ValueError as exc:
            self.dialogs.message("cnnviz", str(exc))

    # -- data -------------------------------------------------------------------------------

    def load_dataset(self, name: str = "mnist", folder: str | None = None) -> None:
        """Load a dataset in the background (progress dialog); trains on it when loaded."""
        if self.loader.loading:
            return
        self._data_request = (name, folder)
        what = folder or dict((n, label) for label, n in DATASETS).get(name, name)
        self.status.say("state", f"loading {what}")
        self.panels["controls"].set_dataset_info(f"Loading {what}…")
        self.loader.start(name, folder, what)
        self._update_actions()

    def open_folder_dialog(self) -> None:
        folder = self.dialogs.idx_folder()
        if folder:
            self.load_dataset("fashion-mnist" if "fashion" in folder.lower() else "mnist",
                              folder)

    @Slot(object)
    def _on_data_loaded(self, dataset) -> None:
        self.dataset = dataset
        n = len(dataset.class_names)
        self.panels["controls"].set_dataset_info(
            f"{dataset.name}: {len(dataset.train_labels):,} training and "
            f"{len(dataset.test_labels):,} test images, {n} classes\n"
            f"from {dataset.source}", dataset.name)
        self.panels["architecture"].set_data(dataset.image_shape, n)  # (C, H, W): colour too
        self.status.say("dataset", dataset.name, repr(dataset))
        self.status.say("state", "building the model")
        self.controller.new_session(self.current_config(), dataset)
        self._update_actions()

    @Slot(str)
    def _on_data_failed(self, text: str) -> None:
        self._set_no_data()
        self.dialogs.warn("No training data", text)

    def _set_no_data(self) -> None:
        if self.dataset is None:
            self.panels["controls"].set_dataset_info(
                "No data. Use the dataset menu or Open data folder…, or set CNNVIZ_DATA to a "
                "folder with the four MNIST files and restart.")
            self.status.say("dataset", "no data")
            self.status.say("state", "no data: Start is disabled")
        self._update_actions()

    # -- actions ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.act["start"].isEnabled():
            self.controller.start(self.current_config())

    def pause(self) -> None:
        self.controller.pause()

    def step_batch(self) -> None:
        if self.act["step"].isEnabled():
            self.controller.step_batch()

    def step_epoch(self) -> None:
        if self.act["epoch"].isEnabled():
            self.controller.step_epoch()

    def stop(self) -> None:
        self.controller.stop()

    def find_lr(self, **options) -> None:
        """The learning-rate range test (options: lr_find's steps, start, end...) on a copy
        of the run, on the training thread; its result opens in `lr_dialog`."""
        if not self._lr_find_unavailable():
            self._finding_lr = True
            self._update_actions()
            self.controller.lr_find(**options)

    def _lr_find_unavailable(self) -> str:
        """Why the range test cannot run now ("" when it can)."""
        if self.state.info is None or self.dataset is None:
            return "Load a dataset first."
        if self.loader.loading:
            return "Wait until the data is loaded."
        if self._finding_lr:
            return "A test runs already."
        if self.controller.state == RUNNING:
            return "Pause training first: the test trains a copy of the run as it is now."
        return ""

    def reset(self) -> None:
        if self.act["reset"].isEnabled():
            self.controller.reset(self.current_config())

    def evaluate(self) -> None:
        if self.state.info is not None:
            self.controller.evaluate()

    def save_checkpoint(self, path) -> None:
        """Save the session to `path` (on the worker; sigSaved tells when it is written)."""
        self.settings.set_folder("checkpoint", Path(path).parent)
        self.controller.save(path)

    def open_checkpoint(self, path) -> None:
        """Restore a checkpoint on the current dataset: architecture, weights, curves."""
        self.settings.set_folder("checkpoint", Path(path).parent)
        self.controller.open(path)

    def save_checkpoint_dialog(self) -> None:
        info, last = self.state.info, self.controller.last_step
        if info is not None:
            path = self.dialogs.checkpoint_to_save(last.step if last else info.step)
            if path:
                self.save_checkpoint(path)

    def toggle_autosave(self) -> None:
        self.autosave.set_enabled(self.act["autosave"].isChecked())

    def open_checkpoint_dialog(self) -> None:
        if self.dataset is not None:
            path = self.dialogs.checkpoint_to_open()
            if path:
                self.open_checkpoint(path)

    def export_png(self, path, panel: str | None = None) -> Path:
        """A PNG of the window, or of one panel ("curves", "filters", ...)."""
        widget = self if panel is None else self.docks[panel].widget()
        path = Path(path)
        if not widget.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def export_png_dialog(self, panel: str | None) -> None:
        path = self.dialogs.export_path("cnnviz" if panel is None else f"cnnviz-{panel}",
                                        ".png", "PNG images")
        if path:
            self._export(self.export_png, path, panel)

    def export_csv_dialog(self) -> None:
        path = self.dialogs.export_path("cnnviz-metrics", ".csv", "CSV files")
        if path:
            self._export(self.panels["curves"].write_csv, path)

    def export_onnx_dialog(self) -> None:
        if self.state.info is not None:
            path = self.dialogs.export_path("cnnviz-model", ".onnx", "ONNX models")
            if path:
                self.controller.export_onnx(path)

    def _export(self, write, *args) -> None:
        try:
            write(*args)
        except OSError as exc:
            self.dialogs.message("Export failed", str(exc))

    def flush_panels(self) -> None:
        """Feed every pending snapshot to its panel and draw the curves now."""
        self.router.flush()

    # -- lifetime ---------------------------------------------------------------------------

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            p = self.panels
            self.settings.save(self, self.current_config(), p["curves"], p["timeline"],
                               self._data_request)
            self.controller.shutdown()
            self.autosave.close()
            self.loader.close_dialog()
        super().closeEvent(event)
