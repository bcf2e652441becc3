"""Saliency, Grad-CAM, occlusion, top activations and embedding on models with known answers."""

import numpy as np
import pytest

from cnnviz.core.model import build_model
from cnnviz.training import inspect as ins

R = (slice(4, 9), slice(6, 11))  # the region the hand-made model reads
S = (slice(16, 21), slice(14, 19))  # a decoy blob it ignores


def region_model():
    """Channel 0 = relu(x), channel 1 = relu(-x); class 3's score sums channel 0 everywhere,
    every other class scores 0. So class 3 depends only on the positive ink."""
    spec = [{"type": "Conv2D", "out_channels": 2, "kernel_size": 1}, {"type": "ReLU"},
            {"type": "Flatten"}, {"type": "Dense", "out_features": 10}]
    model = build_model(spec, (1, 28, 28)).astype(np.float64)
    conv, dense = model.layers[0], model.layers[3]
    conv.params["W"][...] = np.array([1.0, -1.0]).reshape(2, 1, 1, 1)
    conv.params["b"][...] = 0
    dense.params["W"][...] = 0
    dense.params["W"][: 28 * 28, 3] = 0.2  # channel 0's positions (flattened first)
    dense.params["b"][...] = 0
    return model


def digit():
    x = np.zeros((1, 1, 28, 28))
    x[0, 0][R] = 1.0
    x[0, 0][S] = -1.0
    return x


def inside(m, region):
    mask = np.zeros((28, 28), bool)
    mask[region] = True
    return m[mask], m[~mask]


def test_saliency_lights_only_the_region_the_model_reads():
    sal = ins.saliency(region_model(), digit(), 3)
    assert sal.shape == (28, 28) and sal.max() == pytest.approx(1)
    inner, outer = inside(sal, R)
    assert inner.min() > 0.99 and outer.max() == 0


def test_grad_cam_lights_only_the_channel_that_matters():
    cam = ins.grad_cam(region_model(), digit(), 3, "1.ReLU")
    inner, outer = inside(cam, R)
    assert inner.min() > 0.99 and outer.max() == 0
    with pytest.raises(ValueError, match="channels, height, width"):
        ins.grad_cam(region_model(), digit(), 3, "3.Dense")


def test_grad_cam_is_not_blank_when_the_dense_head_weighs_other_places_negatively():
    """Class 3 reads +0.2 per unit of channel 0 in R and -0.05 everywhere else, where channel
    0 is zero for this digit. Averaging the gradients over positions (classic Grad-CAM) gives
    channel 0 a negative weight and a blank map; the element-wise map lights R."""
    model = region_model()
    w = model.layers[3].params["W"][: 28 * 28, 3].reshape(28, 28)
    w[...] = -0.05
    w[R] = 0.2
    cam = ins.grad_cam(model, digit(), 3, "1.ReLU")
    inner, outer = inside(cam, R)
    assert inner.min() > 0.99 and outer.max() == 0
    act, grad = ins.gradient_to(model, digit(), 3, "1.ReLU")
    assert grad[0].mean() < 0  # the channel weight classic Grad-CAM would use


def test_occlusion_drops_probability_only_near_the_region():
    occ = ins.occlusion(region_model(), digit(), 3, patch=4, stride=1)
    grown = (slice(R[0].start - 3, R[0].stop + 3), slice(R[1].start - 3, R[1].stop + 3))
    inner, outer = inside(occ, grown)
    assert occ[6, 8] > 0.1  # the middle of R matters
    assert np.abs(outer).max() < 1e-9  # occluding elsewhere (the decoy included) changes nothing
    assert inner.max() == occ.max()


def test_unknown_layer_is_named():
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        ins.grad_cam(region_model(), digit(), 3, "conv9")


def test_top_activations_match_brute_force():
    spec = [{"type": "Conv2D", "out_channels": 5, "kernel_size": 3}, {"type": "ReLU"},
            {"type": "MaxPool2D", "kernel_size": 2}, {"type": "Flatten"},
            {"type": "Dense", "out_features": 10}]
    model = build_model(spec, (1, 12, 12), seed=4)
    images = np.random.default_rng(0).standard_normal((1234, 1, 12, 12)).astype(np.float32)
    idx, scores, maps = ins.top_activations(model, images, "2.MaxPool2D", k=9)
    full = model.record(images)[2][1]  # (N, 5, 5, 5)
    brute = full.max(axis=(2, 3)).T  # (channels, N)
    expect = np.argsort(-brute, axis=1, kind="stable")[:, :9]
    assert idx.shape == (5, 9) and maps.shape == (5, 9, 5, 5)
    np.testing.assert_allclose(scores, np.take_along_axis(brute, expect, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.sort(expect, axis=1))
    for c in range(5):
        np.testing.assert_allclose(maps[c], full[idx[c], c], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 9, 40])
def test_top_k_is_a_stable_descending_sort(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, (7, 30)).astype(np.float32)  # many ties
    scores[0] = 2.0  # a row of ties only
    scores[1, ::3] = np.nan
    scores[2, :] = np.nan
    expect = np.argsort(-np.where(np.isnan(scores), -np.inf, scores), axis=1, kind="stable")
    np.testing.assert_array_equal(ins._top_k(scores, k), expect[:, :k])


@pytest.mark.parametrize("batch", [1, 7, 64, 500])
def test_top_activations_keep_the_earliest_of_equal_scores_across_batches(batch, monkeypatch):
    """Dead and saturated channels give many equal scores: the result is exactly a stable sort,
    whatever the batch size, and the maps are those of the chosen images."""
    monkeypatch.setattr(ins, "BATCH", batch)
    spec = [{"type": "Conv2D", "out_channels": 6, "kernel_size": 3}, {"type": "ReLU"},
            {"type": "MaxPool2D", "kernel_size": 2}]
    spec += [{"type": "Flatten"}, {"type": "Dense", "out_features": 10}]
    model = build_model(spec, (1, 8, 8), seed=1)
    conv = model.layers[0]
    conv.params["W"][0] = 0  # channel 0: relu(bias) everywhere, the same for every image
    conv.params["b"][0] = 0.5
    conv.params["W"][1] = 0  # channel 1: dead
    conv.params["b"][1] = -1
    conv.params["W"][2] = 0  # channel 2: the largest inner pixel, 2 for most images
    conv.params["W"][2, 0, 1, 1] = 1
    conv.params["b"][2] = 0
    # coarse inputs: many images share their maximum in the other channels
    images = np.random.default_rng(2).integers(-2, 3, (150, 1, 8, 8)).astype(np.float32)
    images[::2] = np.minimum(images[::2], 1)  # half the images top out at 1
    images[[3, 140]] = np.nan  # NaN scores rank last, as in a sort, and do not stall the pass
    idx, scores, maps = ins.top_activations(model, images, "2.MaxPool2D", k=9)
    full = model.record(images)[2][1]
    brute = full.max(axis=(2, 3)).T
    expect = np.argsort(-brute, axis=1, kind="stable")[:, :9]
    np.testing.assert_array_equal(idx, expect)
    np.testing.assert_array_equal(idx[0], [0, 1, 2, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(idx[1], [0, 1, 2, 4, 5, 6, 7, 8, 9])
    assert 9 < (brute[2] == 2).sum() < len(images)  # ties at the cut, other scores among them
    np.testing.assert_allclose(scores, np.take_along_axis(brute, expect, axis=1), rtol=1e-6)
    for c in range(6):
        np.testing.assert_allclose(maps[c], full[idx[c], c], rtol=1e-5, atol=1e-6)
    nan_last = ins.top_activations(model, images[[3, 5]], "2.MaxPool2D", k=1)
    np.testing.assert_array_equal(nan_last[0], [[1]] * 6)
    assert idx.dtype == np.int64 and scores.dtype == maps.dtype == np.float32
    few = ins.top_activations(model, images[:4], "2.MaxPool2D", k=9)
    assert few[0].shape == (6, 4) and few[2].shape == (6, 4, 3, 3)


def test_embedding_is_pca_of_the_penultimate_layer():
    spec = [{"type": "Flatten"}, {"type": "Dense", "out_features": 6}, {"type": "ReLU"},
            {"type": "Dense", "out_features": 10}]
    model = build_model(spec, (1, 8, 8), seed=2)
    images = np.random.default_rng(1).standard_normal((300, 1, 8, 8)).astype(np.float32)
    coords, ratio = ins.embedding(model, images)
    feats = model.record(images)[2][1].astype(np.float64)
    feats -= feats.mean(axis=0)
    cov = np.cov(feats.T)
    evals = np.sort(np.linalg.eigvalsh(cov))[::-1]
    assert coords.shape == (300, 2)
    np.testing.assert_allclose(coords.var(axis=0, ddof=1), evals[:2], rtol=1e-4)
    np.testing.assert_allclose(ratio, evals[:2] / evals.sum(), rtol=1e-4)


def test_embedding_can_bring_the_predictions_of_the_same_pass(monkeypatch):
    monkeypatch.setattr(ins, "BATCH", 64)
    spec = [{"type": "Flatten"}, {"type": "Dense", "out_features": 6}, {"type": "ReLU"},
            {"type": "Dense", "out_features": 10}]
    model = build_model(spec, (1, 8, 8), seed=2)
    images = np.random.default_rng(1).standard_normal((300, 1, 8, 8)).astype(np.float32)
    coords, ratio = ins.embedding(model, images)
    coords2, ratio2, preds = ins.embedding(model, images, predictions=True)
    np.testing.assert_array_equal(coords2, coords)
    np.testing.assert_array_equal(ratio2, ratio)
    assert preds.dtype == np.int64
    np.testing.assert_array_equal(preds, model.forward(images, False).argmax(axis=1))


def test_explanations_flag_unhealthy_layers_only():
    assert ins.explain_layer(1e-3, 0.1) is None
    assert "too high" in ins.explain_layer(5e-2, float("nan"))
    assert "too low" in ins.explain_layer(1e-6, float("nan"))
    assert "no longer learn" in ins.explain_layer(1e-3, 0.8)
