"""Starting the app: one line and exit status 1 instead of Qt's abort when there is no display
or a system library is missing; Ctrl+C and SIGTERM close the window as its close button does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import types

import pytest

from cnnviz import __main__ as entry
from cnnviz.app import startup
from cnnviz.data.idx import write_idx
from cnnviz.data.synthetic import synthetic_images

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the checks concern Qt's Linux platform plugins")

NO_DISPLAY = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


def clean_env(tmp_path, **extra) -> dict[str, str]:
    """The test process's environment with no display, private settings, and `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in NO_DISPLAY}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), CNNVIZ_CACHE=str(tmp_path / "cache"))
    env.update(extra)
    return env


def start_app(env, *args, timeout=30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnviz", *args], env=env, timeout=timeout,
                          capture_output=True, text=True)


def assert_one_line(result, *words) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_no_display_is_one_line_naming_the_fixes(tmp_path):
    line = assert_one_line(start_app(clean_env(tmp_path)), "no display", "DISPLAY",
                           "QT_QPA_PLATFORM=offscreen")
    assert "WAYLAND_DISPLAY" in line  # Qt would have tried Wayland too


def test_unreachable_x_display_is_one_line(tmp_path):
    result = start_app(clean_env(tmp_path, DISPLAY=":9731", QT_QPA_PLATFORM="xcb"))
    assert_one_line(result, "cannot connect", "':9731'", "QT_QPA_PLATFORM=offscreen")


def fake_loader(missing: str):
    """A ctypes.CDLL stand-in: an X server that accepts the connection, and a platform plugin
    whose dependency `missing` is not installed."""
    def xcb_connect(display, screen):
        return 1

    xcb = types.SimpleNamespace(xcb_connect=xcb_connect, xcb_connection_has_error=lambda c: 0,
                                xcb_disconnect=lambda c: None)

    def load(name):
        if name == "libxcb.so.1":
            return xcb
        if name.endswith("libqxcb.so") or name == missing:
            raise OSError(f"{missing}: cannot open shared object file: No such file or directory")
        return object()

    return load


@pytest.mark.parametrize("missing", ["libxcb-icccm.so.4", "libxcb-cursor.so.0"])
def test_missing_library_is_one_line_with_the_apt_command(missing, monkeypatch, capsys):
    monkeypatch.setattr(startup.ctypes, "CDLL", fake_loader(missing))
    monkeypatch.setattr("cnnviz.app.main.run", lambda: pytest.fail("the app started"))
    for name in NO_DISPLAY:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    assert entry.main([]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert f"{missing} is missing" in err
    assert "sudo apt-get install -y " in err and missing.split(".so")[0][3:] in err


def test_apt_command_covers_every_library_qxcb_links():
    """Each system library PySide6's xcb plugin stack links (readelf's NEEDED, as the
    constant's comment says) maps to a package in the apt line; libc & co. are always there."""
    plugin = startup._plugin("xcb")
    if plugin is None:
        pytest.skip("PySide6 has no xcb platform plugin here")
    needed = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    packages = set(startup.APT_PACKAGES)
    for line in needed.splitlines():
        name = line.split()[0]
        if name.startswith(("libxcb", "libxkbcommon-x11", "libX11-xcb")):
            stem = name.split(".so")[0][3:].lower()
            assert any(p.startswith("lib" + stem) for p in packages), name


def test_other_platforms_and_wayland_skip_the_x_checks():
    def refuse(name):
        raise AssertionError(f"nothing to load, but {name} was")

    assert startup.platform_name({"QT_QPA_PLATFORM": "wayland;xcb"}) == "wayland"
    assert startup.display_problem({"QT_QPA_PLATFORM": "offscreen"}, refuse) is None
    assert startup.display_problem({"WAYLAND_DISPLAY": "wayland-0"}, refuse) is None
    assert startup.library_problem({"WAYLAND_DISPLAY": "wayland-0"}, refuse) is None
    assert "DISPLAY is not set" in startup.display_problem(
        {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, refuse)


#: Runs the real entry point offscreen and prints "training" once the window trains, then,
#: after the signal closed it, whether the training thread still runs.
DRIVER = textwrap.dedent("""
    import sys
    from PySide6 import QtCore, QtWidgets
    from cnnviz.__main__ import main
    from cnnviz.training.driver import RUNNING

    app = QtWidgets.QApplication(sys.argv)  # create_app() takes it over
    seen = []

    def poll():
        w = next((w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow"), None)
        if w is not None and w.controller.state == RUNNING:
            seen.append(w)
            print("training", flush=True)
            return
        if w is not None:
            w.start()
        QtCore.QTimer.singleShot(50, poll)

    QtCore.QTimer.singleShot(0, poll)
    status = main([])
    print("worker alive:", seen[0].controller.is_running(), flush=True)
    sys.exit(status)
""")


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for kind, (images, labels) in (("train", synthetic_images(400, 0)),
                                   ("t10k", synthetic_images(100, 1))):
        write_idx(folder / f"{kind}-images-idx3-ubyte", images)
        write_idx(folder / f"{kind}-labels-idx1-ubyte", labels)
    return folder


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_closes_the_training_window_cleanly(signum, tmp_path, data_dir):
    env = clean_env(tmp_path, QT_QPA_PLATFORM="offscreen", CNNVIZ_DATA=str(data_dir))
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(30, proc.kill)  # readline() below has no timeout of its own
    watchdog.start()
    try:
        assert proc.stdout.readline().strip() == "training", proc.stderr.read()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert out.strip() == "worker alive: False"
