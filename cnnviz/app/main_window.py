"""The main window: docks the panels, owns the training controller, routes its events.

Panels are QDockWidgets in a default arrangement that fits 1600x1000 (View > Restore default
layout brings it back). Actions live in the Train/File menus and the toolbar. Geometry, dock
state and the last settings persist in QSettings (pass `settings=` to use another store).
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal, Slot

from cnnviz.app.controller import (
    PAUSED,
    RUNNING,
    TIMELINE_EVERY,
    TIMELINE_MB,
    SessionInfo,
    TrainingController,
    Updates,
)
from cnnviz.app.panels.activations import ActivationsPanel
from cnnviz.app.panels.architecture import ArchitecturePanel
from cnnviz.app.panels.attribution import AttributionPanel
from cnnviz.app.panels.confusion import ConfusionPanel
from cnnviz.app.panels.controls import DATASETS, ControlsPanel
from cnnviz.app.panels.curves import CurvesPanel
from cnnviz.app.panels.debugger import DebuggerPanel
from cnnviz.app.panels.digits import DigitsPanel
from cnnviz.app.panels.embedding import EmbeddingPanel
from cnnviz.app.panels.filters import FiltersPanel
from cnnviz.app.panels.timeline import TimelinePanel
from cnnviz.app.panels.top_digits import TopDigitsPanel
from cnnviz.training.config import TrainConfig
from cnnviz.training.timeline import Moment

__all__ = ["MainWindow", "DataLoader"]

DEFAULT_SIZE = (1600, 1000)
#: Panels are fed one per event-loop turn, this many ms apart, so that each repaint is a
#: separate short event rather than one long one (the GUI thread shares the GIL with the
#: training thread, which makes every repaint slower while training).
FEED_MS = 15
STATE_VERSION = 2  # 2: the inspection docks of issue 4
#: Inspection docks -> the view the worker keeps up to date while the dock is visible.
WATCHED = {"attribution": "attribution", "top_digits": "top", "embedding": "embedding",
           "debugger": "stats"}
#: Docks that show a recorded moment while the timeline is scrubbed.
SCRUBBED = ("filters", "activations", "confusion")
CHECKPOINT_FILTER = "cnnviz checkpoints (*.npz);;All files (*)"


class DataLoader(QObject):
    """Loads a dataset off the GUI thread and reports back through signals.

    The load (a folder read, or a download with timeouts) cannot be interrupted, so it runs
    on a daemon thread: closing the window never has to wait for it.
    """

    sigProgress = Signal(str, object, object)  # file name, done bytes, total bytes or None
    sigLoaded = Signal(object)  # Dataset
    sigFailed = Signal(str)  # the error's text: what was tried and how to fix it
    sigFinished = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    def is_loading(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, name: str = "mnist", folder: str | None = None) -> None:
        self._thread = threading.Thread(target=self._run, args=(name, folder),
                                        name="cnnviz-data", daemon=True)
        self._thread.start()

    def _run(self, name: str, folder: str | None) -> None:
        from cnnviz.data.sources import load_dataset

        try:
            try:
                ds = load_dataset(folder, name=name, progress=self._progress)
            except Exception as exc:  # DataUnavailableError, IDXError, OSError, ValueError
                self.sigFailed.emit(str(exc) or exc.__class__.__name__)
            else:
                self.sigLoaded.emit(ds)
        except RuntimeError:
            pass  # the window (and this QObject) went away meanwhile
        finally:
            try:
                self.sigFinished.emit()
            except RuntimeError:
                pass

    def _progress(self, name, done, total) -> None:
        try:
            self.sigProgress.emit(str(name), done, total)
        except RuntimeError:
            pass


def _icon(widget: QtWidgets.QWidget, name: str) -> QtGui.QIcon:
    return widget.style().standardIcon(getattr(QtWidgets.QStyle.StandardPixmap, name))


class MainWindow(QtWidgets.QMainWindow):
    """The cnnviz window.

    dataset: a Dataset to train on at once (tests); else `load_data` loads the last used
    (default MNIST) in the background at start-up. config: the TrainConfig to start from
    (default: the saved settings, else TrainConfig()); its data fields (val_size, limits)
    are kept for every reset. settings: a QSettings (default QSettings()).
    """

    def __init__(self, dataset=None, config: TrainConfig | None = None,
                 settings: QSettings | None = None, load_data: bool = True,
                 controller_options: dict | None = None):
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        self.dataset = None
        self.class_names: tuple = tuple(str(i) for i in range(10))
        self.test_images: np.ndarray | None = None
        self.messages: list[tuple[str, str]] = []  # (title, text) of every message shown
        self._message_box: QtWidgets.QMessageBox | None = None
        self._progress: QtWidgets.QProgressDialog | None = None
        self._data_error = ""
        self._loading = False
        self._data_request: tuple[str, str | None] = ("mnist", None)
        self._last_step = None
        self._last_evaluation = None  # the newest full test evaluation (for back-to-live)
        self._scrubbed: Moment | None = None  # the timeline moment shown, None when live
        self._seen: set[str] = set()  # inspection docks on screen, as the worker was told
        self._inspected: dict[str, int] = {}  # inspection dock -> step it was filled at
        self._run_epochs = 1
        self._closed = False
        self._feeds: dict = {}  # panel -> the newest pending feed, oldest panel first
        self._feed_timer = QTimer(self)
        self._feed_timer.setSingleShot(True)
        self._feed_timer.setInterval(FEED_MS)
        self._feed_timer.timeout.connect(self._on_feed_timer)

        self.setWindowTitle("cnnviz")
        self.setObjectName("cnnviz-main-window")
        self.resize(*DEFAULT_SIZE)
        self.setDockOptions(QtWidgets.QMainWindow.DockOption.AnimatedDocks
                            | QtWidgets.QMainWindow.DockOption.AllowNestedDocks
                            | QtWidgets.QMainWindow.DockOption.AllowTabbedDocks)
        placeholder = QtWidgets.QWidget()
        placeholder.setObjectName("central-placeholder")
        placeholder.hide()  # every panel is a dock; the central area takes no space
        self.setCentralWidget(placeholder)

        self.controller = TrainingController(self, **(controller_options or {}))
        self.loader = DataLoader(self)

        self.curves = CurvesPanel()
        self.filters = FiltersPanel()
        self.activations = ActivationsPanel()
        self.confusion = ConfusionPanel()
        self.digits = DigitsPanel()
        self.controls = ControlsPanel()
        self.architecture = ArchitecturePanel()
        self.timeline = TimelinePanel()
        self.attribution = AttributionPanel()
        self.top_digits = TopDigitsPanel()
        self.embedding = EmbeddingPanel()
        self.debugger = DebuggerPanel()
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for key, title, panel in (
            ("curves", "Curves", self.curves),
            ("filters", "Filters", self.filters),
            ("activations", "Activations", self.activations),
            ("confusion", "Confusion matrix", self.confusion),
            ("digits", "Digits", self.digits),
            ("controls", "Controls", self.controls),
            ("architecture", "Architecture", self.architecture),
            ("timeline", "Timeline", self.timeline),
            ("attribution", "Where it looks", self.attribution),
            ("top_digits", "Top digits", self.top_digits),
            ("embedding", "Embedding", self.embedding),
            ("debugger", "Step debugger", self.debugger),
        ):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            if key == "controls":  # a tall form: scroll rather than force a tall window
                scroll = QtWidgets.QScrollArea()
                scroll.setWidget(panel)
                scroll.setWidgetResizable(True)
                scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
                scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
                dock.setWidget(scroll)
            else:
                dock.setWidget(panel)
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)
            self.docks[key] = dock
        self._titles = {key: dock.windowTitle() for key, dock in self.docks.items()}

        self._make_actions()
        self._make_menus_and_toolbar()
        self._make_status_bar()
        self.default_layout()

        # settings and the config to start from
        base = copy.deepcopy(config) if config is not None else self._saved_config()
        self._base_config = base
        self.controls.set_config(base)
        if base.spec is not None:
            self.architecture.set_spec(base.spec)
        else:
            self.architecture.set_spec(_preset_spec(base.arch), base.arch)
        self._restore_view_settings()

        self._connect()
        self._update_actions()

        if dataset is not None:
            self._on_data_loaded(dataset)
        elif load_data:
            name = str(self.settings.value("data/name", "mnist"))
            folder = self.settings.value("data/folder", "") or None
            QTimer.singleShot(0, lambda: self.load_dataset(name, folder))
        else:
            self._set_no_data("no dataset loaded")

    # -- construction -----------------------------------------------------------------------

    def _action(self, text, slot, shortcuts=(), tip="", icon=None) -> QtGui.QAction:
        a = QtGui.QAction(text, self)
        if shortcuts:
            a.setShortcuts([QtGui.QKeySequence(s) for s in shortcuts])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        keys = ", ".join(QtGui.QKeySequence(s).toString(
            QtGui.QKeySequence.SequenceFormat.NativeText) for s in shortcuts)
        a.setToolTip(f"{tip} ({keys})" if keys else tip)
        a.setStatusTip(tip)
        if icon:
            a.setIcon(_icon(self, icon))
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        A = self._action
        self.act_start = A("Start / Resume", self.start, ("Space", "F5"),
                           "Train continuously from where the run is", "SP_MediaPlay")
        self.act_pause = A("Pause", self.pause, ("Space", "P"),
                           "Pause after the current batch", "SP_MediaPause")
        self.act_step = A("Step batch", self.step_batch, ("F10", "N"),
                          "Train on exactly one batch, then pause", "SP_MediaSkipForward")
        self.act_epoch = A("Step epoch", self.step_epoch, ("Shift+F10", "E"),
                           "Train to the end of the current epoch, then pause",
                           "SP_MediaSeekForward")
        self.act_stop = A("Stop", self.stop, ("Shift+F5",),
                          "Stop training (Start continues, Reset starts over)", "SP_MediaStop")
        self.act_reset = A("Reset", self.reset, ("Ctrl+R",),
                           "Re-initialise the network from the seed with the current "
                           "settings and architecture; clears the curves", "SP_BrowserReload")
        self.act_evaluate = A("Evaluate", self.evaluate, ("F9",),
                              "Evaluate the test set now (confusion matrix, test accuracy)",
                              "SP_FileDialogDetailedView")
        self.act_save = A("Save checkpoint…", self.save_checkpoint_dialog, ("Ctrl+S",),
                          "Save weights, optimizer state and curves to a .npz file",
                          "SP_DialogSaveButton")
        self.act_open = A("Open checkpoint…", self.open_checkpoint_dialog, ("Ctrl+O",),
                          "Restore a saved run: architecture, weights, curves",
                          "SP_DialogOpenButton")
        self.act_open_folder = A("Open IDX folder…", self.open_folder_dialog, ("Ctrl+Shift+O",),
                                 "Train on a folder holding the four MNIST-layout IDX files",
                                 "SP_DirOpenIcon")
        self.act_export_window = A("Window as PNG…", lambda: self.export_png_dialog(None),
                                   ("Ctrl+Shift+S",), "Save a picture of the whole window")
        self.act_export_csv = A("Metrics as CSV…", self.export_csv_dialog, ("Ctrl+Shift+C",),
                                "Save the metric history (per step and per epoch) as CSV")
        self.act_export_panels = {}
        for key, dock in self.docks.items():
            self.act_export_panels[key] = A(
                f"{dock.windowTitle()} panel as PNG…",
                lambda _=False, k=key: self.export_png_dialog(k), (),
                f"Save a picture of the {dock.windowTitle()} panel")
        self.act_quit = A("Quit", self.close, ("Ctrl+Q",), "Close cnnviz")
        self.act_default_layout = A("Restore default layout", self.default_layout, (),
                                    "Put every panel back where it starts")

    def _make_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_open, self.act_save])
        m.addSeparator()
        m.addAction(self.act_open_folder)
        export = m.addMenu("&Export")
        export.addActions([self.act_export_window, self.act_export_csv])
        export.addSeparator()
        export.addActions(list(self.act_export_panels.values()))
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Train")
        m.addActions([self.act_start, self.act_pause, self.act_step, self.act_epoch,
                      self.act_stop])
        m.addSeparator()
        m.addActions([self.act_reset, self.act_evaluate])
        m = mb.addMenu("&View")
        for dock in self.docks.values():
            m.addAction(dock.toggleViewAction())
        m.addSeparator()
        m.addAction(self.act_default_layout)

        tb = self.addToolBar("Training")
        tb.setObjectName("toolbar-training")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setIconSize(QtCore.QSize(18, 18))
        tb.addActions([self.act_start, self.act_pause, self.act_step, self.act_epoch,
                       self.act_stop])
        tb.addSeparator()
        tb.addActions([self.act_reset, self.act_evaluate])
        tb.addSeparator()
        tb.addActions([self.act_open, self.act_save])
        self.toolbar = tb

    def _make_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_labels = {}
        fm = self.fontMetrics()
        # Fixed sizes: a label whose size hint changes with its text would re-layout the
        # whole window at every step.
        for key, tip, sample in (
                ("state", "What the training thread is doing", "evaluating 10000 test images…"),
                ("dataset", "Dataset and where it came from", "fashion-mnist"),
                ("backend", "Array backend and device", "numpy (CPU)"),
                ("epoch", "Epoch being trained", "epoch 100/100"),
                ("step", "Training steps (batches) taken", "step 100,000 (batch 1000/1000)"),
                ("speed", "Training images per second (recent batches)", "100,000 img/s"),
                ("lr", "Learning rate of the last step", "lr 0.000123")):
            label = QtWidgets.QLabel("")
            label.setToolTip(tip)
            label.setFixedSize(fm.horizontalAdvance(sample) + 16, fm.height() + 6)
            label.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(label)
            self.status_labels[key] = label
        self.status_labels["state"].setText("starting")

    def default_layout(self) -> None:
        """The arrangement for 1600x1000: settings left; curves, timeline and confusion (with
        the embedding and the step debugger as tabs) in the middle; activations, filters
        (tab: top digits) and digits (tab: where it looks) on the right."""
        d = self.docks
        for dock in d.values():
            dock.setFloating(False)
            self.removeDockWidget(dock)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.addDockWidget(left, d["controls"])
        self.tabifyDockWidget(d["controls"], d["architecture"])
        self.addDockWidget(right, d["curves"])
        self.splitDockWidget(d["curves"], d["activations"], Qt.Orientation.Horizontal)
        self.splitDockWidget(d["curves"], d["confusion"], Qt.Orientation.Vertical)
        self.splitDockWidget(d["activations"], d["filters"], Qt.Orientation.Vertical)
        self.splitDockWidget(d["filters"], d["digits"], Qt.Orientation.Vertical)
        self.splitDockWidget(d["curves"], d["timeline"], Qt.Orientation.Vertical)
        self.tabifyDockWidget(d["confusion"], d["embedding"])
        self.tabifyDockWidget(d["confusion"], d["debugger"])
        self.tabifyDockWidget(d["digits"], d["attribution"])
        self.tabifyDockWidget(d["filters"], d["top_digits"])
        for dock in d.values():
            dock.show()
        for key in ("controls", "confusion", "digits", "filters"):
            d[key].raise_()
        self._size_docks()
        QTimer.singleShot(0, self._size_docks)  # again once the window has its real size

    def _size_docks(self) -> None:
        d = self.docks
        w, h = self.width(), self.height()
        left = 330 if w >= 1400 else max(260, int(w * 0.24))
        rest = w - left
        self.resizeDocks([d["controls"], d["curves"], d["activations"]],
                         [left, rest // 2, rest - rest // 2], Qt.Orientation.Horizontal)
        avail = h - 110
        strip = 150
        curves = int((avail - strip) * 0.5)
        self.resizeDocks([d["curves"], d["timeline"], d["confusion"]],
                         [curves, strip, avail - strip - curves], Qt.Orientation.Vertical)
        self.resizeDocks([d["activations"], d["filters"], d["digits"]],
                         [int(avail * 0.40), int(avail * 0.28), avail - int(avail * 0.68)],
                         Qt.Orientation.Vertical)

    def _connect(self) -> None:
        c = self.controller
        c.sigUpdates.connect(self._on_updates)
        c.sigStateChanged.connect(self._on_state_changed)
        c.sigSessionReady.connect(self._on_session_ready)
        c.sigDiverged.connect(self._on_diverged)
        c.sigError.connect(self._on_error)
        c.sigMessage.connect(self._on_message)
        c.sigSaved.connect(self._on_saved)
        c.sigBusy.connect(self._on_busy)
        self.controls.sigLiveChanged.connect(self._on_live_changed)
        self.controls.sigSettingsChanged.connect(self._update_actions)
        self.controls.sigDatasetChosen.connect(self._on_dataset_chosen)
        self.controls.sigOpenFolder.connect(self.open_folder_dialog)
        self.architecture.sigSpecChanged.connect(self._on_spec_changed)
        self.confusion.sigRefreshRequested.connect(self.evaluate)
        self.confusion.sigDigitChosen.connect(self._on_confusion_digit)
        self.digits.sigDigitChosen.connect(self._on_digit_chosen)
        c.sigMoment.connect(self._on_moment)
        self.timeline.sigScrub.connect(self._on_scrub)
        self.timeline.sigLive.connect(self._on_live)
        self.timeline.sigBranch.connect(self._on_branch)
        self.timeline.sigSettingsChanged.connect(self._on_timeline_settings)
        self.attribution.sigRequest.connect(self._on_attribution_request)
        self.top_digits.sigLayerChosen.connect(self.controller.top_activations)
        self.top_digits.sigDigitChosen.connect(self._on_confusion_digit)
        self.embedding.sigRefreshRequested.connect(self.controller.embedding)
        self.embedding.sigDigitChosen.connect(self._on_confusion_digit)
        for key in WATCHED:  # checked once the dock area has settled (tabs switch in steps)
            self.docks[key].visibilityChanged.connect(
                lambda _visible: QTimer.singleShot(0, self._sync_watch))
        self.loader.sigProgress.connect(self._on_data_progress)
        self.loader.sigLoaded.connect(self._on_data_loaded)
        self.loader.sigFailed.connect(self._on_data_failed)

    # -- settings -----------------------------------------------------------------------------

    def _saved_config(self) -> TrainConfig:
        raw = self.settings.value("config/train", "")
        try:
            cfg = TrainConfig.from_dict(json.loads(raw)) if raw else TrainConfig()
            cfg.validate()
        except (ValueError, TypeError):
            cfg = TrainConfig()
        return cfg

    def _restore_view_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state, STATE_VERSION)
        try:
            self.curves.set_smoothing(float(s.value("curves/smoothing", 0.9)))
        except (TypeError, ValueError):
            pass
        self.curves.set_log_scale(str(s.value("curves/log", "false")).lower() == "true")
        try:
            every = int(s.value("timeline/every", TIMELINE_EVERY))
            budget = float(s.value("timeline/budget_mb", TIMELINE_MB))
        except (TypeError, ValueError):
            every, budget = TIMELINE_EVERY, TIMELINE_MB
        self.timeline.set_settings(every, budget)
        every, budget = self.timeline.settings()  # within the spin boxes' ranges
        if (every, budget) != (TIMELINE_EVERY, TIMELINE_MB):
            self.controller.set_timeline(every, budget)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(STATE_VERSION))
        cfg = self.current_config()
        s.setValue("config/train", json.dumps(cfg.to_dict()))
        s.setValue("curves/smoothing", self.curves.smoothing_weight())
        s.setValue("curves/log", "true" if self.curves.log_scale.isChecked() else "false")
        every, budget = self.timeline.settings()
        s.setValue("timeline/every", every)
        s.setValue("timeline/budget_mb", budget)
        name, folder = self._data_request
        s.setValue("data/name", name)
        s.setValue("data/folder", folder or "")
        s.sync()

    def current_config(self) -> TrainConfig:
        """The TrainConfig the panels describe now (what Reset would use)."""
        cfg = self.controls.config(self._base_config)
        cfg.__dict__.update(self.architecture.config_fields())
        return cfg

    # -- data -------------------------------------------------------------------------------

    def load_dataset(self, name: str = "mnist", folder: str | None = None) -> None:
        """Load a dataset in the background (progress dialog); trains on it when loaded."""
        if self._loading:
            return
        self._loading = True
        self._data_request = (name, folder)
        what = folder or dict((n, label) for label, n in DATASETS).get(name, name)
        self.status_labels["state"].setText(f"loading {what}")
        self.controls.set_dataset_info(f"Loading {what}…")
        self._progress = QtWidgets.QProgressDialog(f"Loading {what}…", "", 0, 0, self)
        self._progress.setWindowTitle("cnnviz: loading data")
        self._progress.setCancelButton(None)
        self._progress.setWindowModality(Qt.WindowModality.WindowModal)
        self._progress.setMinimumDuration(400)
        self._progress.setAutoClose(False)
        self._progress.setAutoReset(False)
        self._progress.setValue(0)
        QTimer.singleShot(400, self._show_progress_dialog)  # a quick local load shows none
        self._update_actions()
        self.loader.start(name, folder)

    def _show_progress_dialog(self) -> None:
        if self._progress is not None and self._loading:
            self._progress.show()

    def open_folder_dialog(self) -> None:
        start = str(self.settings.value("data/folder", "") or Path.home())
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Open a folder with the four MNIST-layout IDX files", start)
        if folder:
            name = "fashion-mnist" if "fashion" in folder.lower() else "mnist"
            self.load_dataset(name, folder)

    @Slot(str)
    def _on_dataset_chosen(self, name: str) -> None:
        self.load_dataset(name, None)

    @Slot(str, object, object)
    def _on_data_progress(self, name: str, done, total) -> None:
        p = self._progress
        if p is None:
            return
        if total:
            p.setMaximum(int(total))
            p.setValue(min(int(done), int(total)))
            p.setLabelText(f"{name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            p.setMaximum(0)
            p.setLabelText(f"{name}: {done / 1e6:.1f} MB" if done else f"{name}…")

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress.deleteLater()
            self._progress = None

    @Slot(object)
    def _on_data_loaded(self, dataset) -> None:
        self._loading = False
        self._close_progress()
        self.dataset = dataset
        self._data_error = ""
        names = tuple(dataset.class_names)
        self.controls.set_dataset_info(
            f"{dataset.name}: {len(dataset.train_labels):,} training and "
            f"{len(dataset.test_labels):,} test images, {len(names)} classes\n"
            f"from {dataset.source}", dataset.name)
        self.architecture.set_num_classes(len(names))
        self.status_labels["dataset"].setText(dataset.name)
        self.status_labels["dataset"].setToolTip(f"{dataset!r}")
        self.status_labels["state"].setText("building the model")
        self.controller.new_session(self.current_config(), dataset)
        self._update_actions()

    @Slot(str)
    def _on_data_failed(self, text: str) -> None:
        self._loading = False
        self._close_progress()
        self._set_no_data(text)
        self.show_message("No training data", text, QtWidgets.QMessageBox.Icon.Warning)

    def _set_no_data(self, text: str) -> None:
        self._data_error = text
        if self.dataset is None:
            self.controls.set_dataset_info(
                "No data. Use the dataset menu or Open IDX folder…, or set CNNVIZ_DATA to a "
                "folder with the four MNIST files and restart.")
            self.status_labels["dataset"].setText("no data")
            self.status_labels["state"].setText("no data: Start is disabled")
        self._update_actions()

    # -- actions ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.act_start.isEnabled():
            cfg = self.current_config()
            self._run_epochs = cfg.epochs  # the worker applies epochs on Start/Resume
            self.controller.start(cfg)
            self._show_progress()

    def pause(self) -> None:
        self.controller.pause()

    def step_batch(self) -> None:
        if self.act_step.isEnabled():
            self.controller.step_batch()

    def step_epoch(self) -> None:
        if self.act_epoch.isEnabled():
            self.controller.step_epoch()

    def stop(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        if self.act_reset.isEnabled():
            self.controller.reset(self.current_config())

    def evaluate(self) -> None:
        if self.controller.info is not None:
            self.controller.evaluate()

    def save_checkpoint(self, path) -> None:
        """Save the session to `path` (on the worker; sigSaved tells when it is written)."""
        self.settings.setValue("checkpoint/dir", str(Path(path).parent))
        self.controller.save(path)

    def open_checkpoint(self, path) -> None:
        """Restore a checkpoint on the current dataset: architecture, weights, curves."""
        self.settings.setValue("checkpoint/dir", str(Path(path).parent))
        self.controller.open(path)

    def save_checkpoint_dialog(self) -> None:
        if self.controller.info is None:
            return
        start = Path(str(self.settings.value("checkpoint/dir", Path.home())))
        step = self._last_step.step if self._last_step else self.controller.info.step
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save checkpoint", str(start / f"cnnviz-step{step}.npz"), CHECKPOINT_FILTER)
        if path:
            self.save_checkpoint(path if path.endswith(".npz") else path + ".npz")

    def open_checkpoint_dialog(self) -> None:
        if self.dataset is None:
            return
        start = str(self.settings.value("checkpoint/dir", Path.home()))
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open checkpoint", start,
                                                        CHECKPOINT_FILTER)
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
        name = "cnnviz" if panel is None else f"cnnviz-{panel}"
        start = Path(str(self.settings.value("export/dir", Path.home())))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export PNG", str(start / f"{name}.png"), "PNG images (*.png)")
        if path:
            self.settings.setValue("export/dir", str(Path(path).parent))
            try:
                self.export_png(path if path.lower().endswith(".png") else path + ".png", panel)
            except OSError as exc:
                self.show_message("Export failed", str(exc))

    def export_csv_dialog(self) -> None:
        start = Path(str(self.settings.value("export/dir", Path.home())))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export metrics", str(start / "cnnviz-metrics.csv"), "CSV files (*.csv)")
        if path:
            self.settings.setValue("export/dir", str(Path(path).parent))
            try:
                self.curves.write_csv(path)
            except OSError as exc:
                self.show_message("Export failed", str(exc))

    def show_message(self, title: str, text: str,
                     icon=QtWidgets.QMessageBox.Icon.Critical) -> QtWidgets.QMessageBox:
        """A window-modal message that does not block the event loop (training goes on
        being drawn); every message is also kept in `self.messages`."""
        self.messages.append((title, text))
        box = QtWidgets.QMessageBox(icon, title, text, QtWidgets.QMessageBox.StandardButton.Ok,
                                    self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self._message_box = box
        return box

    def _update_actions(self) -> None:
        has_data = self.dataset is not None
        info = self.controller.info
        state = self.controller.state
        running = state == RUNNING
        valid = self.architecture.is_valid()
        ready = info is not None and has_data and not self._loading
        self.act_start.setEnabled(ready and valid and not running)
        self.act_pause.setEnabled(info is not None and running)
        self.act_step.setEnabled(ready and valid)
        self.act_epoch.setEnabled(ready and valid and not running)
        self.act_stop.setEnabled(info is not None and state != "stopped")
        self.act_reset.setEnabled(ready and valid)
        self.act_evaluate.setEnabled(ready)
        self.act_save.setEnabled(ready)
        self.act_open.setEnabled(ready)
        tip = "" if valid else f"Fix the architecture first: {self.architecture.error_text()}"
        for a in (self.act_start, self.act_reset, self.act_step, self.act_epoch):
            base = a.statusTip()
            a.setToolTip(tip or f"{base} ({_keys(a)})")

    # -- slots: controls --------------------------------------------------------------------

    @Slot(float, float)
    def _on_live_changed(self, lr: float, momentum: float) -> None:
        if self.controller.info is not None:
            self.controller.set_hyper(lr=lr, momentum=momentum)

    @Slot()
    def _on_spec_changed(self) -> None:
        self._update_actions()

    @Slot(int)
    def _on_confusion_digit(self, index: int) -> None:
        self.digits.choose_index(int(index))  # emits sigDigitChosen -> the worker

    @Slot(object)
    def _on_digit_chosen(self, digit) -> None:
        self.controller.choose_digit(digit)

    # -- slots: inspection and timeline ---------------------------------------------------

    def _sync_watch(self) -> None:
        """The worker computes only the inspection views on screen (a dock tabbed behind
        another, closed or minimised is not): tell it what changed, and fill a dock that
        comes into view with data older than the current step."""
        if self._closed:
            return
        info = self.controller.info
        step = self._last_step.step if self._last_step is not None else (
            info.step if info is not None else 0)
        for key, view in WATCHED.items():
            seen = not self.docks[key].visibleRegion().isEmpty()
            if seen != (key in self._seen):
                (self._seen.add if seen else self._seen.discard)(key)
                self.controller.watch(view, seen)
            if seen and info is not None and self._inspected.get(key) != step:
                self._inspect(key, step)

    def _inspect(self, key: str, step: int) -> None:
        """Fill an inspection dock now (the worker answers through the mailbox)."""
        self._inspected[key] = step
        if key == "attribution":
            self.controller.attribution(self.attribution.target(),
                                        self.attribution.layer() or None)
        elif key == "top_digits":
            self.controller.top_activations(self.top_digits.layer() or None)
        elif key == "embedding":
            self.controller.embedding()

    @Slot(object, str)
    def _on_attribution_request(self, target, layer: str) -> None:
        self.controller.attribution(target, layer or None)

    @Slot(int)
    def _on_scrub(self, step: int) -> None:
        self.controller.moment(step)

    @Slot(object)
    def _on_moment(self, m: Moment) -> None:
        """Show a recorded moment in the filters, activations and confusion panels."""
        if self.timeline.is_live():
            return  # the user went back to live before it arrived
        self._scrubbed = m
        for key in SCRUBBED:
            self._feeds.pop(key, None)
        self.filters.set_filters(m.filters)
        if m.activations is not None:
            self.activations.set_activations(m.activations, self.class_names)
        ev = m.evaluation
        if ev is not None and self.test_images is not None:
            self.confusion.set_evaluation(ev, self.test_images[: len(ev.labels)],
                                          self.class_names)
        for key in SCRUBBED:
            self.docks[key].setWindowTitle(f"{self._titles[key]} at step {m.step} (timeline)")
        self.curves.set_marker(m.step)

    @Slot()
    def _on_live(self) -> None:
        """Back to the network as it is now."""
        self._scrubbed = None
        self.curves.set_marker(None)
        for key in SCRUBBED:
            self.docks[key].setWindowTitle(self._titles[key])
        if self._last_evaluation is not None:
            self._queue_feed("confusion", self._show_evaluation)
        if self.controller.info is not None:
            self.controller.snapshots()

    @Slot(int)
    def _on_branch(self, step: int) -> None:
        cfg = self.current_config()
        self._run_epochs = cfg.epochs
        self.controller.branch(step, cfg)

    @Slot(int, float)
    def _on_timeline_settings(self, every: int, budget_mb: float) -> None:
        self.controller.set_timeline(every, budget_mb)

    # -- slots: controller --------------------------------------------------------------------

    @Slot(object)
    def _on_updates(self, up: Updates) -> None:
        """Route one drained batch of events: metrics to the curves at once (they redraw on
        their own timer), snapshots to their panels one per turn (see FEED_MS)."""
        if up.steps:
            self.curves.append_steps(up.step_array())
            self._last_step = up.steps[-1]
            self._show_progress()
        if up.epochs:
            self.curves.append_epochs(up.epoch_array())
            em = up.epochs[-1]
            if np.isfinite(em.val_accuracy):
                self.controls.set_result("val", em.val_accuracy, em.step)
        for stats in up.layer_stats:
            self.debugger.set_stats(stats)  # cheap: it redraws on its own timer
        if up.timeline is not None:
            t = up.timeline
            self.timeline.set_moments(list(t.steps), t.memory_mb, t.budget_mb, t.disk_mb)
        if up.evaluation is not None:
            ev = up.evaluation
            self.curves.add_evaluation(ev.step, ev.loss, ev.accuracy)
            self.controls.set_result("test", ev.accuracy, ev.step)
            if self.test_images is not None and len(self.test_images) == len(ev.labels):
                self._last_evaluation = ev
                if self._scrubbed is None:
                    self._queue_feed("confusion", self._show_evaluation)
                self._queue_feed("predictions", lambda: self.digits.set_predictions(
                    ev.predictions))
        if up.filters is not None and self._scrubbed is None:
            snap = up.filters
            self._queue_feed("filters", lambda: self.filters.set_filters(snap))
        if up.activations is not None and self._scrubbed is None:
            act = up.activations
            self._queue_feed("activations", lambda: self._show_activations(act))
        names = self.class_names
        if up.attribution is not None:
            attr = up.attribution
            self._queue_feed("attribution", lambda: self.attribution.set_attribution(attr, names))
        if up.top is not None:
            top = up.top
            self._queue_feed("top_digits", lambda: self.top_digits.set_top(top))
        if up.embedding is not None:
            emb = up.embedding
            self._queue_feed("embedding", lambda: self.embedding.set_embedding(emb, names))

    def _show_evaluation(self) -> None:
        self.confusion.set_evaluation(self._last_evaluation, self.test_images, self.class_names)

    def _show_activations(self, snap) -> None:
        self.activations.set_activations(snap, self.class_names)
        self.digits.set_prediction(snap.probs)

    def _queue_feed(self, panel: str, feed) -> None:
        self._feeds.pop(panel, None)  # only the newest matters
        self._feeds[panel] = feed
        if not self._feed_timer.isActive():
            self._feed_timer.start()

    @Slot()
    def _on_feed_timer(self) -> None:
        if self._feeds:
            panel = next(iter(self._feeds))
            self._feeds.pop(panel)()
        if self._feeds:
            self._feed_timer.start()

    def flush_panels(self) -> None:
        """Feed every pending snapshot to its panel and draw the curves now."""
        self._feed_timer.stop()
        while self._feeds:
            panel = next(iter(self._feeds))
            self._feeds.pop(panel)()
        self.curves.flush()

    def _show_progress(self) -> None:
        m, info = self._last_step, self.controller.info
        if m is None or info is None:
            return
        L = self.status_labels
        L["epoch"].setText(f"epoch {min(m.epoch + 1, self._run_epochs)}/{self._run_epochs}")
        L["step"].setText(f"step {m.step:,} (batch {m.position}/{info.steps_per_epoch})")
        L["speed"].setText(f"{m.images_per_second:,.0f} img/s")
        L["lr"].setText(f"lr {m.lr:.3g}")
        epochs = self._run_epochs
        self.controls.set_progress(m.step, info.steps_per_epoch * epochs, m.epoch, epochs,
                                   m.position, info.steps_per_epoch, m.images_per_second,
                                   info.config.batch_size)

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        text = {RUNNING: "training", PAUSED: "paused", "stopped": "stopped"}.get(state, state)
        if not self.controller.busy:
            self.status_labels["state"].setText(text)
        self._update_actions()

    @Slot(object)
    def _on_session_ready(self, info: SessionInfo) -> None:
        self._feeds.clear()  # nothing of the previous session
        self.class_names = tuple(info.class_names)
        self.test_images = info.test_images
        self._last_evaluation = None
        self.curves.set_history(info.history)
        self.curves.set_overlay(info.previous_history)
        if self._scrubbed is not None or not self.timeline.is_live():
            self.timeline.go_live()
        layers = list(info.conv_layers)
        self.attribution.set_layers(layers)
        self.top_digits.set_layers(layers)
        self.top_digits.set_test_images(info.test_images)
        self.embedding.set_test_images(info.test_images)
        self._inspected.clear()
        self.digits.set_test_set(info.test_images, info.test_labels, info.class_names)
        self.digits.set_predictions(None)
        self.architecture.set_num_classes(len(info.class_names))
        if info.reason.startswith("opened"):
            self.controls.set_config(info.config)
            self.architecture.set_spec(info.spec, info.config.arch
                                       if info.config.spec is None else None)
            self.statusBar().showMessage(f"{info.reason} (step {info.step})", 8000)
        else:
            self.controls.set_applied(info.config)
        self.architecture.set_applied(info.spec)
        self._last_step = None
        self._run_epochs = info.config.epochs
        self.controls.reset_progress()
        epochs = info.config.epochs
        if info.step:
            spe = info.steps_per_epoch
            epoch, position = info.epoch, info.step - spe * info.epoch
            if epoch >= epochs:  # a finished run
                epoch, position = epochs - 1, spe
            self.controls.set_progress(info.step, spe * epochs, epoch, epochs, position, spe)
            ep = info.history["epochs"]
            if ep and np.isfinite(ep[-1][5]):
                self.controls.set_result("val", ep[-1][5], int(ep[-1][1]))
        L = self.status_labels
        device = "GPU" if info.backend == "cupy" else "CPU"
        L["backend"].setText(f"{info.backend} ({device})")
        L["dataset"].setText(info.dataset_name)
        L["dataset"].setToolTip(f"{info.dataset_name} from {info.dataset_source}")
        L["epoch"].setText(f"epoch {min(info.epoch + 1, info.config.epochs)}/"
                           f"{info.config.epochs}")
        L["step"].setText(f"step {info.step:,}")
        L["speed"].setText("")
        L["lr"].setText(f"lr {info.config.lr:.3g}")
        L["state"].setText("ready: press Start" if info.step == 0 else "stopped")
        arch = info.config.arch if info.config.spec is None else "custom"
        self.setWindowTitle(f"cnnviz: {arch} on {info.dataset_name}")
        self._update_actions()
        self._sync_watch()

    @Slot(str)
    def _on_diverged(self, message: str) -> None:
        self.show_message("Training diverged", message, QtWidgets.QMessageBox.Icon.Warning)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.show_message("cnnviz", message, QtWidgets.QMessageBox.Icon.Critical)

    @Slot(str)
    def _on_message(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)

    @Slot(str)
    def _on_saved(self, path: str) -> None:
        self.statusBar().showMessage(f"saved {path}", 8000)

    @Slot(str)
    def _on_busy(self, what: str) -> None:
        if what:
            self.status_labels["state"].setText(f"{what}…")
        else:
            self._on_state_changed(self.controller.state)

    # -- lifetime ---------------------------------------------------------------------------

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self.save_settings()
            self.controller.shutdown()
            self._close_progress()
        super().closeEvent(event)


def _keys(action: QtGui.QAction) -> str:
    return ", ".join(s.toString(QtGui.QKeySequence.SequenceFormat.NativeText)
                     for s in action.shortcuts())


def _preset_spec(name: str) -> list:
    from cnnviz.core.presets import DEFAULT_PRESET, PRESETS, preset

    return preset(name if name in PRESETS else DEFAULT_PRESET)
