"""Metric history of a run: tables of float64 rows with named columns. No Qt.

The session appends a row per step and per epoch, checkpoints store the tables as plain
arrays, and the curves panel draws and exports them; all of them read columns by name.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from cnnviz.training.metrics import Smoother

STEP_COLUMNS = ("step", "loss", "accuracy", "lr")
EPOCH_COLUMNS = ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                 "lr", "seconds")
TEST_COLUMNS = ("step", "loss", "accuracy")

# The columns of write_csv, one row per step; epoch and test values sit at their step.
CSV_FIELDS = ("step", "batch_loss", "batch_accuracy", "lr", "smoothed_loss", "epoch",
              "train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds",
              "test_loss", "test_accuracy")


class Table:
    """Rows of float64 values under named columns, appended in amortised O(1) time.

    The rows live in a preallocated (capacity, k) array that doubles when full, so column
    views (`table["loss"]`, shape (n,)) and `rows()` ((n, k)) cost no copy; they stay valid
    until the next append.
    """

    def __init__(self, columns: tuple[str, ...], capacity: int = 64):
        self.columns = tuple(columns)
        self._index = {name: i for i, name in enumerate(self.columns)}
        self._data = np.full((max(capacity, 1), len(self.columns)), np.nan, np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> np.ndarray:
        """(n,) view of column `name` of the filled rows."""
        return self._data[: self._n, self._index[name]]

    def last(self, name: str, default: float = math.nan) -> float:
        """The newest value of column `name`; `default` when the table is empty."""
        return float(self._data[self._n - 1, self._index[name]]) if self._n else default

    def rows(self) -> np.ndarray:
        """(n, k) view of the filled rows, columns in `columns` order."""
        return self._data[: self._n]

    def records(self) -> list[dict[str, float]]:
        """The rows as {column name: value} dicts, oldest first."""
        return [dict(zip(self.columns, r)) for r in self.rows().tolist()]

    def append(self, rows) -> None:
        """Add one row (k,) or many (n, k), values in `columns` order."""
        rows = np.asarray(rows, np.float64).reshape(-1, len(self.columns))
        need = self._n + len(rows)
        if need > len(self._data):
            grown = np.full((max(need, 2 * len(self._data)), len(self.columns)), np.nan)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = rows
        self._n = need

    def clear(self) -> None:
        self._n = 0

    def copy(self) -> Table:
        """An independent table with the same rows."""
        table = Table(self.columns, len(self))
        table.append(self.rows())
        return table


class History:
    """The metrics of a run: `steps` (STEP_COLUMNS, one row per batch), `epochs`
    (EPOCH_COLUMNS, one row per finished epoch) and `tests` (TEST_COLUMNS, one row per test
    evaluation the owner chooses to record; the session records none). Accuracies are 0..1.
    """

    def __init__(self):
        self.steps = Table(STEP_COLUMNS, 1024)
        self.epochs = Table(EPOCH_COLUMNS)
        self.tests = Table(TEST_COLUMNS)

    def _tables(self) -> dict[str, Table]:
        return {"steps": self.steps, "epochs": self.epochs, "tests": self.tests}

    def add_step(self, m) -> None:
        """Append a StepMetrics."""
        self.steps.append(step_rows([m]))

    def add_epoch(self, m) -> None:
        """Append an EpochMetrics."""
        self.epochs.append(epoch_rows([m]))

    def copy(self) -> History:
        """An independent history with the same rows."""
        return History.from_arrays(self.to_arrays())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Copies of the tables as float64 arrays: "steps" (n, 4), "epochs" (m, 8) and
        "tests" (t, 3), as a checkpoint stores them."""
        return {name: table.rows().copy() for name, table in self._tables().items()}

    @classmethod
    def from_arrays(cls, arrays) -> History:
        """The inverse of `to_arrays`. A missing table is empty (checkpoints written before
        test rows were kept have only "steps" and "epochs"); ValueError when an array has the
        wrong number of columns."""
        history = cls()
        for name, table in history._tables().items():
            rows = np.asarray(arrays.get(name, ()), np.float64)
            if rows.size and (rows.ndim != 2 or rows.shape[1] != len(table.columns)):
                raise ValueError(f"history/{name} has shape {rows.shape}, expected "
                                 f"(n, {len(table.columns)})")
            table.append(rows)
        return history

    def write_csv(self, path, smoothing: float = 0.9) -> Path:
        """Write one row per training step, plus rows for epoch ends and evaluations at other
        steps, with CSV_FIELDS as header; epoch and test values are filled at the step where
        they happened, missing or NaN values are empty. smoothed_loss is `ema` of the batch
        loss with weight `smoothing`."""
        path = Path(path)
        by_step: dict[int, dict] = {}
        for r, sloss in zip(self.steps.records(), ema(self.steps["loss"], smoothing).tolist()):
            by_step[int(r["step"])] = {"step": int(r["step"]), "batch_loss": r["loss"],
                                       "batch_accuracy": r["accuracy"], "lr": r["lr"],
                                       "smoothed_loss": sloss}
        for r in self.epochs.records():
            row = by_step.setdefault(int(r["step"]), {"step": int(r["step"])})
            row.update(epoch=int(r["epoch"]) + 1, train_loss=r["train_loss"],
                       train_accuracy=r["train_accuracy"], val_loss=r["val_loss"],
                       val_accuracy=r["val_accuracy"], epoch_seconds=r["seconds"])
        for r in self.tests.records():
            row = by_step.setdefault(int(r["step"]), {"step": int(r["step"])})
            row.update(test_loss=r["loss"], test_accuracy=r["accuracy"])
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, CSV_FIELDS)
            w.writeheader()
            for step in sorted(by_step):
                w.writerow({k: (_fmt(v) if isinstance(v, float) else v)
                            for k, v in by_step[step].items()})
        return path


def step_rows(events) -> np.ndarray:
    """StepMetrics as (n, 4) float64 rows in STEP_COLUMNS order."""
    return _rows(events, STEP_COLUMNS)


def epoch_rows(events) -> np.ndarray:
    """EpochMetrics as (n, 8) float64 rows in EPOCH_COLUMNS order."""
    return _rows(events, EPOCH_COLUMNS)


def _rows(events, columns) -> np.ndarray:
    """The events' attributes named `columns`, as (n, len(columns)) float64."""
    return np.array([[getattr(m, name) for name in columns] for m in events],
                    np.float64).reshape(-1, len(columns))


def ema(values, weight: float) -> np.ndarray:
    """(n,) TensorBoard-style debiased exponential moving average of (n,) `values`, as
    metrics.Smoother computes it one value at a time."""
    s = Smoother(weight)
    return np.fromiter((s.update(v) for v in np.asarray(values, np.float64)), np.float64,
                       count=len(values))


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.6g}"
