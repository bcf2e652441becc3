"""Checkpoint writes survive SIGKILL: a process killed while saving over a checkpoint leaves
the old file or the complete new one at the path, never a partial file; the temporary file
it leaves behind is removed by the next save."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainingSession
from cnnviz.training.checkpoint import read_checkpoint

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX only")

# Saves a ~20 MB checkpoint (a 784 -> 2048 -> 10 MLP with Adam's moments) to argv[1] again and
# again, one step count higher each time, printing "saving N" before and "saved N SECONDS"
# after. argv[2]: "loop"; "once" (one save, then exit); "array" or "fsync": on the second
# save, print "paused" and sleep in the middle of writing the third array, or once the
# temporary file is written but before it is flushed and renamed.
SAVER = r"""
import os, sys, time
import numpy as np
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession

path, mode = sys.argv[1], sys.argv[2]
spec = [{"type": "Flatten"}, {"type": "Dense", "out_features": 2048}, {"type": "ReLU"},
        {"type": "Dense", "out_features": 10}]
config = TrainConfig(spec=spec, batch_size=8, val_size=0, backend="numpy")
session = TrainingSession(config, synthetic_dataset(16, 8))
session.step()

def pause(real, after):
    calls = []
    def paused(*args, **kwargs):
        calls.extend([1] if session.step_count == 3 else [])
        if len(calls) == after:
            print("paused", flush=True)
            time.sleep(60)
        return real(*args, **kwargs)
    return paused

if mode == "array":
    np.lib.format.write_array = pause(np.lib.format.write_array, after=3)
elif mode == "fsync":
    os.fsync = pause(os.fsync, after=1)
while True:
    session.step_count += 1
    start = time.perf_counter()
    print("saving", session.step_count, flush=True)
    session.save(path)
    print("saved", session.step_count, time.perf_counter() - start, flush=True)
    if mode == "once":
        break
"""
DATA = synthetic_dataset(16, 8)


@pytest.fixture
def saver():
    """saver(path, mode): a running SAVER process; any still running at the end is killed."""
    procs = []

    def start(path, mode):
        procs.append(subprocess.Popen([sys.executable, "-c", SAVER, str(path), mode],
                                      stdout=subprocess.PIPE, text=True))
        return procs[-1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def _temporaries(path):
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def _step_at(path) -> int:
    """The step of the checkpoint at ``path``, after checking that it loads whole."""
    meta, _ = read_checkpoint(path)
    session = TrainingSession.from_checkpoint(path, DATA)
    assert session.step_count == meta["step"]
    return meta["step"]


@pytest.mark.parametrize("where", ["array", "fsync"])
def test_kill_mid_write_keeps_the_old_checkpoint(tmp_path, saver, where):
    """Killed halfway through writing the temporary file, or after writing it but before the
    rename: the path still holds the first save, the partial temporary file lies beside it."""
    path = tmp_path / "run.npz"
    proc = saver(path, where)
    lines = [proc.stdout.readline().split()[0] for _ in range(4)]
    assert lines == ["saving", "saved", "saving", "paused"]
    size = _temporaries(path)[0].stat().st_size
    _kill(proc)
    assert _step_at(path) == 2
    assert len(_temporaries(path)) == 1 and size <= path.stat().st_size


def test_killed_at_random_moments_then_saved_again(tmp_path, saver):
    """Killed at random moments of a save over an existing checkpoint (three times): the path
    holds the last complete save or the one being written; the next save removes the
    temporary files the killed ones left."""
    path = tmp_path / "run.npz"
    rng = random.Random(0)
    for _ in range(3):
        proc = saver(path, "loop")
        done, seconds = [], 0.0
        for line in proc.stdout:
            word, step, *rest = line.split()
            if word == "saved":
                done.append(int(step))
                seconds = float(rest[0])
            elif len(done) >= 2:  # "saving" over a complete file
                time.sleep(rng.uniform(0.0, seconds))
                break
        _kill(proc)
        assert _step_at(path) in (done[-1], done[-1] + 1)
    assert saver(path, "once").wait(timeout=30) == 0
    assert _temporaries(path) == [] and _step_at(path) == 2
