"""cnnviz.backend: numpy always, cupy only with a usable GPU, clear errors otherwise."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from cnnviz import backend
from cnnviz.backend import (
    NUMPY,
    Backend,
    BackendError,
    array_module,
    get_backend,
    gpu_status,
    to_numpy,
)

INSTALL = 'pip install -e ".[gpu]"'


@pytest.fixture
def no_cupy(monkeypatch):
    """Make `import cupy` fail, as on a machine without the GPU extra."""
    monkeypatch.setitem(sys.modules, "cupy", None)


@pytest.fixture
def cupy_without_gpu(monkeypatch):
    """A cupy that imports but sees no CUDA device."""
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 0))
    monkeypatch.setitem(sys.modules, "cupy", fake)


@pytest.fixture
def cupy_broken_cuda(monkeypatch):
    def fail():
        raise RuntimeError("CUDA driver version is insufficient")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=fail))
    monkeypatch.setitem(sys.modules, "cupy", fake)


def test_numpy_backend():
    b = get_backend("numpy")
    assert b is NUMPY and b.name == "numpy" and b.xp is np and str(b) == "numpy"
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(b.to_numpy(a), a)
    assert isinstance(b.to_device([1, 2]), np.ndarray)
    assert get_backend(b) is b
    assert get_backend().name in ("numpy", "cupy")  # the default is "auto"


def test_auto_falls_back_to_numpy_here():
    usable, reason = gpu_status()
    if usable:
        pytest.skip("a GPU is usable on this machine")
    assert reason and INSTALL in reason
    assert get_backend("auto") is NUMPY
    with pytest.raises(BackendError) as info:
        get_backend("cupy")
    assert INSTALL in str(info.value)


@pytest.mark.parametrize("fixture", ["no_cupy", "cupy_without_gpu", "cupy_broken_cuda"])
def test_cupy_unusable(request, fixture):
    request.getfixturevalue(fixture)
    assert get_backend("auto") is NUMPY
    with pytest.raises(BackendError) as info:
        get_backend("cupy")
    assert INSTALL in str(info.value) and "cupy" in str(info.value)
    usable, reason = gpu_status()
    assert not usable and INSTALL in reason
    assert isinstance(info.value, RuntimeError)


def test_cupy_with_a_gpu_is_chosen(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert get_backend("auto") == Backend("cupy", fake)
    assert get_backend("cupy").xp is fake
    assert gpu_status() == (True, "")


@pytest.mark.parametrize("name", ["gpu", "torch", "", "NUMPY", "cuda"])
def test_unknown_backend(name):
    with pytest.raises(BackendError) as info:
        get_backend(name)
    msg = str(info.value)
    assert repr(name) in msg and "numpy" in msg and "cupy" in msg and "auto" in msg


def test_array_module_and_to_numpy():
    a = np.ones(3, np.float32)
    assert array_module(a) is np
    assert array_module(np.float32(1)) is np
    assert to_numpy(a) is a
    np.testing.assert_array_equal(to_numpy([1, 2]), [1, 2])
    assert "cupy" not in vars(backend), "backend.py imports cupy lazily, inside functions"


def test_model_to_backend_round_trip():
    from cnnviz.core.model import build_model
    from cnnviz.core.presets import preset

    model = build_model(preset("cnn-bn"), seed=3)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.forward(x, training=True)  # non-trivial running stats
    before = model.state_dict()
    y = model.eval()(x)
    for target in ("numpy", NUMPY, get_backend("auto")):
        assert model.to(target) is model
        assert model.backend.name in ("numpy", "cupy")
        after = model.state_dict()
        assert set(after) == set(before)
        for k, v in before.items():
            assert after[k].dtype == v.dtype
            np.testing.assert_array_equal(after[k], v, err_msg=k)
    model.to("numpy")
    np.testing.assert_array_equal(model.eval()(x), y)
    for _, p, g in model.parameters():
        assert isinstance(p, np.ndarray) and isinstance(g, np.ndarray)
    # to() drops forward caches, so a stale cache cannot leak across devices
    model.forward(x, training=True)
    model.to("numpy")
    assert all(getattr(layer, "_cache", None) is None for layer in model.layers)
    with pytest.raises(BackendError):
        model.to("tpu")
