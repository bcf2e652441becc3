#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv (dependencies from PyPI) and use it from outside
# the source tree: the resources ship (style sheet, icon, .desktop entry), the app starts
# offscreen with its style and icon, `cnnviz --version` works, and with no display `cnnviz`
# says so in one line. Usage: scripts/check_wheel.sh [PYTHON]   (default: python3)
set -euo pipefail

PYTHON=${1:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export XDG_CONFIG_HOME="$WORK/config" CNNVIZ_CACHE="$WORK/cache" CNNVIZ_DATA="$WORK/no-data"

echo "== build the wheel (from a copy of the files git sees, so no stale build/ leaks in)"
mkdir "$WORK/src"
(cd "$ROOT" && git ls-files -co --exclude-standard -z \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar -cf - --null -T -) | tar -C "$WORK/src" -xf -
"$PYTHON" -m pip wheel "$WORK/src" --no-deps -w "$WORK/wheel" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/wheel/cnnviz-*.whl)
echo "$(basename "$WHEEL"): resources:"
"$PYTHON" -m zipfile -l "$WHEEL" | grep "cnnviz/resources/" | awk '{print "  " $1, $NF}'

echo "== install it into a clean venv"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$WHEEL"
cd "$WORK"  # nowhere near the source tree

echo "== cnnviz --version"
"$WORK/venv/bin/cnnviz" --version

echo "== the app, offscreen: style sheet and window icon"
QT_QPA_PLATFORM=offscreen "$WORK/venv/bin/python" - <<'EOF'
import cnnviz
from cnnviz.app.main import create_app
from cnnviz.app.main_window import MainWindow

assert "site-packages" in cnnviz.__file__, cnnviz.__file__
app = create_app(["cnnviz"])
window = MainWindow()
window.show()
sheet, icon = app.styleSheet(), window.windowIcon()
assert sheet.strip(), "empty style sheet"
assert not icon.isNull(), "no window icon"
print(f"imported from {cnnviz.__file__}")
print(f"style sheet: {len(sheet)} characters; icon sizes: "
      f"{[(s.width(), s.height()) for s in icon.availableSizes()]}; "
      f"desktop file name: {app.desktopFileName()}")
window.close()
EOF

echo "== cnnviz with no display"
set +e
env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM "$WORK/venv/bin/cnnviz"
status=$?
set -e
echo "exit status $status"
[ "$status" -eq 1 ]
echo "== wheel OK"
