"""The window's actions, menus and toolbar, as data: one row per action, menus and the
toolbar as lists of action keys (None: a separator)."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt

from cnnviz.app.docks import DOCKS

__all__ = ["ACTIONS", "make_actions", "enable_actions"]

#: key, text, MainWindow method it calls, shortcuts, tip, standard icon
ACTIONS = (
    ("start", "Start / Resume", "start", ("Space", "F5"),
     "Train continuously from where the run is", "SP_MediaPlay"),
    ("pause", "Pause", "pause", ("Space", "P"), "Pause after the current batch",
     "SP_MediaPause"),
    ("step", "Step batch", "step_batch", ("F10", "N"), "Train on exactly one batch, then pause",
     "SP_MediaSkipForward"),
    ("epoch", "Step epoch", "step_epoch", ("Shift+F10", "E"),
     "Train to the end of the current epoch, then pause", "SP_MediaSeekForward"),
    ("stop", "Stop", "stop", ("Shift+F5",), "Stop training (Start continues, Reset starts over)",
     "SP_MediaStop"),
    ("reset", "Reset", "reset", ("Ctrl+R",), "Re-initialise the network from the seed with the "
     "current settings and architecture; clears the curves", "SP_BrowserReload"),
    ("evaluate", "Evaluate", "evaluate", ("F9",),
     "Evaluate the test set now (confusion matrix, test accuracy)", "SP_FileDialogDetailedView"),
    ("save", "Save checkpoint…", "save_checkpoint_dialog", ("Ctrl+S",),
     "Save weights, optimizer state and curves to a .npz file", "SP_DialogSaveButton"),
    ("open", "Open checkpoint…", "open_checkpoint_dialog", ("Ctrl+O",),
     "Restore a saved run: architecture, weights, curves", "SP_DialogOpenButton"),
    ("autosave", "Autosave", "toggle_autosave", (), "Save the run every few minutes; after "
     "an abnormal exit cnnviz offers it back at the next start", None),
    ("open_folder", "Open data folder…", "open_folder_dialog", ("Ctrl+Shift+O",),
     "Train on a folder of IDX files, CIFAR-10 binary batches or class folders of images",
     "SP_DirOpenIcon"),
    ("export_window", "Window as PNG…", "export_png_dialog", ("Ctrl+Shift+S",),
     "Save a picture of the whole window", None),
    ("export_csv", "Metrics as CSV…", "export_csv_dialog", ("Ctrl+Shift+C",),
     "Save the metric history (per step and per epoch) as CSV", None),
    ("export_onnx", "Model as ONNX…", "export_onnx_dialog", (),
     "Save the network as an ONNX graph: pixels 0..1 in, class scores out (Netron opens it,\n"
     "onnxruntime runs it; needs the onnx package)", None),
    ("quit", "Quit", "close", ("Ctrl+Q",), "Close cnnviz", None),
    ("default_layout", "Restore default layout", "default_layout", (),
     "Put every panel back where it starts", None),
)
TRAIN = ("start", "pause", "step", "epoch", "stop", None, "reset", "evaluate")
TOOLBAR = (*TRAIN, None, "open", "save")
#: the keys of the panel exports ("export_<dock key>") are added to the Export menu
FILE = ("open", "save", "autosave", None, "open_folder", "export", None, "quit")
EXPORT = ("export_window", "export_csv", "export_onnx", None)


def _action(window, text, slot, shortcuts, tip, icon) -> QtGui.QAction:
    a = QtGui.QAction(text, window)
    if shortcuts:
        a.setShortcuts([QtGui.QKeySequence(s) for s in shortcuts])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    a.setStatusTip(tip)
    a.setToolTip(_tip(a))
    if icon:
        a.setIcon(window.style().standardIcon(getattr(QtWidgets.QStyle.StandardPixmap, icon)))
    a.triggered.connect(slot)
    window.addAction(a)
    return a


def _tip(action: QtGui.QAction) -> str:
    keys = ", ".join(s.toString(QtGui.QKeySequence.SequenceFormat.NativeText)
                     for s in action.shortcuts())
    return f"{action.statusTip()} ({keys})" if keys else action.statusTip()


def make_actions(window, docks: dict) -> dict[str, QtGui.QAction]:
    """Every action of `window` by key, with its menus and toolbar; `docks`: key -> dock."""
    acts = {key: _action(window, text, _slot(window, method), shortcuts, tip, icon)
            for key, text, method, shortcuts, tip, icon in ACTIONS}
    for row in DOCKS:
        acts[f"export_{row.key}"] = _action(
            window, f"{row.title} panel as PNG…",
            lambda _=False, k=row.key: window.export_png_dialog(k), (),
            f"Save a picture of the {row.title} panel", None)
    menu_bar = window.menuBar()
    file_menu = menu_bar.addMenu("&File")
    for key in FILE:
        if key == "export":
            export = file_menu.addMenu("&Export")
            _fill(export, acts, (*EXPORT, *(f"export_{row.key}" for row in DOCKS)))
        else:
            _fill(file_menu, acts, (key,))
    _fill(menu_bar.addMenu("&Train"), acts, TRAIN)
    view = menu_bar.addMenu("&View")
    view.addActions([dock.toggleViewAction() for dock in docks.values()])
    view.addSeparator()
    view.addAction(acts["default_layout"])
    tb = window.addToolBar("Training")
    tb.setObjectName("toolbar-training")
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    tb.setIconSize(QtCore.QSize(18, 18))
    _fill(tb, acts, TOOLBAR)
    return acts


def _slot(window, method: str):
    if method == "export_png_dialog":
        return lambda _=False: window.export_png_dialog(None)
    return lambda _=False: getattr(window, method)()


def _fill(widget, acts: dict, keys) -> None:
    for key in keys:
        if key is None:
            widget.addSeparator()
        else:
            widget.addAction(acts[key])


def enable_actions(acts: dict, has_session: bool, ready: bool, running: bool, stopped: bool,
                   arch_error: str) -> None:
    """Enable what makes sense now. ready: a session on loaded data, no load under way;
    arch_error: why the architecture cannot be built ("" when it can)."""
    valid = not arch_error
    for key, on in (("start", ready and valid and not running),
                    ("pause", has_session and running), ("step", ready and valid),
                    ("epoch", ready and valid and not running),
                    ("stop", has_session and not stopped), ("reset", ready and valid),
                    ("evaluate", ready), ("save", ready), ("open", ready),
                    ("export_onnx", ready)):
        acts[key].setEnabled(on)
    for key in ("start", "reset", "step", "epoch"):
        a = acts[key]
        a.setToolTip(f"Fix the architecture first: {arch_error}" if arch_error else _tip(a))
