"""Checkpoints: one .npz file holding spec, config, weights, buffers, optimizer state, position,
RNG state and metric history. Read without pickle; written to a temporary file, then renamed."""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cnnviz.backend import BACKEND_NAMES
from cnnviz.core.model import SpecError, build_model, resolve_spec
from cnnviz.data.loader import MNIST_MEAN, MNIST_STD
from cnnviz.training.config import TrainConfig
from cnnviz.training.history import History

FORMAT = "cnnviz-checkpoint"
VERSION = 1
#: The meta entries and their JSON types; the last two are absent from older checkpoints.
META_TYPES = {"config": dict, "spec": list, "input_shape": list, "step": int, "batches": dict,
              "optimizer": dict, "rng": dict, "class_names": list, "cycle_start": int,
              "norm": list}
OPTIONAL_META = ("cycle_start", "norm")
# How much a member may grow when unpacked: stored 1x, deflate at most about 1032x.
MAX_RATIO = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the session."""


def save_checkpoint(session, path) -> Path:
    """Write `session` to `path` atomically: into `.NAME.*.tmp` beside it, flushed to disk,
    then renamed over it, so a crash mid-write leaves the old file intact. The next save to
    the same path removes the temporary files that killed writes left behind."""
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def read_checkpoint(path) -> tuple[dict, dict]:
    """(meta, arrays) of a checkpoint file; CheckpointError names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with loaded as z:
            _check_members(z.zip)
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, RecursionError, zipfile.BadZipFile,
            zlib.error, TypeError, tokenize.TokenError) as exc:
        # numpy's .npy header parser raises TypeError or TokenError for some damaged headers.
        # numpy takes any file that is neither .npy nor a zip for pickled data and suggests
        # loading it unsafely: never advice to pass on
        why = ("not an .npz archive" if "pickle" in str(exc)
               else f"{exc.__class__.__name__}: {exc}")
        raise CheckpointError(
            f"{path}: not a readable cnnviz checkpoint ({why}); "
            "the file is damaged or of another kind, save a new one") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get(
            "version") != VERSION:
        raise CheckpointError(f"{path}: not a cnnviz checkpoint of version {VERSION}")
    problem = _meta_problem(meta)
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint: {problem}; save a new one")
    return meta, arrays


def _check_members(zf: zipfile.ZipFile) -> None:
    """ValueError unless every member is a plain .npy array of real numbers whose header
    declares no more data than the member holds (numpy allocates that size before reading)."""
    for info in zf.infolist():
        ratio = MAX_RATIO.get(info.compress_type)
        if ratio is None or info.flag_bits & 1:
            raise ValueError(f"member {info.filename} is encrypted or packed in an unknown way")
        if info.file_size > info.compress_size * ratio:
            raise ValueError(f"member {info.filename} claims {info.file_size} bytes unpacked "
                             f"from {info.compress_size}")
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in _NPY_HEADERS:
                raise ValueError(f"member {info.filename}: .npy version {version} not supported")
            shape, _, dtype = _NPY_HEADERS[version](f)
            if dtype.kind not in "biuf":
                raise ValueError(f"member {info.filename} holds {dtype}, not real numbers")
            need, left = math.prod(shape) * dtype.itemsize, info.file_size - f.tell()
            if need > left:
                raise ValueError(f"member {info.filename} declares a {dtype} array of shape "
                                 f"{shape} ({need} bytes) but holds {left} bytes")


def _is(value, kind) -> bool:
    """isinstance for JSON values: a bool is no number, an int is a float too."""
    if isinstance(value, bool):
        return kind in (bool, object)
    return isinstance(value, (int, float) if kind is float else kind)


def _config_problem(config: dict) -> str | None:
    """What is wrong with a saved TrainConfig dict (types, then TrainConfig.validate)."""
    kinds = {"str": str, "int": int, "float": float, "list": list, "dict": dict,
             "None": type(None)}  # any other annotation takes any value
    for f in dataclasses.fields(TrainConfig):
        value = config.get(f.name)
        allowed = [kinds.get(t.split("[")[0], object) for t in str(f.type).split(" | ")]
        if f.name in config and not any(_is(value, kind) for kind in allowed):
            return f"setting {f.name} is {value!r:.40}, not {f.type}"
    if config.get("backend", "numpy") not in BACKEND_NAMES:
        return f"unknown backend {config['backend']!r}"
    try:
        TrainConfig.from_dict(config).validate()
    except ValueError as exc:
        return str(exc)
    return None


def _meta_problem(meta: dict) -> str | None:
    """What is wrong with a checkpoint's meta (missing keys, wrong types, a spec that does
    not build), or None. Completes meta["spec"] in place (resolve_spec)."""
    for key, kind in META_TYPES.items():
        if key not in meta and key not in OPTIONAL_META:
            return f"no {key!r} entry"
        if key in meta and not _is(meta[key], kind):
            return f"{key!r} is {meta[key]!r:.40}, not a {kind.__name__}"
    shape, names = meta["input_shape"], meta["class_names"]
    if len(shape) != 3 or not all(_is(v, int) and v > 0 for v in shape):
        return f"input_shape {shape!r:.40} is not (channels, height, width)"
    if not names or not all(isinstance(n, str) for n in names):
        return f"class_names {names!r:.40} are not a list of names"
    norm = stored_norm(meta)
    if len(norm) != 2 or not all(isinstance(v, list) and len(v) in (1, shape[0])
                                 and all(_is(x, float) for x in v) for v in norm):
        return f"norm {norm!r:.40} is not [means, stds] with one value per channel"
    opt = meta["optimizer"]
    if not (isinstance(opt.get("kind"), str) and _is(opt.get("t"), int)
            and isinstance(opt.get("hyper"), dict)):
        return f"optimizer {opt!r:.60} is not {{kind, t, hyper}}"
    if not all(_is(v, int) or _is(v, bool) for v in meta["batches"].values()):
        return f"batches {meta['batches']!r:.60} is not a dict of numbers"
    if min(meta["step"], meta.get("cycle_start", 0), opt["t"]) < 0:
        return "a negative step count"
    problem = _config_problem(meta["config"])
    if problem:
        return problem
    try:
        meta["spec"], shapes = resolve_spec(meta["spec"], tuple(shape))
    except SpecError as exc:
        return f"its architecture does not build: {exc}"
    if shapes[-1] != (len(names),):
        return f"the model outputs {shapes[-1][0]} scores for {len(names)} classes"
    return None


def _part(arrays: dict, prefix: str) -> dict:
    """The arrays saved under `prefix` ("model/", "optim/", "history/"), without it."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def stored_norm(meta: dict) -> list:
    """[means, stds] a checkpoint's inputs were normalised with (one value per channel);
    checkpoints from before the norm was stored were all trained on MNIST."""
    return meta.get("norm", [[MNIST_MEAN], [MNIST_STD]])


def checkpoint_model(path):
    """(model in eval mode, norm [means, stds], class names) of a checkpoint, without its
    data, optimizer or history."""
    meta, arrays = read_checkpoint(path)
    model = build_model(meta["spec"], tuple(meta["input_shape"])).eval()
    try:
        model.load_state_dict(_part(arrays, "model/"))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return model, stored_norm(meta), meta["class_names"]


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
    opt, own = meta["optimizer"], session.optimizer.hyper()
    bad = [k for k, v in opt["hyper"].items() if k not in own or not _is(v, type(own[k]))]
    if bad:
        raise CheckpointError(f"{path}: damaged checkpoint: optimizer settings {bad} do not "
                              f"fit {opt['kind']}; save a new one")
    try:
        session.model.load_state_dict(_part(arrays, "model/"))
        session.optimizer.load_state_dict({
            **opt, "state": _part(arrays, "optim/")})
        session.batches.load_state_dict(meta["batches"])
        session.history = History.from_arrays(_part(arrays, "history/"))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (KeyError, TypeError) as exc:  # e.g. a batch state without its epoch
        raise CheckpointError(f"{path}: damaged checkpoint ({exc.__class__.__name__}: {exc}); "
                              "save a new one") from None
    try:
        session.model.set_rng_state(meta["rng"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{path}: damaged checkpoint: its dropout RNG state does not load "
                              f"({exc.__class__.__name__}: {exc}); save a new one") from None
    session.step_count = int(meta["step"])
    session.cycle_start = int(meta.get("cycle_start", 0))  # absent before extensions existed
    saved = TrainConfig.from_dict(meta["config"])
    session.config.lr, session.config.momentum = float(saved.lr), float(saved.momentum)
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
    norm = stored_norm(meta)
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
