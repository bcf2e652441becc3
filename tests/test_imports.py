"""The engine, data and training layers import without Qt: the one-way rule of
docs/ARCHITECTURE.md."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

REQUIRED = ["cnnviz.core", "cnnviz.core.model", "cnnviz.core.layers", "cnnviz.backend"]
OPTIONAL = ["cnnviz.data", "cnnviz.training", "cnnviz.training.session"]

SCRIPT = r"""
import importlib, importlib.util, json, sys
required, optional = json.loads(sys.argv[1])
imported = []
for name in required:
    importlib.import_module(name)
    imported.append(name)
for name in optional:
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # its parent package does not exist yet
        spec = None
    if spec is not None:
        importlib.import_module(name)
        imported.append(name)
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph"))
print(json.dumps({"imported": imported, "qt": qt}))
"""


def test_engine_data_training_import_without_qt():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps([REQUIRED, OPTIONAL])],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**_env(), "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["imported"][: len(REQUIRED)] == REQUIRED
    assert result["qt"] == [], f"Qt imported by {result['imported']}: {result['qt'][:5]}"


def test_qt_check_can_fail():
    """The same probe reports Qt when a module does import it (if Qt is installed here)."""
    if importlib.util.find_spec("PySide6") is None:
        pytest.skip("PySide6 is not installed: nothing here could import Qt")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps([["PySide6.QtCore"], []])],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**_env(), "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "PySide6.QtCore" in json.loads(proc.stdout.strip().splitlines()[-1])["qt"]


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
