"""Fuzzing checkpoints: random bytes, damaged archives, and valid .npz files whose meta JSON
or arrays were changed (wrong types, missing or extra keys, wrong shapes and dtypes).

Opening one (TrainingSession.from_checkpoint, the path of the CLI's --load and the app's
Open checkpoint) either restores the saved state, after which training goes on, or raises
CheckpointError; never another exception, nor an allocation of what an array header claims.
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training.checkpoint import CheckpointError, read_checkpoint
from tests.fuzz.strategies import examples, json_trees, mutated
from tests.specs import bn_cnn

DATA = synthetic_dataset(120, 30)


def _saved() -> tuple[bytes, dict[str, np.ndarray]]:
    """A small session's checkpoint after 3 steps: its bytes and its arrays."""
    config = TrainConfig(spec=bn_cnn(), batch_size=16, epochs=2, val_size=20, seed=1)
    session = TrainingSession(config, DATA)
    for _ in range(3):
        session.step()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.npz"
        session.save(path)
        data = path.read_bytes()
    with np.load(io.BytesIO(data)) as z:
        return data, {k: z[k] for k in z.files}


def _written(save, arrays) -> bytes:
    out = io.BytesIO()
    save(out, **arrays)
    return out.getvalue()


SAVED, ARRAYS = _saved()
META = json.loads(ARRAYS["meta"].tobytes())
#: The same checkpoint deflated (np.savez_compressed), and a lone .npy file.
COMPRESSED = _written(np.savez_compressed, ARRAYS)
NPY = _written(lambda out, meta: np.save(out, meta), {"meta": ARRAYS["meta"]})


def _paths(tree, prefix=()):
    """Every key path into a JSON tree."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


META_PATHS = list(_paths(META))
ODD = json_trees | st.sampled_from([0, -1, 2**63, 1e308, float("nan"), "", [], {}, None])


@st.composite
def meta_edits(draw) -> dict:
    """META with 1 to 3 edits at random key paths: a value replaced, a key removed or added."""
    meta = copy.deepcopy(META)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(META_PATHS))
        try:
            parent = meta
            for key in path[:-1]:
                parent = parent[key]
            edit = draw(st.sampled_from(("set", "remove", "add")))
            if edit == "set":
                parent[path[-1]] = draw(ODD)
            elif edit == "remove":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=6))] = draw(ODD)
        except (KeyError, IndexError, TypeError):  # an earlier edit changed the tree
            pass
    return meta


@st.composite
def npz_edits(draw) -> bytes:
    """A valid .npz of ARRAYS, with the meta edited or not, and 0 to 2 array edits."""
    arrays = dict(ARRAYS)
    if draw(st.booleans()):
        arrays["meta"] = np.frombuffer(json.dumps(draw(meta_edits())).encode(), np.uint8)
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(arrays)))
        edit = draw(st.sampled_from(("remove", "shape", "dtype", "extra", "scalar")))
        if edit == "remove":
            arrays.pop(key)
        elif edit == "shape":
            shape = draw(st.lists(st.integers(0, 5), max_size=3))
            arrays[key] = np.zeros(shape, arrays[key].dtype)
        elif edit == "dtype":
            arrays[key] = arrays[key].real.astype(draw(st.sampled_from(["i1", "f2", "?", "c8"])))
        elif edit == "extra":
            name = draw(st.sampled_from(["model/9.Dense.W", "optim/x/m", "history/x", "zz"]))
            arrays[name] = np.zeros(2)
        else:
            arrays[key] = np.array(3.0)
    return _written(np.savez, arrays)


def _open(tmp_path, data: bytes):
    """from_checkpoint on ``data``; the restored session must match the file and train."""
    path = tmp_path / "c.npz"
    path.write_bytes(data)
    try:
        session = TrainingSession.from_checkpoint(path, DATA)
    except CheckpointError as e:
        assert str(path) in str(e)
        event("refused: CheckpointError")
        return
    event("restored")
    meta, arrays = read_checkpoint(path)
    assert session.step_count == meta["step"]
    for name, value in session.model.state_dict().items():
        np.testing.assert_array_equal(value, arrays[f"model/{name}"].astype(value.dtype))
    metrics = session.step()
    assert session.step_count == meta["step"] + 1 and np.isfinite(metrics.loss)


@settings(max_examples=examples(0.5))
@given(npz_edits())
def test_valid_archives_with_edited_meta_or_arrays(tmp_path, data):
    _open(tmp_path, data)


@settings(max_examples=examples(0.5))
@given(st.sampled_from([SAVED, COMPRESSED, NPY]).flatmap(mutated) | st.binary(max_size=200))
def test_damaged_files(tmp_path, data):
    """Damaged checkpoints, deflated ones and .npy files; random bytes."""
    _open(tmp_path, data)


@pytest.mark.parametrize("data, match", [
    (NPY, "single .npy array"),
    (NPY[:11] + NPY[12:], "TokenError"),  # a quote cut from the header
    (COMPRESSED[:200] + bytes(b ^ 0x55 for b in COMPRESSED[200:260]) + COMPRESSED[260:],
     "error|BadZipFile"),
])
def test_npy_files_and_broken_deflate_streams_are_checkpoint_errors(tmp_path, data, match):
    """Found by fuzzing: a .npy file gave a TypeError, one with a damaged header numpy's
    tokenize.TokenError, a broken deflate stream zlib.error."""
    (tmp_path / "c.npz").write_bytes(data)
    with pytest.raises(CheckpointError, match=f"c.npz: not a readable.*({match})"):
        read_checkpoint(tmp_path / "c.npz")


def _npy_header(shape, dtype="<f8") -> bytes:
    """A version 1.0 .npy header declaring ``shape``, padded as numpy pads it."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


@settings(max_examples=examples(0.25))
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=3), st.binary(max_size=64),
       st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_array_headers_declaring_more_than_they_hold(tmp_path, shape, body, compression):
    """Array members whose header claims up to 2**120 elements: refused before numpy
    allocates them (the memory cap of conftest.py turns an allocation into a failure)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        zf.writestr("meta.npy", _npy_header(shape, "|u1") + body)
    _open(tmp_path, out.getvalue())


def test_huge_array_header_is_a_checkpoint_error(tmp_path):
    """Found by fuzzing: numpy allocated the 8 TB a 100-byte member declared (MemoryError)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("meta.npy", _npy_header([10**12]) + bytes(8))
    (tmp_path / "c.npz").write_bytes(out.getvalue())
    with pytest.raises(CheckpointError, match=r"c.npz.*declares.*\(1000000000000,\)"):
        read_checkpoint(tmp_path / "c.npz")


@pytest.mark.parametrize("path, value, match", [
    (("config",), [], "'config' is"),
    (("config", "batch_size"), [1], "batch_size"),
    (("config", "backend"), "tpu", "unknown backend"),
    (("norm",), [[0.1], [0.3], [0.5]], "norm"),
    (("class_names",), "0123456789", "class_names"),
    (("spec", 0, "type"), {"a": 1}, "does not build"),
    (("rng", *META["rng"]), {"state": {}}, "damaged"),
    (("optimizer", "hyper", "step"), 3, "optimizer settings"),
    (("batches",), 3, "batches"),
])
def test_meta_of_the_wrong_type_is_a_checkpoint_error(tmp_path, path, value, match):
    """Found by fuzzing: TypeError, KeyError, AttributeError, IndexError and ValueError leaked
    from the loading code for these edits; the optimizer took any attribute from the file."""
    meta = copy.deepcopy(META)
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    out = io.BytesIO()
    np.savez(out, **{**ARRAYS, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    (tmp_path / "c.npz").write_bytes(out.getvalue())
    with pytest.raises(CheckpointError, match=match):
        TrainingSession.from_checkpoint(tmp_path / "c.npz", DATA)
