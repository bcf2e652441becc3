"""Sequential and specs: resolve_spec, SpecError messages, summary, presets, state dicts,
record(), train/eval, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.layers import Dropout
from cnnviz.core.model import (
    PREDICT_CHUNK,
    Sequential,
    SpecError,
    build_model,
    format_summary,
    resolve_spec,
)
from cnnviz.core.presets import DEFAULT_PRESET, PRESETS, fit_preset, preset


def conv(i, o, k, padding=0, stride=1):
    return {"type": "Conv2D", "in_channels": i, "out_channels": o, "kernel_size": k,
            "stride": stride, "padding": padding}


def dense(i, o):
    return {"type": "Dense", "in_features": i, "out_features": o}


RELU, FLAT = {"type": "ReLU"}, {"type": "Flatten"}
POOL2 = {"type": "MaxPool2D", "kernel_size": 2}

EXPECTED_PRESETS = {
    "lenet5": [
        conv(1, 6, 5, padding=2), RELU, POOL2, conv(6, 16, 5), RELU, POOL2, FLAT,
        dense(400, 120), RELU, dense(120, 84), RELU, dense(84, 10),
    ],
    "cnn-bn": [
        conv(1, 32, 3, padding=1), {"type": "BatchNorm2D", "num_features": 32}, RELU, POOL2,
        conv(32, 64, 3, padding=1), {"type": "BatchNorm2D", "num_features": 64}, RELU, POOL2,
        FLAT, dense(3136, 128), RELU, {"type": "Dropout", "p": 0.25}, dense(128, 10),
    ],
    "mlp": [FLAT, dense(784, 128), RELU, dense(128, 10)],
    "cifar-bn": [
        *[e for o in (32, 64, 128) for e in (
            {"type": "Conv2D", "out_channels": o, "kernel_size": 3, "padding": 1},
            {"type": "BatchNorm2D"}, RELU, POOL2)],
        FLAT, {"type": "Dense", "out_features": 128}, RELU, {"type": "Dropout", "p": 0.25},
        {"type": "Dense", "out_features": 10},
    ],
}


# ---------------------------------------------------------------- presets


def test_presets_exactly_as_listed():
    assert set(PRESETS) == set(EXPECTED_PRESETS)
    for name, spec in EXPECTED_PRESETS.items():
        assert preset(name) == spec, name
    assert DEFAULT_PRESET == "cnn-bn"


def test_preset_returns_a_copy_and_rejects_unknown_names():
    spec = preset("lenet5")
    spec[0]["out_channels"] = 99
    spec.append(RELU)
    assert preset("lenet5") == EXPECTED_PRESETS["lenet5"]
    with pytest.raises(KeyError) as info:
        preset("resnet")
    msg = str(info.value)
    assert "resnet" in msg and all(n in msg for n in EXPECTED_PRESETS)


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_presets_resolve_to_themselves(name):
    full, shapes = resolve_spec(preset(name))
    assert len(full) == len(EXPECTED_PRESETS[name])
    for got, given in zip(full, EXPECTED_PRESETS[name], strict=True):
        assert got == {**got, **given}, "resolve_spec keeps given values, only adds defaults"
    assert resolve_spec(full) == (full, shapes)
    assert shapes[-1] == (10,)


# ---------------------------------------------------------------- resolve_spec


def test_resolve_spec_infers_sizes():
    spec = [
        {"type": "Conv2D", "out_channels": 32, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2D"}, RELU, POOL2,
        {"type": "Conv2D", "out_channels": 64, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2D"}, RELU, POOL2, FLAT,
        {"type": "Dense", "out_features": 128}, RELU, {"type": "Dropout", "p": 0.25},
        {"type": "Dense", "out_features": 10},
    ]
    full, shapes = resolve_spec(spec)
    assert full == resolve_spec(preset("cnn-bn"))[0]
    assert [e.get("in_channels") for e in full if e["type"] == "Conv2D"] == [1, 32]
    assert [e["num_features"] for e in full if e["type"] == "BatchNorm2D"] == [32, 64]
    assert [e["in_features"] for e in full if e["type"] == "Dense"] == [3136, 128]
    assert shapes == [(32, 28, 28), (32, 28, 28), (32, 28, 28), (32, 14, 14), (64, 14, 14),
                      (64, 14, 14), (64, 14, 14), (64, 7, 7), (3136,), (128,), (128,), (128,),
                      (10,)]
    assert "in_channels" not in spec[0], "resolve_spec must not modify its argument"
    full1d, _ = resolve_spec([FLAT, {"type": "BatchNorm1D"}, {"type": "Dense", "out_features": 3}],
                             input_shape=(2, 3, 4))
    assert full1d[1]["num_features"] == 24 and full1d[2]["in_features"] == 24


def test_resolve_spec_other_input_shapes():
    spec = [{"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "stride": 2}, FLAT,
            {"type": "Dense", "out_features": 2}]
    full, shapes = resolve_spec(spec, input_shape=(3, 9, 12))
    assert full[0]["in_channels"] == 3
    assert shapes == [(4, 4, 5), (80,), (2,)]
    assert full[2]["in_features"] == 80


def spec_error(spec, input_shape=(1, 28, 28)):
    with pytest.raises(SpecError) as info:
        resolve_spec(spec, input_shape)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_spec_error_dense_after_flatten():
    spec = preset("cnn-bn")
    spec[9] = dense(100, 10)
    msg = spec_error(spec)
    assert "layer 9" in msg and "Dense" in msg
    assert "3136" in msg and "100" in msg


def test_spec_error_kernel_too_big():
    spec = [conv(1, 4, 3, stride=2), {"type": "Conv2D", "out_channels": 2, "kernel_size": 7},
            FLAT, {"type": "Dense", "out_features": 10}]
    msg = spec_error(spec, input_shape=(1, 9, 9))
    assert "layer 1" in msg and "Conv2D" in msg
    assert "(4, 4, 4)" in msg and "4x4" in msg and "7" in msg


def test_spec_error_unknown_type_lists_known_types():
    msg = spec_error([FLAT, {"type": "Dense2", "out_features": 10}])
    assert "layer 1" in msg and "Dense2" in msg
    for kind in ("Conv2D", "MaxPool2D", "BatchNorm2D", "Dense", "Dropout", "ReLU"):
        assert kind in msg


def test_spec_error_other_cases():
    assert "layer 0" in spec_error([{"out_features": 10}])
    assert "layer 1" in spec_error([FLAT, "Dense"])
    assert "ReLU" in spec_error([FLAT, {"type": "ReLU", "slope": 2}, dense(784, 10)])
    msg = spec_error([conv(3, 4, 3), FLAT, {"type": "Dense", "out_features": 10}])
    assert "layer 0" in msg and "(1, 28, 28)" in msg and "3" in msg
    msg = spec_error([{"type": "Dense", "out_features": 10}])
    assert "layer 0" in msg and "Flatten" in msg
    msg = spec_error([conv(1, 4, 3)])
    assert "(4, 26, 26)" in msg  # last layer must output class scores
    msg = spec_error([FLAT, {"type": "BatchNorm2D"}, dense(784, 10)])
    assert "layer 1" in msg and "BatchNorm2D" in msg and "(784,)" in msg
    for bad in ([], None, {}, "lenet5"):
        with pytest.raises(SpecError):
            resolve_spec(bad)
    with pytest.raises(SpecError):
        build_model([conv(1, 4, 40), FLAT, {"type": "Dense", "out_features": 10}])


# ---------------------------------------------------------------- summary


def test_summary_cnn_bn():
    model = build_model(preset("cnn-bn"))
    rows = model.summary()
    assert [r["name"] for r in rows] == model.names
    assert model.names[0] == "0.Conv2D" and model.names[-1] == "12.Dense"
    assert [r["output_shape"] for r in rows] == [
        (32, 28, 28), (32, 28, 28), (32, 28, 28), (32, 14, 14), (64, 14, 14), (64, 14, 14),
        (64, 14, 14), (64, 7, 7), (3136,), (128,), (128,), (128,), (10,)]
    assert [r["params"] for r in rows] == [320, 64, 0, 0, 18496, 128, 0, 0, 0, 401536, 0, 0,
                                           1290]
    assert sum(r["params"] for r in rows) == model.num_params() == 421_834
    macs = [r["mult_adds"] for r in rows]
    assert macs[0] == 28 * 28 * 32 * 1 * 3 * 3
    assert macs[4] == 14 * 14 * 64 * 32 * 3 * 3
    assert macs[9] == 3136 * 128 and macs[12] == 128 * 10
    assert sum(macs) == 225_792 + 3_612_672 + 401_408 + 1_280
    table = format_summary(rows, model.input_shape)
    assert "421,834" in table and "(64, 7, 7)" in table and "3,612,672" in table


def test_summary_lenet5():
    model = build_model(preset("lenet5"))
    rows = model.summary()
    assert [r["output_shape"] for r in rows] == [
        (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5), (400,),
        (120,), (120,), (84,), (84,), (10,)]
    assert [r["params"] for r in rows] == [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]
    assert model.num_params() == 61_706
    macs = [r["mult_adds"] for r in rows]
    assert macs[0] == 28 * 28 * 6 * 1 * 5 * 5
    assert macs[3] == 10 * 10 * 16 * 6 * 5 * 5
    assert macs[7] == 400 * 120 and macs[9] == 120 * 84 and macs[11] == 84 * 10
    assert model.layers[0].mult_adds((1, 28, 28)) == 117_600
    assert build_model(preset("mlp")).num_params() == 784 * 128 + 128 + 1290


# ---------------------------------------------------------------- state dicts


def small_model(seed=0):
    spec = [{"type": "Conv2D", "out_channels": 3, "kernel_size": 3}, {"type": "BatchNorm2D"},
            RELU, POOL2, FLAT, {"type": "Dense", "out_features": 5}, {"type": "Dropout", "p": 0.5},
            {"type": "Dense", "out_features": 4}]
    return build_model(spec, input_shape=(2, 8, 8), seed=seed)


def test_state_dict_names_and_copies():
    model = small_model()
    state = model.state_dict()
    assert set(state) == {
        "0.Conv2D.W", "0.Conv2D.b", "1.BatchNorm2D.gamma", "1.BatchNorm2D.beta",
        "1.BatchNorm2D.running_mean", "1.BatchNorm2D.running_var", "5.Dense.W", "5.Dense.b",
        "7.Dense.W", "7.Dense.b"}
    assert state["0.Conv2D.W"].shape == (3, 2, 3, 3) and state["7.Dense.W"].shape == (5, 4)
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["0.Conv2D.W"][...] = 0  # a copy: the model is untouched
    assert np.abs(model.layers[0].params["W"]).sum() > 0


def test_state_dict_round_trip():
    x = np.random.default_rng(0).standard_normal((3, 2, 8, 8)).astype(np.float32)
    a = small_model(seed=1)
    a.forward(x, training=True)  # move the running stats away from their initial values
    b = small_model(seed=2)
    assert not np.allclose(a.eval()(x), b.eval()(x))
    params_before = [id(p) for _, p, _ in b.parameters()]
    b.load_state_dict(a.state_dict())
    assert [id(p) for _, p, _ in b.parameters()] == params_before, "load copies in place"
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v, err_msg=k)
    np.testing.assert_array_equal(a.eval()(x), b.eval()(x))


def test_load_state_dict_errors():
    model = small_model()
    state = model.state_dict()
    bad = dict(state, **{"5.Dense.W": np.zeros((7, 5), np.float32)})
    with pytest.raises(ValueError) as info:
        model.load_state_dict(bad)
    msg = str(info.value)
    assert "5.Dense.W" in msg and "(7, 5)" in msg and "(27, 5)" in msg
    missing = {k: v for k, v in state.items() if k != "7.Dense.b"}
    with pytest.raises(ValueError, match="7.Dense.b"):
        model.load_state_dict(missing)
    with pytest.raises(ValueError, match="9.Dense.W"):
        model.load_state_dict(dict(state, **{"9.Dense.W": np.zeros(3)}))
    other = build_model(preset("lenet5"))
    with pytest.raises(ValueError):
        other.load_state_dict(state)
    np.testing.assert_array_equal(model.layers[5].params["W"], state["5.Dense.W"])


# ---------------------------------------------------------------- record, train/eval, seeds


def test_record_returns_one_output_per_layer():
    model = build_model(preset("cnn-bn")).train()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    out = model.record(x)
    assert [name for name, _ in out] == model.names
    for (name, arr), row in zip(out, model.summary(), strict=True):
        assert arr.shape == (2, *row["output_shape"]), name
    np.testing.assert_allclose(out[-1][1], model.eval()(x), rtol=1e-6)
    assert model.training is False
    # record is eval mode: deterministic and leaves the running stats alone
    before = model.state_dict()
    model.train()
    out2 = model.record(x)
    np.testing.assert_array_equal(out2[-1][1], out[-1][1])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_train_and_eval_change_dropout_and_batchnorm():
    model = small_model()
    x = np.random.default_rng(1).standard_normal((4, 2, 8, 8)).astype(np.float32)
    assert model.train() is model and model.training
    bn = model.layers[1]
    rm = bn.buffers["running_mean"].copy()
    y1, y2 = model(x), model(x)
    assert not np.allclose(y1, y2), "dropout draws a new mask each training step"
    assert not np.allclose(bn.buffers["running_mean"], rm), "training updates running stats"
    assert model.eval() is model and not model.training
    rm = bn.buffers["running_mean"].copy()
    e1, e2 = model(x), model(x)
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(bn.buffers["running_mean"], rm)
    # eval output of a sample does not depend on the rest of the batch (running stats)
    np.testing.assert_allclose(model(x[:1]), e1[:1], rtol=1e-5, atol=1e-6)
    # explicit training flag overrides the mode
    assert not np.allclose(model.forward(x, training=True), e1)


def test_seeded_build_is_reproducible():
    a, b, c = (build_model(preset("cnn-bn"), seed=s) for s in (7, 7, 8))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    assert not np.allclose(sa["0.Conv2D.W"], sc["0.Conv2D.W"])
    assert not np.allclose(sa["9.Dense.W"], sc["9.Dense.W"])
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(a.train()(x), b.train()(x))  # same dropout masks too
    assert not np.allclose(a.train()(x), c.train()(x))
    assert a.rng_state() and set(a.rng_state()) == {"11.Dropout"}


def test_rng_state_round_trip_repeats_dropout():
    model = small_model()
    x = np.ones((2, 2, 8, 8), np.float32)
    state = model.rng_state()
    y1 = model.forward(x, training=True)
    model.set_rng_state(state)
    np.testing.assert_array_equal(model.forward(x, training=True), y1)


def test_build_model_dtypes_and_init():
    model = build_model(preset("lenet5"), seed=0)
    for name, p, g in model.parameters():
        assert p.dtype == np.float32 and g.dtype == np.float32 and g.shape == p.shape, name
        assert not np.any(g), name
    w = model.layers[0].params["W"]
    assert abs(w.std() / np.sqrt(2 / 25) - 1) < 0.25  # He normal, fan_in = 1 * 5 * 5
    np.testing.assert_array_equal(model.layers[0].params["b"], 0)
    model.astype(np.float64)
    assert all(p.dtype == np.float64 and g.dtype == np.float64 for _, p, g in model.parameters())


def test_glorot_for_tanh_layers():
    spec = [FLAT, {"type": "Dense", "out_features": 50}, {"type": "Tanh"},
            {"type": "Dense", "out_features": 10}]
    model = build_model(spec, input_shape=(1, 10, 10))
    w = model.layers[1].params["W"]
    bound = np.sqrt(6 / (100 + 50))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    he = build_model([FLAT, {"type": "Dense", "out_features": 50}, RELU,
                      {"type": "Dense", "out_features": 10}], input_shape=(1, 10, 10))
    assert np.abs(he.layers[1].params["W"]).max() > bound  # normal tails exceed the bound


def test_zero_grad_and_parameters():
    model = small_model().astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 8, 8))
    model.forward(x, training=True)
    model.backward(np.ones((2, 4)))
    assert any(np.any(g) for _, _, g in model.parameters())
    model.zero_grad()
    assert not any(np.any(g) for _, _, g in model.parameters())
    names = [n for n, _, _ in model.parameters()]
    assert names == ["0.Conv2D.W", "0.Conv2D.b", "1.BatchNorm2D.gamma", "1.BatchNorm2D.beta",
                     "5.Dense.W", "5.Dense.b", "7.Dense.W", "7.Dense.b"]
    assert [n for n, _ in model.buffers()] == ["1.BatchNorm2D.running_mean",
                                               "1.BatchNorm2D.running_var"]


def test_sequential_from_layers_and_profile():
    layers = [Dropout(0.0), *build_model(preset("mlp")).layers]
    model = Sequential(layers)
    assert model.names[0] == "0.Dropout" and model.spec[0] == {"type": "Dropout", "p": 0.0}
    model.profile = True
    x = np.zeros((2, 1, 28, 28), np.float32)
    y = model.forward(x, training=True)
    model.backward(np.ones_like(y))
    assert set(model.timings) == set(model.names)
    assert all(f >= 0 and b >= 0 for f, b in model.timings.values())
    assert sum(f for f, _ in model.timings.values()) > 0


def test_model_spec_is_the_resolved_spec_and_rebuilds():
    spec = [{"type": "Conv2D", "out_channels": 2, "kernel_size": 3}, FLAT,
            {"type": "Dense", "out_features": 3}]
    model = build_model(spec, input_shape=(1, 6, 6), seed=4)
    assert model.spec == resolve_spec(spec, (1, 6, 6))[0]
    assert model.spec == [layer.spec() for layer in model.layers]
    again = build_model(model.spec, input_shape=(1, 6, 6), seed=4)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v)


@pytest.mark.parametrize("entry", [
    {"type": "Conv2D", "out_channels": "many", "kernel_size": 3},
    {"type": "Conv2D", "out_channels": None, "kernel_size": 3},
    {"type": "Conv2D", "out_channels": 0, "kernel_size": 3},
    {"type": "MaxPool2D"},
    {"type": "Dropout", "p": 1.5},
])
def test_bad_arguments_raise_spec_error(entry):
    spec = [entry, FLAT, {"type": "Dense", "out_features": 10}]
    msg = spec_error(spec)
    assert "layer 0" in msg and entry["type"] in msg


PREDICT_SPECS = [
    preset("cnn-bn"),
    preset("lenet5"),
    [{"type": "Dropout", "p": 0.5}, {"type": "Conv2D", "out_channels": 3, "kernel_size": 3},
     {"type": "ReLU"}, {"type": "BatchNorm2D"}, {"type": "Flatten"}, {"type": "ReLU"},
     {"type": "Dense", "out_features": 10}, {"type": "BatchNorm1D"}],
    [{"type": "Flatten"}, {"type": "ReLU"}, {"type": "Dense", "out_features": 10}],
]


@pytest.mark.parametrize("n", [5, 2 * PREDICT_CHUNK + 3])
@pytest.mark.parametrize("spec", PREDICT_SPECS)
def test_predict_gives_the_eval_forward_logits_and_leaves_the_input_alone(spec, n):
    """predict folds each BatchNorm2D into the conv before it, runs ReLU in place and goes
    through the batch in chunks (the last one partial): the same logits as forward (float64),
    and the caller's array is never written."""
    model = build_model(spec).astype(np.float64)
    rng = np.random.default_rng(7)
    for _ in range(3):  # batch statistics away from 0 and 1
        model.forward(rng.standard_normal((6, 1, 28, 28)) * 3 + 1, True)
    for _, b in model.buffers():
        assert not np.allclose(b, 0) and not np.allclose(b, 1)
    x = rng.standard_normal((n, 1, 28, 28))
    before = x.copy()
    np.testing.assert_allclose(model.predict(x), model.forward(x, False), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_array_equal(x, before)
    w = {name: p.copy() for name, p, _ in model.parameters()}
    model.predict(x)
    for name, p, _ in model.parameters():  # folding borrows the weights, never changes them
        np.testing.assert_array_equal(p, w[name])



def test_summary_names_each_convolution_algorithm():
    rows = {r["name"]: r["algorithm"] for r in build_model(preset("cnn-bn")).summary()}
    assert rows["0.Conv2D"] == "direct" and rows["4.Conv2D"] == "winograd"
    assert rows["1.BatchNorm2D"] is None
    text = format_summary(build_model(preset("cnn-bn")).summary(), (1, 28, 28))
    assert "winograd" in text


def test_fit_preset_resolves_to_the_preset_on_digits_and_fits_other_data():
    for name in PRESETS:
        fitted = fit_preset(preset(name), 10)
        assert resolve_spec(fitted)[0] == resolve_spec(preset(name))[0], name
    model = build_model(fit_preset(preset("cnn-bn"), 5), (3, 32, 32))
    rows = model.summary()
    assert rows[0]["output_shape"] == (32, 32, 32) and rows[-1]["output_shape"] == (5,)
    assert model.layers[0].in_channels == 3 and model.layers[9].in_features == 64 * 8 * 8
    rows = build_model(preset("cifar-bn"), (3, 32, 32)).summary()
    assert [r["output_shape"] for r in rows if r["kind"] == "MaxPool2D"] == [
        (32, 16, 16), (64, 8, 8), (128, 4, 4)]
    assert sum(r["params"] for r in rows) == 357_258
