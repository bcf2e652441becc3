"""Checks made before Qt loads: a display to open the window on, and the system libraries of
Qt's platform plugin. Qt itself aborts on either ("could not connect to display", "xcb-cursor0
is needed"); here each is one line on stderr that names the fix.

This module imports no Qt (it runs before the first Qt import, which itself fails without
libGL and friends); it finds PySide6's plugin folder with importlib and tries the libraries
with ctypes.
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["APT_COMMAND", "display_problem", "library_problem", "platform_name", "problem"]

#: Debian/Ubuntu packages of the system libraries that QtGui and Qt's xcb and wayland platform
#: plugins link (`readelf -d` of PySide6's libQt6Gui.so.6, libQt6DBus.so.6, libqxcb.so,
#: libQt6XcbQpa.so.6, libQt6WaylandClient.so.6); apt pulls in what these need. The offscreen
#: plugin needs a subset.
APT_PACKAGES = (
    "libegl1", "libgl1", "libfontconfig1", "libglib2.0-0", "libdbus-1-3", "libx11-xcb1",
    "libxkbcommon-x11-0", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
    "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-shm0", "libxcb-sync1",
    "libxcb-util1", "libxcb-xfixes0", "libxcb-xkb1", "libwayland-client0", "libwayland-cursor0",
    "libwayland-egl1",
)
APT_COMMAND = "sudo apt-get install -y " + " ".join(APT_PACKAGES)
#: Loaded by Qt at run time (before Qt 6.5 only then), so a plugin that loads may still lack it.
XCB_CURSOR = "libxcb-cursor.so.0"
OFFSCREEN_HINT = "or set QT_QPA_PLATFORM=offscreen to render without a screen (screenshots)"

Loader = Callable[[str], object]


def platform_name(env: Mapping[str, str]) -> str:
    """The platform plugin QT_QPA_PLATFORM asks for ("wayland;xcb" -> "wayland",
    "vnc:size=800x600" -> "vnc"), or "" when Qt is left to choose."""
    return env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()


def display_problem(env: Mapping[str, str], load: Loader = ctypes.CDLL) -> str | None:
    """One line when Qt on Linux would find no display (no DISPLAY, nor WAYLAND_DISPLAY when Qt
    chooses the platform), or an X server it cannot reach; None otherwise."""
    name = platform_name(env)
    if not sys.platform.startswith("linux") or name not in ("", "xcb"):
        return None
    display = env.get("DISPLAY", "")
    if not display:
        if name == "" and env.get("WAYLAND_DISPLAY"):
            return None
        unset = "DISPLAY is not set" + (" and neither is WAYLAND_DISPLAY" if name == "" else "")
        return (f"cnnviz: no display to open the window on ({unset}): run it in a desktop "
                f"session (or over ssh -X), {OFFSCREEN_HINT}")
    if name == "" and env.get("WAYLAND_DISPLAY"):
        return None  # Qt tries Wayland first
    try:
        reachable = _x_server_reachable(display, load)
    except (OSError, AttributeError):
        return None  # no libxcb: library_problem says so
    if reachable:
        return None
    return (f"cnnviz: cannot connect to the X display {display!r} (DISPLAY): check that it is "
            f"running and that this user may use it, {OFFSCREEN_HINT}")


def _x_server_reachable(display: str, load: Loader) -> bool:
    """Whether libxcb connects to `display` (the call Qt's xcb plugin makes first)."""
    xcb = load("libxcb.so.1")
    xcb.xcb_connect.restype = ctypes.c_void_p
    conn = ctypes.c_void_p(xcb.xcb_connect(display.encode(), None))
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


def _plugin(name: str) -> Path | None:
    """PySide6's library of the platform plugin `name`, e.g. .../Qt/plugins/platforms/libqxcb.so."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0], "Qt", "plugins", "platforms", f"libq{name}.so")
    return path if path.is_file() else None


def library_problem(env: Mapping[str, str], load: Loader = ctypes.CDLL) -> str | None:
    """One line naming a system library missing for the platform plugin Qt will load on Linux,
    with the apt command that installs them all; None when they load (or on Wayland, where Qt
    chooses between wayland and xcb itself)."""
    name = platform_name(env) or ("" if env.get("WAYLAND_DISPLAY") else "xcb")
    if not sys.platform.startswith("linux") or not name:
        return None
    plugin = _plugin(name)
    libraries = ([str(plugin)] if plugin else []) + ([XCB_CURSOR] if name == "xcb" else [])
    for library in libraries:
        try:
            load(library)
        except OSError as exc:
            found = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", str(exc))
            missing = f"{found.group(1)} is missing" if found else f"loading failed ({exc})"
            return (f"cnnviz: Qt's {name} platform plugin cannot start: {missing}. On Debian/"
                    f"Ubuntu install the libraries Qt needs with: {APT_COMMAND}")
    return None


def problem(env: Mapping[str, str], load: Loader | None = None) -> str | None:
    """The first start-up problem as one line for stderr, or None when Qt can start. `load`
    opens a shared library (default: ctypes.CDLL, looked up now)."""
    load = ctypes.CDLL if load is None else load
    return display_problem(env, load) or library_problem(env, load)
