"""File > Export > Model as ONNX: the worker writes the live network as an ONNX graph."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def test_export_menu_writes_the_network_that_a_checkpoint_holds(qtbot, window, tmp_path,
                                                                monkeypatch):
    from cnnviz.training.checkpoint import checkpoint_model

    action = window.act["export_onnx"]
    file_menu = window.menuBar().actions()[0].menu()
    export = next(a.menu() for a in file_menu.actions() if a.text() == "&Export")
    assert action in export.actions() and action.isEnabled()
    window.act["step"].trigger()
    qtbot.waitUntil(lambda: window.panels["curves"].num_steps == 1, timeout=10000)
    onnx_path, ckpt = tmp_path / "model.onnx", tmp_path / "run.npz"
    monkeypatch.setattr(window.dialogs, "export_path", lambda *a: str(onnx_path))
    with qtbot.waitSignal(window.controller.sigSaved, timeout=15000) as saved:
        action.trigger()
    assert saved.args == [str(onnx_path)]
    with qtbot.waitSignal(window.controller.sigSaved, timeout=15000):
        window.save_checkpoint(ckpt)
    model, norm, _ = checkpoint_model(ckpt)
    images = window.state.test_images[:16]
    pixels = (images.astype(np.float32) / 255)[:, None]
    scores = ort.InferenceSession(str(onnx_path)).run(None, {"pixels": pixels})[0]
    mean, std = (np.float32(v[0]) for v in norm)
    expected = model.forward((pixels - mean) / std, False)
    np.testing.assert_allclose(scores, expected, atol=1e-4)
