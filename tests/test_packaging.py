"""What an install ships besides code: the resources (style sheet, icon, .desktop entry) are
declared as package data and found through importlib.resources; `--version` names the
installed version. scripts/check_wheel.sh checks a real wheel in a clean venv."""

from __future__ import annotations

import fnmatch
import io
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from PIL import Image

import cnnviz
from cnnviz.resources import ICON_PNGS, RESOURCES

ROOT = Path(__file__).resolve().parents[1]


def test_every_resource_file_is_declared_package_data():
    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["cnnviz.resources"]
    files = [p.name for p in (ROOT / "cnnviz" / "resources").iterdir()
             if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert {"style.qss", "cnnviz.svg", "cnnviz.desktop", *ICON_PNGS} <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in declared), name


def test_resources_are_found_through_importlib_resources():
    assert "QDockWidget" in (RESOURCES / "style.qss").read_text()
    assert (RESOURCES / "cnnviz.svg").read_text().lstrip().startswith("<svg")
    sizes = [Image.open(io.BytesIO((RESOURCES / name).read_bytes())).size for name in ICON_PNGS]
    assert sizes == [(256, 256), (48, 48)]
    entry = (RESOURCES / "cnnviz.desktop").read_text().splitlines()
    assert entry[0] == "[Desktop Entry]"
    assert {"Type=Application", "Exec=cnnviz", "Icon=cnnviz", "Name=cnnviz"} <= set(entry)


def test_version_option_prints_the_installed_version():
    assert version("cnnviz") == cnnviz.__version__
    result = subprocess.run([sys.executable, "-m", "cnnviz", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cnnviz {cnnviz.__version__}\n"
