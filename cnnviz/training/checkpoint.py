"""Checkpoints: one .npz file holding spec, config, weights, buffers, optimizer state, position,
RNG state and metric history. Read without pickle; written to a temporary file, then renamed."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cnnviz.data.loader import MNIST_MEAN, MNIST_STD
from cnnviz.training.history import History

FORMAT = "cnnviz-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the session."""


def save_checkpoint(session, path) -> Path:
    """Write `session` to `path` atomically (a crash mid-write leaves the old file intact)."""
    path = Path(path)
    opt = session.optimizer.state_dict()
    meta = {
        "format": FORMAT, "version": VERSION, "config": session.config.to_dict(),
        "spec": session.model.spec, "input_shape": list(session.model.input_shape),
        "step": session.step_count, "cycle_start": session.cycle_start,
        "batches": session.batches.state_dict(),
        "optimizer": {"kind": opt["kind"], "t": opt["t"], "hyper": opt["hyper"]},
        "rng": session.model.rng_state(), "class_names": list(session.class_names),
        "norm": [list(session.norm[0]), list(session.norm[1])],
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    arrays.update({f"model/{k}": v for k, v in session.model.state_dict().items()})
    arrays.update({f"optim/{k}": v for k, v in opt["state"].items()})
    arrays.update({f"history/{k}": v for k, v in session.history.to_arrays().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path) -> tuple[dict, dict]:
    """(meta, arrays) of a checkpoint file; CheckpointError names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        # numpy takes any file that is neither .npy nor a zip for pickled data and suggests
        # loading it unsafely: never advice to pass on
        why = ("not an .npz archive" if "pickle" in str(exc)
               else f"{exc.__class__.__name__}: {exc}")
        raise CheckpointError(
            f"{path}: not a readable cnnviz checkpoint ({why}); "
            "the file is damaged or of another kind, save a new one") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a cnnviz checkpoint of version {VERSION}")
    return meta, arrays


def load_checkpoint(session, path) -> None:
    """Restore a checkpoint into `session`, whose model must have the same spec."""
    meta, arrays = read_checkpoint(path)
    problems = data_mismatch(meta, session)
    if problems:
        raise CheckpointError(
            f"{path}: the checkpoint was trained on other data than this session's: "
            f"{'; '.join(problems)}; open it with the data it was trained on")
    if meta["spec"] != session.model.spec:
        raise CheckpointError(
            f"{path}: the checkpoint is for another architecture "
            f"({describe(meta['spec'])}) than this session's ({describe(session.model.spec)}); "
            "open it with its own architecture (TrainingSession.from_checkpoint, or the app's "
            "Open checkpoint) instead")
    try:
        session.model.load_state_dict(
            {k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
        opt = meta["optimizer"]
        session.optimizer.load_state_dict({
            **opt, "state": {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}})
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    session.model.set_rng_state(meta["rng"])
    try:
        session.batches.load_state_dict(meta["batches"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    session.step_count = int(meta["step"])
    session.cycle_start = int(meta.get("cycle_start", 0))  # absent before extensions existed
    session.config.lr = float(meta["config"]["lr"])
    session.config.momentum = float(meta["config"]["momentum"])
    try:
        session.history = History.from_arrays(
            {k[8:]: v for k, v in arrays.items() if k.startswith("history/")})
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    _restore_epoch_sums(session)


def data_mismatch(meta: dict, session) -> list[str]:
    """What differs between the data a checkpoint was trained on and the session's: input
    shape, class names, normalisation (mean and std per channel). Checkpoints from before
    the normalisation was stored were all trained on MNIST's."""
    problems = []
    shape, here = tuple(meta["input_shape"]), tuple(session.splits["train"][0].shape[1:])
    if shape != here:
        problems.append(f"input {shape} here {here}")
    if list(meta["class_names"]) != list(session.class_names):
        problems.append(f"classes {', '.join(meta['class_names'])} here "
                        f"{', '.join(session.class_names)}")
    norm = meta.get("norm", [[MNIST_MEAN], [MNIST_STD]])
    if not np.allclose(np.asarray(norm, float), np.asarray(session.norm, float), atol=1e-6):
        problems.append(f"normalised with mean {_fmt(norm[0])}, std {_fmt(norm[1])} here mean "
                        f"{_fmt(session.norm[0])}, std {_fmt(session.norm[1])}")
    return problems


def _fmt(values) -> str:
    return "/".join(f"{v:.4f}" for v in values)


def _restore_epoch_sums(session):
    """Recompute the running means of the current epoch from the step history."""
    steps = session.history.steps
    first = max(len(steps) - session.position, 0)
    loss, acc = steps["loss"][first:].tolist(), steps["accuracy"][first:].tolist()
    bs = session.config.batch_size
    session._epoch_sums = [sum(loss) * bs, sum(acc) * bs, len(loss) * bs]


def describe(spec) -> str:
    """A short one-line description of a spec: 'Conv2D(1->32, k3) BatchNorm2D ...'."""
    parts = []
    for e in spec:
        if e["type"] == "Conv2D":
            parts.append(f"Conv2D({e['in_channels']}->{e['out_channels']}, k{e['kernel_size']})")
        elif e["type"] == "Dense":
            parts.append(f"Dense({e['in_features']}->{e['out_features']})")
        else:
            parts.append(e["type"])
    return " ".join(parts)
