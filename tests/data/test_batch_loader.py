import json

import numpy as np
import pytest

from cnnviz.data.loader import (
    MNIST_MEAN,
    MNIST_STD,
    BatchIterator,
    denormalize,
    normalize,
    split_validation,
)


def test_normalize_shape_and_values():
    imgs = np.array([[[0, 255]]], dtype=np.uint8).repeat(3, 0)  # (3, 1, 2)
    x = normalize(imgs)
    assert x.shape == (3, 1, 1, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], [-MNIST_MEAN / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD],
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(denormalize(x)[:, 0], imgs / 255.0, atol=1e-6)


def test_normalize_float_input_taken_as_unit_range():
    x = normalize(np.ones((2, 1, 4, 4), np.float32))
    np.testing.assert_allclose(x, (1 - MNIST_MEAN) / MNIST_STD, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        normalize(np.zeros((28, 28), np.uint8))


def test_split_validation_disjoint_and_seeded():
    x = np.arange(100)[:, None] * np.ones((1, 3), int)
    y = np.arange(100)
    tx, ty, vx, vy = split_validation(x, y, 20, seed=5)
    assert len(tx) == 80 and len(vx) == 20
    assert set(ty).isdisjoint(vy) and set(ty) | set(vy) == set(range(100))
    np.testing.assert_array_equal(tx[:, 0], ty)  # images stay paired with labels
    again = split_validation(x, y, 20, seed=5)
    np.testing.assert_array_equal(again[3], vy)
    assert not np.array_equal(split_validation(x, y, 20, seed=6)[3], vy)
    assert not np.array_equal(vy, np.arange(80, 100))  # random, not the tail
    with pytest.raises(ValueError, match="n_val"):
        split_validation(x, y, 100)


def _epoch(it):
    return [yb.copy() for _, yb in it]


def test_len_and_one_epoch_covers_everything():
    x, y = np.arange(10)[:, None], np.arange(10)
    it = BatchIterator(x, y, batch_size=4, seed=1)
    assert len(it) == 3
    batches = _epoch(it)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert it.epoch == 1 and it.position == 0
    assert len(BatchIterator(x, y, 4, drop_last=True)) == 2


def test_batches_pair_x_with_y():
    x = np.arange(50).reshape(50, 1) * 10
    it = BatchIterator(x, np.arange(50), batch_size=7, seed=3)
    for xb, yb in it:
        np.testing.assert_array_equal(xb[:, 0], yb * 10)


def test_seeded_order_and_new_permutation_each_epoch():
    x, y = np.zeros((100, 2)), np.arange(100)
    a = BatchIterator(x, y, 10, seed=42)
    b = BatchIterator(x, y, 10, seed=42)
    ea1, eb1 = _epoch(a), _epoch(b)
    assert all(np.array_equal(p, q) for p, q in zip(ea1, eb1, strict=True))
    ea2 = _epoch(a)
    assert not np.array_equal(np.concatenate(ea1), np.concatenate(ea2))
    c = BatchIterator(x, y, 10, seed=43)
    assert not np.array_equal(np.concatenate(_epoch(c)), np.concatenate(ea1))
    d = BatchIterator(x, y, 10, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(_epoch(d)), np.arange(100))


def test_next_batch_flags_epoch_end():
    it = BatchIterator(np.zeros(5), np.arange(5), 2)
    flags = [it.next_batch()[2] for _ in range(6)]
    assert flags == [False, False, True, False, False, True]
    assert it.epoch == 2


def test_resume_mid_epoch_through_json():
    x, y = np.zeros((23, 1)), np.arange(23)
    ref = BatchIterator(x, y, 5, seed=7)
    for _ in range(7):  # into the second epoch (5 batches per epoch)
        ref.next_batch()
    state = json.loads(json.dumps(ref.state_dict()))
    assert state["epoch"] == 1 and state["position"] == 2
    expected = [ref.next_batch()[1] for _ in range(9)]  # crosses into epoch 3

    resumed = BatchIterator(x, y, 5, seed=0)  # seed comes from the state
    resumed.load_state_dict(state)
    got = [resumed.next_batch()[1] for _ in range(9)]
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)
    assert (resumed.epoch, resumed.position) == (ref.epoch, ref.position)


def test_load_state_mismatch_is_explained():
    a = BatchIterator(np.zeros(10), np.arange(10), 5)
    b = BatchIterator(np.zeros(12), np.arange(12), 5)
    with pytest.raises(ValueError, match="num_samples=10"):
        b.load_state_dict(a.state_dict())
    bad = dict(a.state_dict(), position=9)
    with pytest.raises(ValueError, match="position"):
        a.load_state_dict(bad)
