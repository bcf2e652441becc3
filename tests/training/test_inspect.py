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


def test_explanations_flag_unhealthy_layers_only():
    assert ins.explain_layer(1e-3, 0.1) is None
    assert "too high" in ins.explain_layer(5e-2, float("nan"))
    assert "too low" in ins.explain_layer(1e-6, float("nan"))
    assert "no longer learn" in ins.explain_layer(1e-3, 0.8)
