"""Checkpoints: exact resume, atomic writes, and clear errors for wrong or damaged files."""

import numpy as np
import pytest

from cnnviz.training import TrainingSession
from cnnviz.training.checkpoint import CheckpointError, read_checkpoint
from tests.training.test_session import SMALL_SPEC, make_session


def _same_state(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k
    oa, ob = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert oa["t"] == ob["t"] and oa["state"].keys() == ob["state"].keys()
    for k in oa["state"]:
        assert np.array_equal(oa["state"][k], ob["state"][k]), k


@pytest.mark.parametrize("n, m", [(3, 4), (7, 6)])  # within an epoch, and across its end
def test_resume_is_bitwise_exact(tmp_path, n, m):
    straight = make_session()
    for _ in range(n + m):
        straight.step()
    first = make_session()
    for _ in range(n):
        first.step()
    path = tmp_path / "run.npz"
    first.save(path)
    resumed = make_session()
    resumed.load(path)
    assert (resumed.step_count, resumed.epoch, resumed.position) == (
        first.step_count, first.epoch, first.position)
    for _ in range(m):
        resumed.step()
    _same_state(straight, resumed)
    np.testing.assert_array_equal(resumed.history.steps.rows(), straight.history.steps.rows())
    # Epoch rows match but for their wall-clock seconds (the last column).
    np.testing.assert_array_equal(resumed.history.epochs.rows()[:, :-1],
                                  straight.history.epochs.rows()[:, :-1])
    assert len(resumed.history.epochs) == (n + m) // first.steps_per_epoch


def test_from_checkpoint_rebuilds_spec_and_config(tmp_path):
    s = make_session(optimizer="rmsprop", lr=2e-3)
    for _ in range(2):
        s.step()
    s.save(tmp_path / "c.npz")
    r = TrainingSession.from_checkpoint(tmp_path / "c.npz", s.dataset)
    assert r.config.optimizer == "rmsprop" and r.config.lr == pytest.approx(2e-3)
    assert r.model.spec == s.model.spec and r.step_count == 2
    _same_state(s, r)


def test_save_leaves_no_temporary_files(tmp_path):
    s = make_session()
    s.step()
    s.save(tmp_path / "c.npz")
    s.save(tmp_path / "c.npz")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_checkpoint_for_another_architecture_is_refused(tmp_path):
    s = make_session()
    s.save(tmp_path / "c.npz")
    other = make_session(spec=None, arch="lenet5")
    with pytest.raises(CheckpointError, match="another architecture"):
        other.load(tmp_path / "c.npz")


def test_damaged_and_foreign_files_give_clear_errors(tmp_path):
    s = make_session()
    s.save(tmp_path / "c.npz")
    data = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.npz.*damaged"):
        read_checkpoint(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="text.npz.*not an .npz archive") as info:
        read_checkpoint(tmp_path / "text.npz")
    assert "allow_pickle" not in str(info.value)  # numpy's advice to load it unsafely
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="plain.npz"):
        read_checkpoint(tmp_path / "plain.npz")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.npz")


def test_checkpoint_is_loaded_without_pickle(tmp_path, monkeypatch):
    s = make_session()
    s.save(tmp_path / "c.npz")
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    read_checkpoint(tmp_path / "c.npz")
    assert calls == [False]


def test_spec_is_kept(tmp_path):
    s = make_session()
    s.save(tmp_path / "c.npz")
    meta, _ = read_checkpoint(tmp_path / "c.npz")
    assert [e["type"] for e in meta["spec"]] == [e["type"] for e in SMALL_SPEC]


def _rewrite(path, **changes):
    """Rewrite a checkpoint with some arrays replaced (None: removed)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(path, **arrays)


def test_history_round_trips_and_checkpoints_without_test_rows_load(tmp_path):
    s = make_session()
    for _ in range(9):  # past the end of the first epoch
        s.step()
    s.history.tests.append((9, 0.5, 0.75))
    s.save(tmp_path / "c.npz")
    r = make_session()
    r.load(tmp_path / "c.npz")
    for name, rows in s.history.to_arrays().items():
        np.testing.assert_array_equal(r.history.to_arrays()[name], rows)
    # the layout written before test rows were kept: history/steps (n, 4), /epochs (m, 8)
    _rewrite(tmp_path / "c.npz", **{"history/tests": None})
    _, arrays = read_checkpoint(tmp_path / "c.npz")
    assert sorted(k for k in arrays if k.startswith("history/")) == [
        "history/epochs", "history/steps"]
    old = make_session()
    old.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(old.history.steps.rows(), s.history.steps.rows())
    np.testing.assert_array_equal(old.history.epochs.rows(), s.history.epochs.rows())
    assert (len(old.history.steps), len(old.history.epochs), len(old.history.tests)) == (9, 1, 0)
    # the running means of the epoch in progress come back from the step rows
    assert old._epoch_sums == s._epoch_sums


def test_history_of_the_wrong_shape_is_a_checkpoint_error(tmp_path):
    s = make_session()
    s.step()
    s.save(tmp_path / "c.npz")
    _rewrite(tmp_path / "c.npz", **{"history/steps": np.zeros((1, 3))})
    with pytest.raises(CheckpointError, match="c.npz.*history/steps.*expected"):
        make_session().load(tmp_path / "c.npz")
