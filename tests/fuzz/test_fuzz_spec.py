"""Fuzzing architecture specs: random JSON, mutated presets, and spec files given to the CLI.

A spec either builds a model whose forward pass gives one score per class, or raises
SpecError; never another exception, nor an allocation of what a huge size asks for.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cnnviz.cli import main
from cnnviz.core.layers import LAYER_TYPES
from cnnviz.core.model import SpecError, build_model, resolve_spec
from cnnviz.core.presets import PRESETS, fit_preset
from tests.fuzz.strategies import examples, json_leaves, json_trees, mutated
from tests.specs import bn_cnn

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 4, 4), (2, 1, 1)]
BASES = [*PRESETS.values(), *(fit_preset(s, 10) for s in PRESETS.values()), bn_cnn(3)]
SIZE_KEYS = ["in_channels", "out_channels", "kernel_size", "stride", "padding", "in_features",
             "out_features", "num_features", "p", "momentum", "eps", "negative_slope",
             "algorithm"]
#: Values set into specs: small sizes, and extremes that would allocate GBs if trusted.
ODD_VALUES = st.integers(-2, 8) | st.sampled_from(
    [2**31, 2**63, 10**12, 1e300, float("inf"), float("nan"), 0.5, "3", "auto", "winograd",
     [3], {"n": 3}, None, True])


def _check(spec, shape) -> None:
    """SpecError, or a model whose resolved spec is stable and whose forward pass on one
    sample gives finite (1, classes) scores."""
    try:
        model = build_model(spec, shape)
    except SpecError as e:
        assert str(e)
        event("refused: SpecError")
        return
    event("built")
    full, shapes = resolve_spec(model.spec, shape)
    assert full == model.spec and len(shapes) == len(model.layers)
    logits = model.forward(np.zeros((1, *shape), np.float32), training=False)
    assert logits.shape == (1, *shapes[-1]) and np.isfinite(logits).all()


@settings(max_examples=examples())
@given(json_trees | st.lists(json_trees, max_size=6), st.sampled_from(SHAPES))
def test_random_json(spec, shape):
    _check(spec, shape)


@st.composite
def mutated_specs(draw) -> list:
    """A preset or test spec with 1 to 3 edits: a value set to an odd one, a key removed or
    added, the type changed, a layer dropped or repeated."""
    spec = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(spec) - 1))
        entry = spec[i]
        edit = draw(st.sampled_from(("set", "remove", "add", "type", "drop", "repeat")))
        if edit == "set" and len(entry) > 1:
            key = draw(st.sampled_from(sorted(k for k in entry if k != "type")))
            entry[key] = draw(ODD_VALUES | json_leaves)
        elif edit == "remove" and entry:
            entry.pop(draw(st.sampled_from(sorted(entry))))
        elif edit == "add":
            entry[draw(st.sampled_from([*SIZE_KEYS, "unknown"]))] = draw(ODD_VALUES)
        elif edit == "type":
            entry["type"] = draw(st.sampled_from([*LAYER_TYPES, "Conv3D", "", 3, None, ["ReLU"]]))
        elif edit == "drop" and len(spec) > 1:
            spec.pop(i)
        elif edit == "repeat":
            spec.insert(i, copy.deepcopy(entry))
    return spec


@settings(max_examples=examples())
@given(mutated_specs(), st.sampled_from(SHAPES))
def test_mutated_presets(spec, shape):
    _check(spec, shape)


@pytest.mark.parametrize("layer", [
    {"type": "Dense", "out_features": 10**12},
    {"type": "Dense", "out_features": 2**40, "in_features": 2**40},
    {"type": "Conv2D", "out_channels": 2**50, "kernel_size": 3},
    {"type": "BatchNorm2D", "num_features": 10**15},
])
def test_huge_sizes_are_refused_before_allocating(layer):
    """Found by fuzzing: these allocated (MemoryError) instead of raising SpecError."""
    spec = [{"type": "Flatten"}, layer] if layer["type"] == "Dense" else [layer]
    with pytest.raises(SpecError, match="weights, more than"):
        resolve_spec(spec, (1, 28, 28))


@pytest.mark.parametrize("spec, match", [
    ([{"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 10**6},
      {"type": "Flatten"}], "values"),
    ([{"type": "Flatten"}, {"type": "Dense", "out_features": float("inf")}], "infinity"),
    ([{"type": {"a": 1}}], "unknown type"),
    ([{"type": ["Dense"]}], "unknown type"),
    ([{"type": "BatchNorm2D", "eps": -1}, {"type": "Flatten"}], "eps positive"),
    ([{"type": "LeakyReLU", "negative_slope": float("inf")}, {"type": "Flatten"}], "finite"),
])
def test_odd_values_are_spec_errors(spec, match):
    """Found by fuzzing: OverflowError and TypeError leaked; a huge padding was accepted, and
    so were a negative batch-norm eps and an infinite slope, whose outputs are NaN."""
    with pytest.raises(SpecError, match=match):
        resolve_spec(spec, (1, 28, 28))


def _spec_texts():
    valid = json.dumps(fit_preset(PRESETS["lenet5"], 10)).encode()
    nested = [f'[{{"type": "ReLU", "x": {"[" * n}{"]" * n}}}]'.encode() for n in (600, 10**5)]
    return (st.binary(max_size=64) | mutated(valid) | st.sampled_from(nested)
            | json_trees.map(lambda t: json.dumps(t).encode()))


@settings(max_examples=examples(0.5))
@given(_spec_texts())
def test_spec_files_on_the_command_line(tmp_path, capsys, text):
    """`cnnviz summary --spec FILE` prints a summary (0) or one error line naming the problem
    (1): bad UTF-8, bad JSON, nesting too deep or a bad spec; never a traceback."""
    path = tmp_path / "spec.json"
    path.write_bytes(text)
    code = main(["summary", "--spec", str(path)])
    out, err = capsys.readouterr()
    event(f"exit code {code}")
    if code == 0:
        assert "total" in out and err == ""
    else:
        assert code == 1 and err.startswith("cnnviz summary: error: ")
        assert any(word in err for word in (str(path), "layer", "spec")), err
