"""The inspection views and the timeline in the running app: commands through the training
thread, scrubbing and branching, and the docks that show them (the policy itself is tested
without Qt in tests/training/test_driver.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.app.controller import TrainingController
from cnnviz.app.main_window import MainWindow
from cnnviz.app.messages import Updates
from cnnviz.training.checkpoint import read_checkpoint
from cnnviz.training.timeline import TimelineState
from tests.app.conftest import open_window

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


class Inbox:
    """The newest of each Updates field the controller emits, plus every LayerStats."""

    def __init__(self, controller):
        self.latest: dict = {}
        self.layer_stats: list = []
        controller.sigUpdates.connect(self.on_updates)

    def on_updates(self, up: Updates):
        self.layer_stats += up.layer_stats
        for name in ("attribution", "top", "embedding", "timeline", "evaluation"):
            if getattr(up, name) is not None:
                self.latest[name] = getattr(up, name)


@pytest.fixture
def recording(qtbot):
    """A controller that records a timeline moment every 2 steps."""
    c = TrainingController(drain_interval_ms=20, snapshot_interval=0.2, timeline_every=2)
    yield c
    assert c.shutdown()


def new_session(qtbot, controller, config, dataset):
    with qtbot.waitSignal(controller.sigSessionReady, timeout=15000) as blocker:
        controller.new_session(config, dataset)
    return blocker.args[0]


def steps(qtbot, controller, n):
    for _ in range(n):
        with qtbot.waitSignal(controller.sigCommandDone, timeout=10000,
                              check_params_cb=lambda name: name == "step_batch"):
            controller.step_batch()


def test_inspection_commands_answer_with_their_events(qtbot, controller, config, dataset):
    box = Inbox(controller)
    info = new_session(qtbot, controller, config, dataset)
    assert info.conv_layers == ("0.Conv2D", "1.ReLU", "2.MaxPool2D", "3.Conv2D", "4.ReLU",
                                "5.MaxPool2D")
    controller.choose_digit(5)
    controller.attribution(target=3, layer="0.Conv2D")
    controller.top_activations("3.Conv2D")
    controller.embedding()
    qtbot.waitUntil(lambda: {"attribution", "top", "embedding"} <= set(box.latest),
                    timeout=20000)
    attr = box.latest["attribution"]
    assert attr.target == 3 and attr.layer == "0.Conv2D" and attr.label == dataset.test_labels[5]
    assert attr.saliency.shape == attr.grad_cam.shape == attr.occlusion.shape == (28, 28)
    top = box.latest["top"]
    assert top.layer == "3.Conv2D" and top.indices.shape == (6, 9)
    emb = box.latest["embedding"]
    assert emb.coords.shape == (len(dataset.test_labels), 2)  # all 200 (< 2000)
    np.testing.assert_array_equal(emb.labels, dataset.test_labels)


def test_unknown_view_is_an_error_naming_the_choices(qtbot, controller, config, dataset):
    new_session(qtbot, controller, config, dataset)
    with qtbot.waitSignal(controller.sigError, timeout=5000) as blocker:
        controller.watch("weights")
    assert "attribution, top, embedding, preferred, attack, stats" in blocker.args[0]


def test_timeline_records_moments_and_answers_scrubs(qtbot, recording, config, dataset):
    box = Inbox(recording)
    new_session(qtbot, recording, config, dataset)
    steps(qtbot, recording, 6)
    qtbot.waitUntil(lambda: box.latest.get("timeline", TimelineState((), 0, 0)).steps
                    == (2, 4, 6), timeout=5000)
    state = box.latest["timeline"]
    assert 0 < state.memory_mb <= state.budget_mb == 64.0 and state.disk_mb > 0
    with qtbot.waitSignal(recording.sigMoment, timeout=5000) as blocker:
        recording.moment(5)
    m = blocker.args[0]
    assert m.step == 4 and m.evaluation.confusion.sum() == len(dataset.test_labels)
    assert m.activations.step == 4 and set(m.filters.filters) == {"0.Conv2D", "3.Conv2D"}
    meta, _ = read_checkpoint(m.checkpoint)
    assert meta["step"] == 4
    files = sum(p.stat().st_size for p in m.checkpoint.parent.iterdir())
    assert state.disk_mb == pytest.approx(files / 2**20)
    recording.set_timeline(3, 64)
    steps(qtbot, recording, 3)
    qtbot.waitUntil(lambda: box.latest["timeline"].steps == (2, 4, 6, 9), timeout=5000)


def test_branch_goes_back_and_trains_on_with_new_settings(qtbot, recording, config, dataset):
    new_session(qtbot, recording, config, dataset)
    steps(qtbot, recording, 6)
    config.lr = 1e-4
    with qtbot.waitSignal(recording.sigSessionReady, timeout=15000) as blocker:
        recording.branch(4, config)
    info = blocker.args[0]
    assert info.reason == "branched from step 4" and info.step == 4
    assert len(info.history.steps) == 4 and len(info.previous_history.steps) == 6
    assert recording.config.lr == 1e-4  # applied before the new session was announced
    new_steps = []
    recording.sigUpdates.connect(lambda up: new_steps.extend(up.steps))
    qtbot.waitUntil(lambda: recording.state == "running" and len(new_steps) >= 2,
                    timeout=10000)
    recording.pause()
    qtbot.waitUntil(lambda: recording.state == "paused", timeout=5000)
    assert new_steps[0].step == 5 and all(m.lr == pytest.approx(1e-4) for m in new_steps)


# -- the window ---------------------------------------------------------------------------


@pytest.fixture
def win(qtbot, settings, dataset, config):
    """The main window, recording a timeline moment every 2 steps."""
    with open_window(qtbot, settings, dataset, config, timeline_every=2) as w:
        yield w


def step_window(qtbot, w, n):
    last = w.controller.last_step
    target = (last.step if last is not None else w.state.info.step) + n
    for _ in range(n):
        w.step_batch()
    qtbot.waitUntil(lambda: w.controller.last_step is not None
                    and w.controller.last_step.step == target, timeout=10000)


def test_inspection_docks_are_tabbed_beside_the_views_they_explain(win):
    tabs = {key: {d.objectName() for d in win.tabifiedDockWidgets(win.docks[key])}
            for key in ("confusion", "digits", "filters")}
    assert tabs["confusion"] == {"dock-embedding", "dock-debugger"}
    assert tabs["digits"] == {"dock-attribution", "dock-attack", "dock-training_batch"}
    assert tabs["filters"] == {"dock-top_digits", "dock-preferred"}
    timeline = win.docks["timeline"]
    assert timeline.isVisible() and timeline.height() >= 120
    for key in ("confusion", "digits", "filters"):  # the familiar views are in front
        assert win.docks[key].widget().isVisible()


def test_raising_a_dock_fills_it_and_keeps_it_up_to_date(qtbot, win, dataset):
    assert win.panels["top_digits"].shown_indices() == []
    win.docks["top_digits"].raise_()
    qtbot.waitUntil(lambda: len(win.panels["top_digits"].shown_indices()) == 9, timeout=15000)
    assert win.inspections.watched == {"top_digits"}  # only what is on screen is computed
    win.docks["debugger"].raise_()
    qtbot.waitUntil(lambda: "debugger" in win.inspections.watched, timeout=5000)
    inbox = Inbox(win.controller)
    stats = inbox.layer_stats
    step_window(qtbot, win, 3)
    qtbot.waitUntil(lambda: "0.Conv2D" in win.panels["debugger"].rows(), timeout=10000)
    assert [ev.step for ev in stats] == [1, 2, 3]
    win.docks["confusion"].raise_()
    qtbot.waitUntil(lambda: "debugger" not in win.inspections.watched, timeout=5000)
    win.docks["attribution"].raise_()
    qtbot.waitUntil(lambda: set(win.panels["attribution"].shown()) == {"saliency", "grad_cam",
                                                             "occlusion"}, timeout=10000)
    # back in front after training went on: refilled for the step the network is at now
    win.docks["filters"].raise_()
    qtbot.waitUntil(lambda: "top_digits" not in win.inspections.watched, timeout=5000)
    step_window(qtbot, win, 2)
    assert len(stats) == 3  # the hidden debugger cost nothing
    qtbot.waitUntil(lambda: win.panels["curves"].num_steps == 5, timeout=5000)
    box = Inbox(win.controller)
    win.docks["top_digits"].raise_()
    qtbot.waitUntil(lambda: "top" in box.latest, timeout=15000)
    assert box.latest["top"].step == 5
    # a digit chosen in the top-digits panel becomes the digit everything shows
    index = win.panels["top_digits"].shown_indices()[0]
    win.panels["top_digits"].choose(0)
    assert win.state.digit == index
    qtbot.waitUntil(lambda: win.panels["digits"].current_index() == index, timeout=5000)
    win.flush_panels()
    qtbot.waitUntil(lambda: win.panels["activations"].snapshot.label
                    == win.state.info.test_labels[index], timeout=5000)


def test_scrub_shows_the_moment_then_live_and_branch(qtbot, win):
    step_window(qtbot, win, 6)
    qtbot.waitUntil(lambda: win.panels["timeline"].steps() == [2, 4, 6], timeout=10000)
    win.flush_panels()
    live_tiles = win.panels["filters"].filter_tiles()
    with qtbot.waitSignal(win.controller.sigMoment, timeout=5000):
        win.panels["timeline"].select_step(2)
    qtbot.waitUntil(lambda: win.state.moment is not None, timeout=5000)
    moment = win.state.moment
    assert moment.step == 2 and win.panels["curves"].marker_step() == 2
    assert "step 2" in win.docks["filters"].windowTitle()
    shown = win.panels["filters"].filter_tiles()
    assert not all(np.array_equal(a, b) for a, b in zip(shown, live_tiles))
    assert win.panels["activations"].snapshot.step == 2
    # live snapshots arriving meanwhile do not replace the moment
    win.controller.snapshots()
    qtbot.wait(300)
    win.flush_panels()
    assert win.panels["activations"].snapshot.step == 2

    win.panels["timeline"].go_live()
    assert win.panels["curves"].marker_step() is None
    assert win.docks["filters"].windowTitle() == "Filters"
    qtbot.waitUntil(lambda: win.panels["activations"].snapshot.step == 6, timeout=5000)

    win.panels["timeline"].select_step(4)
    with qtbot.waitSignal(win.controller.sigSessionReady, timeout=15000) as blocker:
        win.panels["timeline"].branch()
    assert blocker.args[0].step == 4
    qtbot.waitUntil(lambda: win.controller.state == "running", timeout=5000)
    win.pause()
    qtbot.waitUntil(lambda: win.controller.state == "paused", timeout=5000)
    assert len(win.panels["curves"].overlay_steps()) == 6  # the old run, drawn under the new one
    assert win.panels["timeline"].is_live()


def test_timeline_settings_persist_and_reach_the_training_thread(qtbot, settings, dataset,
                                                                config):
    settings.setValue("timeline/every", 5)
    settings.setValue("timeline/budget_mb", 16)
    w = MainWindow(dataset=dataset, config=config, settings=settings)
    qtbot.addWidget(w)
    try:
        box = Inbox(w.controller)
        qtbot.waitUntil(lambda: w.state.info is not None, timeout=15000)
        for _ in range(5):
            w.step_batch()
        qtbot.waitUntil(lambda: box.latest.get("timeline", TimelineState((), 0, 0)).steps
                        == (5,), timeout=10000)
        assert box.latest["timeline"].budget_mb == 16
        w.panels["timeline"].every_spin.setValue(7)
        w.panels["timeline"].every_spin.editingFinished.emit()
        for _ in range(2):
            w.step_batch()
        qtbot.waitUntil(lambda: box.latest["timeline"].steps == (5, 7), timeout=10000)
    finally:
        w.close()
    assert int(settings.value("timeline/every")) == 7


@pytest.mark.parametrize("choice", ["3.Conv2D", "classes"])
def test_what_it_wants_computes_on_the_worker_and_shows_one_image_each(qtbot, win, choice):
    panel = win.panels["preferred"]
    win.docks["preferred"].raise_()
    panel.choose_layer(choice)
    sent = []
    win.controller.sigBusy.connect(sent.append)  # the worker says what it synthesizes
    panel.compute_button.click()
    assert panel.status.text() == "computing…" and panel.busy()
    qtbot.waitUntil(lambda: not panel.busy(), timeout=30000)
    expected = ([f"ch {k}" for k in range(6)] if choice == "3.Conv2D"
                else list(win.state.class_names))
    assert panel.gallery.count() == len(expected)
    labels = panel.shown_labels()
    assert [t.split("\n")[0] for t in labels] == expected
    ev = panel.shown()
    for text, o, b in zip(labels, ev.objective, ev.best_objective):
        synthesized, real = text.split("\n")[1].split(" vs ")
        assert float(synthesized) == pytest.approx(o, rel=1e-2, abs=1e-3)
        assert float(real) == pytest.approx(b, rel=1e-2, abs=1e-3)
    # beside each synthesized input: the test image that reaches the most of the same
    real = panel.gallery._images[1]
    np.testing.assert_array_equal(real, win.state.test_images[ev.best_index].astype(np.float32))
    assert any(s.startswith("synthesizing") for s in sent)
    assert "computed in" in panel.status.text()


def test_attack_view_follows_target_and_digit_and_attacks_all(qtbot, win):
    panel = win.panels["attack"]
    win.docks["attack"].raise_()
    qtbot.waitUntil(lambda: panel.shown() is not None, timeout=15000)  # filled on view
    assert "attack" in win.inspections.watched and panel.shown().target == 0
    panel.choose_target(3)
    qtbot.waitUntil(lambda: panel.shown().target == 3, timeout=15000)
    ev = panel.shown()
    assert "target 3:" in panel.title.text() and f"{ev.linf:.3f}" in panel.title.text()
    np.testing.assert_array_equal(panel.images["delta"].image, ev.delta)
    labels = win.state.info.test_labels
    win.choose_digit(5)
    qtbot.waitUntil(lambda: panel.shown().label == labels[5], timeout=15000)
    panel.all_button.click()
    assert not panel.all_button.isEnabled() and "Attacking" in panel.summary.text()
    qtbot.waitUntil(panel.all_button.isEnabled, timeout=60000)
    n = min(100, int((labels != 3).sum()))
    assert f"of {n} digits" in panel.summary.text()
    assert panel.size_bars.opts["height"].sum() == n  # every digit in the histogram


def test_what_it_wants_rides_along_with_timeline_moments(qtbot, win):
    panel = win.panels["preferred"]
    win.docks["preferred"].raise_()
    qtbot.waitUntil(lambda: panel.shown() is not None and not panel.busy(), timeout=30000)
    assert "preferred" in win.inspections.watched and panel.shown().layer == panel.layer()
    step_window(qtbot, win, 4)
    qtbot.waitUntil(lambda: win.panels["timeline"].steps() == [2, 4], timeout=10000)
    live = panel.shown()
    with qtbot.waitSignal(win.controller.sigMoment, timeout=5000):
        win.panels["timeline"].select_step(2)
    qtbot.waitUntil(lambda: win.state.moment is not None, timeout=5000)
    recorded = win.state.moment.preferred
    assert recorded is not None and recorded.step <= 2
    assert panel.status.text().startswith(f"step {recorded.step}:")
    assert "step 2" in win.docks["preferred"].windowTitle()
    win.panels["timeline"].go_live()
    qtbot.waitUntil(lambda: panel.status.text().startswith(f"step {panel.shown().step}:"),
                    timeout=5000)
    assert panel.shown().step >= live.step
