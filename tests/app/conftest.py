"""Shared fixtures of the app tests: offscreen Qt, private QSettings, a small learnable
synthetic dataset, a tiny network, and windows/controllers that are always shut down."""

from __future__ import annotations

import contextlib
import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402

from cnnviz.data.dataset import Dataset  # noqa: E402
from cnnviz.training import TrainConfig  # noqa: E402
from tests.specs import two_conv  # noqa: E402

#: A conv net small enough for many steps a second on two cores.
TINY_SPEC = two_conv()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Keep CPython's cyclic garbage collector out of Qt's event dispatch.

    pytest-qt keeps only weak references to the widgets a test shows, and signal
    connections make reference cycles, so a finished test's widgets are freed by the cyclic
    collector, whenever it runs: if that is inside the processEvents() pytest-qt calls after
    the test body, Qt may be painting a widget that is destroyed under it ("QPaintDevice:
    Cannot destroy paint device that is being painted", then a segfault; seen about once
    in five runs of tests/app). So no automatic collection during a test; one full
    collection between tests, when no event is being dispatched.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture(scope="session", autouse=True)
def _private_settings(tmp_path_factory):
    """Any default QSettings() of the code under test goes to a temporary folder."""
    root = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(root))
    QCoreApplication.setOrganizationName("cnnviz-tests")
    QCoreApplication.setApplicationName("cnnviz-tests")
    yield root


@pytest.fixture(scope="session", autouse=True)
def _private_state(tmp_path_factory):
    """Autosaves and session markers (cnnviz.app.autosave) go to a temporary folder, in this
    process and in the app processes tests start."""
    old = os.environ.get("CNNVIZ_STATE")
    os.environ["CNNVIZ_STATE"] = str(tmp_path_factory.mktemp("state"))
    yield
    if old is None:
        del os.environ["CNNVIZ_STATE"]
    else:
        os.environ["CNNVIZ_STATE"] = old


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "cnnviz.ini"), QSettings.Format.IniFormat)


def make_dataset(n_train: int = 600, n_test: int = 200, seed: int = 0,
                 name: str = "synthetic") -> Dataset:
    """Digits as a bright 6x6 block at one of 10 places, plus noise: learnable in a few
    dozen steps, uint8 (N, 28, 28) like MNIST."""
    rng = np.random.default_rng(seed)

    def split(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            r, col = divmod(int(c), 5)
            y, x = 4 + r * 12 + rng.integers(-1, 2), 2 + col * 5 + rng.integers(0, 2)
            images[i, y : y + 6, x : x + 4] = 255
        return images, labels

    tx, ty = split(n_train)
    vx, vy = split(n_test)
    return Dataset(name, tx, ty, vx, vy, tuple(str(i) for i in range(10)), "synthetic (tests)")


@pytest.fixture(scope="session")
def dataset():
    return make_dataset()


@pytest.fixture(scope="session")
def dataset_factory():
    """make_dataset(n_train, n_test, seed, name) for tests that need other sizes."""
    return make_dataset


@pytest.fixture
def config():
    return TrainConfig(spec=[dict(e) for e in TINY_SPEC], optimizer="adam", lr=3e-3,
                       schedule="constant", batch_size=32, epochs=3, val_size=60, seed=0)


@contextlib.contextmanager
def open_window(qtbot, settings, dataset, config, **controller_options):
    """The real main window on `dataset`, shown offscreen, session built; closed (and its
    training thread joined) at the end."""
    from cnnviz.app.main_window import MainWindow

    options = {"drain_interval_ms": 50, "snapshot_interval": 0.2, **controller_options}
    w = MainWindow(dataset=dataset, config=config, settings=settings,
                   controller_options=options)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.state.info is not None and w.act["start"].isEnabled(),
                    timeout=15000)
    yield w
    w.close()
    assert not w.controller.is_running()


@pytest.fixture
def window(qtbot, settings, dataset, config):
    """The real main window on the synthetic data."""
    with open_window(qtbot, settings, dataset, config) as w:
        yield w


@pytest.fixture
def controller(qtbot):
    """A bare TrainingController; joined at the end of the test."""
    from cnnviz.app.controller import TrainingController

    c = TrainingController(drain_interval_ms=20, snapshot_interval=0.2)
    yield c
    assert c.shutdown(), "the worker thread did not end"
    assert not c.is_running()
