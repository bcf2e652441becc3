"""The timeline: regular snapshots under a memory bound, and exact branching."""

import numpy as np
import pytest

from cnnviz.training.timeline import Timeline
from tests.training.test_session import assert_same_state, make_session, run_state


def test_records_are_bounded_in_memory_and_on_disk(tmp_path):
    s = make_session()
    act = s.activations(0)
    tl = Timeline(every=1, max_mb=0.001, folder=tmp_path)  # room for a few moments only
    per_moment = None
    for _ in range(24):
        s.step()
        m = tl.record(s, act, s.evaluate("test"))
        per_moment = per_moment or m.nbytes
        assert tl.nbytes <= max(tl.max_bytes, 2 * per_moment)
    steps = [m.step for m in tl.moments]
    assert steps[0] == 1 and steps[-1] == 24 and len(steps) >= 2
    assert steps == sorted(steps)
    assert sorted(p.name for p in tmp_path.iterdir()) == [m.checkpoint.name for m in tl.moments]


def test_due_and_lookup():
    tl = Timeline(every=5)
    try:
        assert tl.due(10) and not tl.due(11)
        with pytest.raises(LookupError, match="empty"):
            tl.at(3)
        s = make_session()
        for _ in range(10):
            s.step()
            if tl.due(s.step_count):
                tl.record(s)
        assert [m.step for m in tl.moments] == [5, 10]
        assert tl.at(7).step == 5 and tl.at(100).step == 10 and tl.at(1).step == 5
        assert tl.moments[0].filters.filters["0.Conv2D"].shape == (4, 1, 3, 3)
    finally:
        tl.close()
    assert not tl.folder.exists()


def test_branch_restores_exactly_the_snapshot_weights(tmp_path):
    s = make_session()
    tl = Timeline(every=3, folder=tmp_path)
    saved = {}
    for _ in range(9):
        s.step()
        if tl.due(s.step_count):
            tl.record(s)
            saved[s.step_count] = run_state(s)
    old = tl.branch(s, tl.at(4))
    assert s.step_count == 3 and len(old.steps) == 9 and len(s.history.steps) == 3
    np.testing.assert_array_equal(old.steps["step"], np.arange(1, 10))
    np.testing.assert_array_equal(s.history.steps.rows(), old.steps.rows()[:3])
    assert saved[3][1]["state"] and saved[3][1]["t"] == 3  # Adam: slots to restore
    assert_same_state(run_state(s), saved[3])
    assert [m.step for m in tl.moments] == [3]
    # Training on from the branch with the same settings retraces the original run, bitwise:
    # the same losses step by step, the same weights and optimizer slots at steps 6 and 9.
    for _ in range(6):
        s.step()
        if s.step_count in saved:
            assert_same_state(run_state(s), saved[s.step_count])
    assert s.step_count == 9
    np.testing.assert_array_equal(s.history.steps.rows(), old.steps.rows())


def test_settings_are_checked_and_a_smaller_budget_thins_at_once(tmp_path):
    with pytest.raises(ValueError, match="every >= 1 step"):
        Timeline(every=0)
    s = make_session()
    tl = Timeline(every=1, folder=tmp_path)
    for _ in range(8):
        s.step()
        tl.record(s, s.activations(0), s.evaluate("test", limit=50, emit=False))
    assert len(tl.moments) == 8 and tl.moments[0].evaluation.confusion.sum() == 50
    tl.configure(4, tl.nbytes / 3 / 2**20)
    assert tl.every == 4 and tl.nbytes <= tl.max_bytes and tl.moments[0].step == 1
    assert len(list(tmp_path.iterdir())) == len(tl.moments) < 8
    with pytest.raises(ValueError, match="positive memory budget"):
        tl.configure(5, 0)
