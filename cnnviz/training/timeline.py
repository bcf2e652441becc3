"""A scrub-able record of a run: filters, the chosen digit's activations and the confusion
matrix at regular steps, each with a checkpoint on disk to branch from. Memory is bounded."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cnnviz.training.events import (
    ActivationSnapshot,
    Evaluation,
    FilterSnapshot,
    PreferredInputs,
)
from cnnviz.training.history import History


@dataclass(frozen=True)
class TimelineState:
    """What a timeline holds: the recorded steps, the memory they use of the budget (MB), and
    the size of their checkpoints on disk (MB)."""

    steps: tuple
    memory_mb: float
    budget_mb: float
    disk_mb: float = 0.0


@dataclass(frozen=True)
class Moment:
    """One recorded step: the kernels, the chosen digit's activations, an evaluation (on the
    first test digits, for the confusion matrix) or None, the path of its checkpoint, and the
    newest preferred inputs (synthesized at this step or before; None: none yet)."""

    step: int
    epoch: int
    filters: FilterSnapshot
    activations: ActivationSnapshot | None
    evaluation: Evaluation | None
    checkpoint: Path
    preferred: PreferredInputs | None = None

    def arrays(self) -> list:
        """The arrays it holds (moments may share their preferred inputs)."""
        arrays = list(self.filters.filters.values())
        if self.activations is not None:
            arrays += [m for _, m in self.activations.maps] + [self.activations.image]
        if self.evaluation is not None:
            ev = self.evaluation
            arrays += [ev.confusion, ev.predictions, ev.labels, ev.probs]
        if self.preferred is not None:
            p = self.preferred
            arrays += [p.images, p.objective, p.best_index, p.best_objective]
        return arrays

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays())


class Timeline:
    """Moments every `every` steps, kept under `max_mb` of memory (arrays held) by thinning:
    when over budget, every second moment (not the first or newest) is dropped along with its
    checkpoint file, so the record stays spread over the whole run.

    `folder` holds the checkpoints (a private temporary folder by default, removed by close()).
    """

    def __init__(self, every: int = 200, max_mb: float = 64.0, folder=None):
        self.moments: list[Moment] = []
        self.configure(every, max_mb)
        self._own_folder = folder is None
        self.folder = Path(folder or tempfile.mkdtemp(prefix="cnnviz-timeline-"))
        self.folder.mkdir(parents=True, exist_ok=True)

    def configure(self, every: int, max_mb: float) -> None:
        """Record every `every` steps from now on, within `max_mb` (thinning at once)."""
        if every < 1 or not max_mb > 0:
            raise ValueError(f"the timeline needs every >= 1 step and a positive memory budget "
                             f"(got every={every}, {max_mb} MB)")
        self.every, self.max_bytes = int(every), int(max_mb * 2**20)
        self._thin()

    @property
    def nbytes(self) -> int:
        """Memory the moments' arrays take (each shared array once)."""
        arrays = {id(a): a for m in self.moments for a in m.arrays()}
        return sum(a.nbytes for a in arrays.values())

    @property
    def disk_bytes(self) -> int:
        """Size of the moments' checkpoint files."""
        return sum(m.checkpoint.stat().st_size for m in self.moments if m.checkpoint.exists())

    def state(self) -> TimelineState:
        return TimelineState(tuple(m.step for m in self.moments), self.nbytes / 2**20,
                             self.max_bytes / 2**20, self.disk_bytes / 2**20)

    def due(self, step: int) -> bool:
        """Whether `step` should be recorded."""
        return step % self.every == 0 and (not self.moments or self.moments[-1].step != step)

    def record(self, session, activations=None, evaluation: Evaluation | None = None,
               preferred: PreferredInputs | None = None) -> Moment:
        """Snapshot `session` now: its filters, plus the given activations, evaluation and
        preferred inputs."""
        path = self.folder / f"step-{session.step_count:08d}.npz"
        session.save(path)
        moment = Moment(session.step_count, session.epoch, session.filters(), activations,
                        evaluation, path, preferred)
        self.moments = [m for m in self.moments if m.step != moment.step] + [moment]
        self._thin()
        return moment

    def _thin(self):
        while self.nbytes > self.max_bytes and len(self.moments) > 2:
            keep = self.moments[::2]
            if keep[-1] is not self.moments[-1]:
                keep.append(self.moments[-1])
            if len(keep) == len(self.moments):  # two or three left: drop the middle
                keep = [self.moments[0], self.moments[-1]]
            for m in set(map(id, self.moments)) - set(map(id, keep)):
                gone = next(x for x in self.moments if id(x) == m)
                gone.checkpoint.unlink(missing_ok=True)
            self.moments = keep

    def at(self, step: int) -> Moment:
        """The latest moment at or before `step` (the first one when `step` precedes all)."""
        if not self.moments:
            raise LookupError("the timeline is empty: train a few steps first")
        before = [m for m in self.moments if m.step <= step]
        return before[-1] if before else self.moments[0]

    def branch(self, session, moment: Moment) -> History:
        """Restore `moment`'s weights, optimizer state and position into `session`, dropping the
        later moments; returns the history the session had before (to overlay as old curves)."""
        old = session.history.copy()
        session.load(moment.checkpoint)
        for m in [m for m in self.moments if m.step > moment.step]:
            m.checkpoint.unlink(missing_ok=True)
        self.moments = [m for m in self.moments if m.step <= moment.step]
        return old

    def close(self):
        """Delete the checkpoints (and the folder, when the timeline made it)."""
        for m in self.moments:
            m.checkpoint.unlink(missing_ok=True)
        self.moments = []
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
