"""The metric history: growing tables with named columns, copies, CSV export and the arrays a
checkpoint stores."""

import csv
import math

import numpy as np
import pytest

from cnnviz.training.events import EpochMetrics, StepMetrics
from cnnviz.training.history import (
    CSV_FIELDS,
    EPOCH_COLUMNS,
    STEP_COLUMNS,
    TEST_COLUMNS,
    History,
    Table,
    ema,
    epoch_rows,
    step_rows,
)


def step(i, loss=1.0, acc=0.5, lr=0.01):
    return StepMetrics(i, 0, i, loss, acc, lr, 0.9, 1000.0)


def epoch(e, at, val_loss=0.4, val_acc=0.9):
    return EpochMetrics(e, at, 0.5, 0.8, val_loss, val_acc, 0.01, 2.5)


def sample_history(n=10, epoch_every=4):
    """n steps with falling loss, an epoch end every `epoch_every` steps (the first without a
    validation) and two test evaluations, one of them between epoch ends."""
    h = History()
    for i in range(1, n + 1):
        h.add_step(step(i, loss=2.0 / i, acc=i / n, lr=0.1 * 0.9**i))
        if i % epoch_every == 0:
            e = i // epoch_every - 1
            h.add_epoch(epoch(e, i, math.nan if e == 0 else 0.3, math.nan if e == 0 else 0.95))
    h.tests.append([(4, 0.6, 0.81), (6, 0.55, 0.83)])
    return h


def test_table_grows_past_its_capacity_and_keeps_every_row():
    t = Table(("a", "b"), capacity=2)
    for i in range(5):
        t.append((i, 10 * i))
    t.append([(5, 50), (6, 60), (7, 70)])
    assert len(t) == 8 and t.rows().shape == (8, 2)
    np.testing.assert_array_equal(t["a"], np.arange(8))
    np.testing.assert_array_equal(t["b"], 10 * np.arange(8))
    assert t.last("b") == 70.0


def test_table_columns_are_views_read_by_name():
    t = Table(STEP_COLUMNS)
    t.append([(1, 2.5, 0.25, 0.1), (2, 2.0, 0.5, 0.1)])
    assert t["loss"].base is not None  # a view, not a copy
    np.testing.assert_array_equal(t["accuracy"], [0.25, 0.5])
    assert t.columns == ("step", "loss", "accuracy", "lr")
    with pytest.raises(KeyError):
        t["val_accuracy"]
    with pytest.raises(ValueError):
        t.append((1, 2, 3))  # three values in a four-column table


def test_empty_table_last_is_the_default_and_clear_empties():
    t = Table(EPOCH_COLUMNS)
    assert math.isnan(t.last("val_accuracy")) and t.last("step", -1.0) == -1.0
    assert t.rows().shape == (0, 8) and len(t["step"]) == 0
    t.append(np.arange(8))
    assert t.last("seconds") == 7.0
    t.clear()
    assert len(t) == 0 and t.last("step", 0.0) == 0.0


def test_copies_are_independent():
    t = Table(TEST_COLUMNS)
    t.append((1, 0.5, 0.9))
    c = t.copy()
    c.append((2, 0.4, 0.95))
    c["loss"][0] = 99.0
    assert len(t) == 1 and t.last("loss") == 0.5
    h = sample_history()
    k = h.copy()
    k.add_step(step(11))
    k.epochs.clear()
    k.tests["accuracy"][0] = 0.0
    assert (len(h.steps), len(h.epochs), len(h.tests)) == (10, 2, 2)
    assert h.tests["accuracy"][0] == 0.81


def test_events_become_rows_in_column_order():
    s = [step(1, 2.0, 0.1, 0.01), step(2, 1.5, 0.2, 0.005)]
    np.testing.assert_array_equal(step_rows(s), [(1, 2.0, 0.1, 0.01), (2, 1.5, 0.2, 0.005)])
    e = EpochMetrics(epoch=3, step=40, train_loss=0.5, train_accuracy=0.8, val_loss=0.4,
                     val_accuracy=0.9, lr=0.01, seconds=2.5)
    assert epoch_rows([e]).tolist() == [[3, 40, 0.5, 0.8, 0.4, 0.9, 0.01, 2.5]]
    assert step_rows([]).shape == (0, 4) and epoch_rows([]).shape == (0, 8)
    assert step_rows(s).dtype == np.float64
    h = History()
    h.add_step(s[0])
    h.add_epoch(e)
    assert h.steps["loss"].tolist() == [2.0] and h.epochs["val_accuracy"].tolist() == [0.9]


def test_arrays_round_trip_and_the_old_layout_loads():
    h = sample_history()
    arrays = h.to_arrays()
    assert {k: v.shape for k, v in arrays.items()} == {
        "steps": (10, 4), "epochs": (2, 8), "tests": (2, 3)}
    arrays["steps"][0, 1] = 99.0  # copies: the history is untouched
    assert h.steps["loss"][0] == 2.0
    back = History.from_arrays(h.to_arrays())
    for name, rows in h.to_arrays().items():
        np.testing.assert_array_equal(back.to_arrays()[name], rows)
    # checkpoints written before test rows were kept: (n, 4) steps and (m, 8) epochs only
    old = History.from_arrays({"steps": h.steps.rows(), "epochs": h.epochs.rows()})
    np.testing.assert_array_equal(old.steps.rows(), h.steps.rows())
    np.testing.assert_array_equal(old.epochs.rows(), h.epochs.rows())
    assert len(old.tests) == 0
    empty = History.from_arrays({"steps": np.zeros((0, 4)), "epochs": np.zeros((0, 8))})
    assert len(empty.steps) == len(empty.epochs) == 0
    with pytest.raises(ValueError, match="history/epochs has shape"):
        History.from_arrays({"steps": h.steps.rows(), "epochs": h.steps.rows()})


def test_csv_has_a_row_per_step_with_epoch_and_test_values_at_their_step(tmp_path):
    h = sample_history()
    h.tests.append((12, 0.5, 0.85))  # after the last training step: a row of its own
    path = h.write_csv(tmp_path / "metrics.csv", smoothing=0.6)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == CSV_FIELDS == (
        "step", "batch_loss", "batch_accuracy", "lr", "smoothed_loss", "epoch", "train_loss",
        "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds", "test_loss",
        "test_accuracy")
    assert [int(r["step"]) for r in rows] == list(range(1, 11)) + [12]
    smoothed = ema(h.steps["loss"], 0.6)
    for r, (_, loss, acc, lr), s in zip(rows, h.steps.rows(), smoothed):
        assert float(r["batch_loss"]) == pytest.approx(loss, rel=1e-5)
        assert float(r["batch_accuracy"]) == pytest.approx(acc, rel=1e-5)
        assert float(r["lr"]) == pytest.approx(lr, rel=1e-5)
        assert float(r["smoothed_loss"]) == pytest.approx(s, rel=1e-5)
    by_step = {int(r["step"]): r for r in rows}
    # epoch 1 (0-based 0) ended at step 4 without a validation: its val columns are empty
    assert by_step[4]["epoch"] == "1" and by_step[4]["val_loss"] == ""
    assert by_step[4]["train_loss"] == "0.5" and by_step[4]["epoch_seconds"] == "2.5"
    assert by_step[8]["epoch"] == "2" and by_step[8]["val_accuracy"] == "0.95"
    assert by_step[6]["epoch"] == "" and by_step[6]["test_accuracy"] == "0.83"
    assert by_step[4]["test_loss"] == "0.6"
    assert by_step[12]["batch_loss"] == "" and by_step[12]["test_accuracy"] == "0.85"
    assert by_step[1]["test_loss"] == "" and by_step[1]["epoch"] == ""


def test_ema_is_the_debiased_moving_average():
    np.testing.assert_allclose(ema([1.0, 1.0, 1.0], 0.9), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(ema([0.0, 1.0], 0.5), [0.0, 0.5 / (1 - 0.5**2)])
    np.testing.assert_array_equal(ema([3.0, 1.0, 2.0], 0.0), [3.0, 1.0, 2.0])
    assert ema([], 0.9).shape == (0,)


def test_records_name_every_value():
    h = sample_history(4, epoch_every=2)
    assert h.steps.records()[1] == {"step": 2.0, "loss": 1.0, "accuracy": 0.5,
                                    "lr": pytest.approx(0.081)}
    assert [r["epoch"] for r in h.epochs.records()] == [0.0, 1.0]
    assert Table(TEST_COLUMNS).records() == []
