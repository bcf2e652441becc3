"""Winograd F(2x2, 3x3) against the direct convolution, gradients, and Conv2D's algorithm choice."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.layers import Conv2D
from cnnviz.core.layers import winograd as wg
from cnnviz.core.layers.conv import WINOGRAD_FROM
from cnnviz.core.model import SpecError, build_model, resolve_spec
from cnnviz.core.presets import preset

from .gradcheck import check_layer_grads
from .test_conv_pool_reference import conv_reference

# (N, C, H, W, out, padding): odd and even sides, non-square, C = 1 and C > 1, batch 1 and > 1,
# outputs from 1x1 (one cropped tile) up.
CASES = [
    (2, 3, 7, 7, 4, 1),
    (1, 1, 5, 8, 2, 0),
    (3, 4, 6, 9, 5, 1),
    (2, 2, 3, 3, 3, 0),
    (1, 2, 4, 5, 2, 2),
    (2, 3, 1, 2, 2, 1),
    (1, 1, 10, 10, 1, 1),
    (2, 5, 8, 6, 3, 0),
    (4, 6, 9, 11, 7, 1),
]


def pair(c, o, p, seed=0):
    """A winograd and a direct Conv2D with the same float64 weights and a non-zero bias."""
    rng = np.random.default_rng(seed)
    w = Conv2D(c, o, 3, padding=p, rng=rng, algorithm="winograd")
    d = Conv2D(c, o, 3, padding=p, algorithm="direct")
    for layer in (w, d):
        layer.astype(np.float64)
    w.params["b"][...] = rng.standard_normal(o)
    for key in ("W", "b"):
        d.params[key][...] = w.params[key]
    return w, d


@pytest.mark.parametrize("n,c,h,w,o,p", CASES)
def test_forward_matches_the_direct_convolution(n, c, h, w, o, p):
    win, direct = pair(c, o, p)
    x = np.random.default_rng(1).standard_normal((n, c, h, w))
    y = win.forward(x, training=True)
    assert win.algorithm_used == "winograd" and win._cache[0] == "winograd"
    assert y.shape == (n, *win.output_shape((c, h, w))) and y.dtype == np.float64
    assert y.flags.c_contiguous
    np.testing.assert_allclose(y, direct.forward(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, conv_reference(x, win.params["W"], win.params["b"], 1, p),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n,c,h,w,o,p", CASES[:4])
def test_float32_in_float32_out(n, c, h, w, o, p):
    layer = Conv2D(c, o, 3, padding=p, algorithm="winograd", rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((n, c, h, w))
    y = layer.forward(x.astype(np.float32), True)
    assert y.dtype == np.float32
    ref = conv_reference(x, layer.params["W"].astype(np.float64), np.zeros(o), 1, p)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and layer.grads["W"].dtype == np.float32


@pytest.mark.parametrize("n,c,h,w,o,p", CASES)
def test_backward_matches_the_direct_path(n, c, h, w, o, p):
    win, direct = pair(c, o, p)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, c, h, w))
    dy = rng.standard_normal((n, *win.output_shape((c, h, w))))
    win.forward(x, True)
    direct.forward(x, True)
    dx = win.backward(dy.copy())
    assert dx.shape == x.shape and dx.flags.c_contiguous
    np.testing.assert_allclose(dx, direct.backward(dy.copy()), rtol=1e-12, atol=1e-12)
    for key in ("W", "b"):
        np.testing.assert_allclose(win.grads[key], direct.grads[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n,c,h,w,o,p", [CASES[0], CASES[1], CASES[4], CASES[5], CASES[8]])
def test_gradients_by_central_differences(n, c, h, w, o, p):
    layer = Conv2D(c, o, 3, padding=p, rng=np.random.default_rng(3), algorithm="winograd")
    layer.params["b"][...] = np.random.default_rng(4).standard_normal(o)
    check_layer_grads(layer, np.random.default_rng(1).standard_normal((n, c, h, w)))
    assert layer.algorithm_used == "winograd"


def test_without_input_grad_the_param_grads_are_the_same():
    win, _ = pair(3, 4, 1)
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((2, 4, 6, 7))
    win.forward(x, True)
    win.backward(dy)
    grads = {k: g.copy() for k, g in win.grads.items()}
    win.input_grad = False
    win.forward(x, True)
    assert win.backward(dy) is None
    for key, g in grads.items():
        np.testing.assert_array_equal(win.grads[key], g)


def test_the_cache_remembers_the_path_of_its_forward_pass():
    win, direct = pair(2, 3, 1)
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((2, 3, 5, 6))
    win.forward(x, True)
    win.algorithm = "direct"  # switching between forward and backward is harmless
    np.testing.assert_allclose(win.backward(dy), (direct.forward(x, True), direct.backward(dy))[1],
                               rtol=1e-12, atol=1e-12)
    win.forward(x, True)
    assert win.algorithm_used == "direct" and win._cache[0] in ("nchw", "nhwc")


# ---------------------------------------------------------------- the transforms


def test_kronecker_transforms_match_numpy():
    bt, g, at = np.array(wg.B_T), np.array(wg.G), np.array(wg.A_T)
    np.testing.assert_array_equal(np.array(wg.BB_T), np.kron(bt, bt))
    np.testing.assert_array_equal(np.array(wg.GG), np.kron(g, g))
    np.testing.assert_array_equal(np.array(wg.AA_T), np.kron(at, at))
    np.testing.assert_array_equal(np.array(wg.BB), np.kron(bt, bt).T)


def test_one_dimensional_f23_identity_and_the_bias_position():
    """A^T [(G g) * (B^T d)] is the 2-output correlation of d (4,) with g (3,)."""
    bt, g, at = np.array(wg.B_T, float), np.array(wg.G), np.array(wg.A_T, float)
    rng = np.random.default_rng(7)
    for _ in range(5):
        d, f = rng.standard_normal(4), rng.standard_normal(3)
        np.testing.assert_allclose(at @ ((g @ f) * (bt @ d)), [d[:3] @ f, d[1:] @ f], rtol=1e-13)
    aa = np.kron(at, at)
    assert np.all(aa[:, wg.BIAS_POSITION] == 1)


def test_tile_counts():
    assert wg.tile_counts(14, 14, 1) == (14, 14, 7, 7)
    assert wg.tile_counts(7, 8, 0) == (5, 6, 3, 3)
    assert wg.tile_counts(3, 3, 0) == (1, 1, 1, 1)


# ---------------------------------------------------------------- Conv2D's algorithm setting


@pytest.mark.parametrize("kernel,stride", [(5, 1), (3, 2), (1, 1), (5, 2)])
def test_winograd_refuses_other_kernels_and_strides(kernel, stride):
    with pytest.raises(ValueError, match="winograd") as info:
        Conv2D(3, 4, kernel, stride=stride, algorithm="winograd")
    msg = str(info.value)
    assert f"kernel_size {kernel}" in msg and f"stride {stride}" in msg
    assert "kernel_size 3 and stride 1" in msg
    for algorithm in ("auto", "direct"):  # the other settings take any kernel and stride
        assert Conv2D(3, 4, kernel, stride=stride, algorithm=algorithm).algorithm_for(
            (3, 12, 12)) == "direct"


def test_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match="'fft'.*auto, direct, winograd"):
        Conv2D(3, 4, 3, algorithm="fft")
    with pytest.raises(SpecError, match="algorithm"):
        resolve_spec([{"type": "Conv2D", "out_channels": 2, "kernel_size": 5,
                       "algorithm": "winograd"}, {"type": "Flatten"}])


def test_auto_rule():
    big = WINOGRAD_FROM
    assert Conv2D(big, 8, 3, padding=1).algorithm_for((big, 14, 14)) == "winograd"
    assert Conv2D(big, 8, 3, padding=1).algorithm_for((big, 14, 14), gpu=True) == "direct"
    # evaluation runs forward only, where Winograd is slower: direct
    assert Conv2D(big, 8, 3, padding=1).algorithm_for((big, 14, 14), training=False) == "direct"
    assert Conv2D(big, 8, 3, algorithm="winograd").algorithm_for((big, 7, 7), gpu=True) == (
        "winograd")
    assert Conv2D(big, 8, 3, padding=0).algorithm_for((big, 10, 12)) == "winograd"
    # odd output sides waste half of the last tile row / column: direct
    assert Conv2D(big, 8, 3, padding=1).algorithm_for((big, 7, 7)) == "direct"
    assert Conv2D(big, 8, 3, padding=1).algorithm_for((big, 8, 7)) == "direct"
    # too few input channels, or not 3x3 stride 1: direct
    assert Conv2D(big - 1, 8, 3, padding=1).algorithm_for((big - 1, 14, 14)) == "direct"
    assert Conv2D(big, 8, 3, stride=2, padding=1).algorithm_for((big, 14, 14)) == "direct"
    assert Conv2D(big, 8, 5, padding=2).algorithm_for((big, 14, 14)) == "direct"
    # the explicit settings are taken as they are
    assert Conv2D(1, 8, 3, algorithm="winograd").algorithm_for((1, 7, 7)) == "winograd"
    assert Conv2D(big, 8, 3, padding=1, algorithm="direct").algorithm_for((big, 14, 14)) == (
        "direct")
    # before a forward pass: known where the input size does not matter
    assert Conv2D(big, 8, 3).algorithm_used is None
    assert Conv2D(1, 8, 3).algorithm_used == "direct"
    assert Conv2D(1, 8, 3, algorithm="winograd").algorithm_used == "winograd"


def test_default_algorithm_on_the_presets():
    """cnn-bn: 0.Conv2D (1 -> 32 at 28x28) direct, 4.Conv2D (32 -> 64 at 14x14) winograd."""
    model = build_model(preset("cnn-bn"))
    model.forward(np.zeros((2, 1, 28, 28), np.float32))
    convs = {name: layer for name, layer in zip(model.names, model.layers, strict=True)
             if isinstance(layer, Conv2D)}
    assert list(convs) == ["0.Conv2D", "4.Conv2D"]
    assert convs["0.Conv2D"].algorithm_for((1, 28, 28)) == "direct"
    assert convs["4.Conv2D"].algorithm_for((32, 14, 14)) == "winograd"
    assert {n: c.algorithm_used for n, c in convs.items()} == {
        "0.Conv2D": "direct", "4.Conv2D": "winograd"}
    lenet = build_model(preset("lenet5"))
    lenet.forward(np.zeros((2, 1, 28, 28), np.float32))
    assert {layer.algorithm_used for layer in lenet.layers if isinstance(layer, Conv2D)} == {
        "direct"}


def test_config_and_spec_stay_compatible():
    assert "algorithm" not in Conv2D(3, 4, 3).config()  # "auto": the spec as before
    assert Conv2D(3, 4, 3, algorithm="winograd").config()["algorithm"] == "winograd"
    assert Conv2D(3, 4, 5, algorithm="direct").spec()["algorithm"] == "direct"
    full, _ = resolve_spec(preset("cnn-bn"))
    assert all("algorithm" not in e for e in full)
    spec = preset("cnn-bn")
    spec[4]["algorithm"] = "direct"
    spec[0]["algorithm"] = "winograd"
    full, _ = resolve_spec(spec)
    assert full[4]["algorithm"] == "direct" and full[0]["algorithm"] == "winograd"
    model = build_model(spec)
    assert model.layers[4].algorithm == "direct" and model.layers[0].algorithm == "winograd"
    assert model.spec == full
    spec[4]["algorithm"] = "auto"  # the default, written out: the same as leaving it out
    assert resolve_spec(spec)[0][4] == resolve_spec(preset("cnn-bn"))[0][4]
