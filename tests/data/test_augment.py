from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cnnviz.data.augment import AUGMENT_LEVELS, Augment, _warp

FILL = -0.5  # not 0, so that a test sees where fill comes in


def _batch(n=4, c=1, h=7, w=9, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32)


def _blob(size=28, sigma=3.0):
    r = np.arange(size, dtype=np.float32) - (size - 1) / 2
    return np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2)).astype(np.float32)


def _matrices(n, a, b, c, d, tx=0.0, ty=0.0):
    return np.tile(np.array([[a, b, tx], [c, d, ty]], dtype=np.float64), (n, 1, 1))


def test_strength_zero_returns_input_itself():
    x = _batch()
    assert Augment(strength=0).apply(x, np.random.default_rng(0)) is x


def test_identity_transform_returns_x():
    x = _batch(c=2)
    out = Augment(max_shift=0, max_rotation=0, max_scale=0).apply(x, np.random.default_rng(0))
    assert out is not x and out.dtype == np.float32
    np.testing.assert_allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("tx, ty, axis", [(-1, 0, -1), (1, 0, -1), (0, -1, -2), (0, 1, -2)])
def test_warp_integer_shift_is_roll_with_fill(tx, ty, axis):
    # input = output + t, so the content moves by -t.
    x = _batch(c=2)
    step = -(tx + ty)
    expected = np.roll(x, step, axis=axis)
    edge = [slice(None)] * 4
    edge[axis] = 0 if step > 0 else -1
    expected[tuple(edge)] = FILL
    out = _warp(x, _matrices(len(x), 1, 0, 0, 1, tx, ty), FILL)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_warp_quarter_turn_is_rot90():
    x = _batch(h=8, w=8)
    out = _warp(x, _matrices(len(x), 0, -1, 1, 0), FILL)
    np.testing.assert_allclose(out, np.rot90(x, axes=(-2, -1)), atol=1e-6)


def test_warp_mirror_is_reversed_columns():
    x = _batch(c=3)
    out = _warp(x, _matrices(len(x), -1, 0, 0, 1), FILL)
    np.testing.assert_allclose(out, x[..., ::-1], atol=1e-6)


def test_warp_half_pixel_shift_averages_neighbours_and_far_shift_is_all_fill():
    x = _batch()
    out = _warp(x, _matrices(len(x), 1, 0, 0, 1, 0.5, 0), FILL)
    np.testing.assert_allclose(out[..., :-1], (x[..., :-1] + x[..., 1:]) / 2, atol=1e-6)
    np.testing.assert_allclose(out[..., -1], (x[..., -1] + FILL) / 2, atol=1e-6)
    far = _warp(x, _matrices(len(x), 1, 0, 0, 1, 100.0, -40.0), FILL)
    assert np.all(far == np.float32(FILL))


def test_warp_takes_one_fill_per_channel():
    x = _batch(c=3)
    fill = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    far = _warp(x, _matrices(len(x), 1, 0, 0, 1, 50.0, 0.0), fill)
    np.testing.assert_array_equal(far, np.broadcast_to(fill[:, None, None], x.shape))


def test_same_seed_same_batch_and_other_seed_other_batch():
    x = _batch(n=8, h=28, w=28)
    aug = Augment(flip=True)
    a = aug.apply(x, np.random.default_rng(7), FILL)
    b = aug.apply(x, np.random.default_rng(7), FILL)
    c = aug.apply(x, np.random.default_rng(8), FILL)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Each image gets its own transform.
    same = aug.apply(np.repeat(x[:1], 8, axis=0), np.random.default_rng(7), FILL)
    assert not np.allclose(same[0], same[1])


def _decompose(m):
    """(n, 2, 3) -> shift (n, 2), angle in degrees (n,), zoom (n,), mirrored (n,)."""
    lin, t = m[:, :, :2], m[:, :, 2]
    det = np.linalg.det(lin)
    mirrored = det < 0
    unflipped = lin.copy()
    unflipped[mirrored, 0] *= -1  # F R(-theta) / zoom -> R(-theta) / zoom
    angle = np.degrees(np.arctan2(unflipped[:, 0, 1], unflipped[:, 0, 0]))
    zoom = 1 / np.sqrt(np.abs(det))
    shift = -np.einsum("nij,nj->ni", np.linalg.inv(lin), t)
    return shift, angle, zoom, mirrored


@pytest.mark.parametrize("flip", [False, True])
def test_drawn_parameters_stay_within_bounds_and_fill_them(flip):
    aug = Augment(strength=0.5, max_shift=3.0, max_rotation=20.0, max_scale=0.2, flip=flip)
    m = aug.transforms(4000, np.random.default_rng(1))
    assert m.shape == (4000, 2, 3)
    shift, angle, zoom, mirrored = _decompose(m)
    for values, bound in ((shift, 1.5), (angle, 10.0), (zoom - 1, 0.1)):
        assert np.abs(values).max() <= bound + 1e-9
        assert np.abs(values).max() > 0.95 * bound  # the whole range is used
    det = np.abs(np.linalg.det(m[:, :, :2]))
    assert det.min() >= (1 / 1.1) ** 2 - 1e-9 and det.max() <= (1 / 0.9) ** 2 + 1e-9
    assert abs(mirrored.mean() - 0.5) < 0.05 if flip else not mirrored.any()


def test_shift_moves_the_content_by_the_drawn_shift():
    x = np.broadcast_to(_blob(sigma=2.0), (32, 1, 28, 28)).copy()
    aug = Augment(max_shift=3.0, max_rotation=0, max_scale=0)
    shift, _, _, _ = _decompose(aug.transforms(32, np.random.default_rng(2)))
    out = aug.apply(x, np.random.default_rng(2))[:, 0]
    r = np.arange(28) - 13.5
    moved = np.stack([out.sum(1) @ r, out.sum(2) @ r], axis=1) / out.sum(axis=(1, 2))[:, None]
    np.testing.assert_allclose(moved, shift, atol=0.02)  # (dx, dy) = (columns, rows)


def test_transforms_are_what_apply_uses():
    x = _batch(n=5, h=12, w=12)
    aug = Augment(flip=True)
    expected = _warp(x, aug.transforms(5, np.random.default_rng(3)), FILL)
    np.testing.assert_array_equal(aug.apply(x, np.random.default_rng(3), FILL), expected)


def test_blob_mass_is_kept_and_shape_and_dtype_too():
    x = np.broadcast_to(_blob(), (64, 1, 28, 28)).copy()
    out = Augment(max_scale=0.05).apply(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.float32
    mass = out.sum(axis=(1, 2, 3)) / x[0].sum()
    assert np.all(np.abs(mass - 1) < 0.15)
    assert not np.allclose(out, x)
    # At full strength the mass follows the area, zoom ** 2, closely.
    aug = Augment(strength=1.5)
    _, _, zoom, _ = _decompose(aug.transforms(64, np.random.default_rng(1)))
    mass = aug.apply(x, np.random.default_rng(1)).sum(axis=(1, 2, 3)) / x[0].sum()
    np.testing.assert_allclose(mass, zoom**2, rtol=0.01)


def test_channels_are_transformed_alike():
    one = np.stack([_blob(sigma=2.0) * (1 + np.arange(28, dtype=np.float32) / 28)] * 6)[:, None]
    three = np.repeat(one, 3, axis=1)
    aug = Augment(strength=1.5, flip=True)
    out1 = aug.apply(one, np.random.default_rng(5))
    out3 = aug.apply(three, np.random.default_rng(5))
    for k in range(3):
        np.testing.assert_array_equal(out3[:, k], out1[:, 0])


def test_each_call_returns_its_own_array_and_leaves_x_alone():
    x = _batch(n=6, c=2, h=10, w=10)
    kept = x.copy()
    aug = Augment(strength=2.0)
    a = aug.apply(x, np.random.default_rng(0))
    a_kept = a.copy()
    b = aug.apply(x, np.random.default_rng(1))
    assert not np.shares_memory(a, b)
    np.testing.assert_array_equal(a, a_kept)
    np.testing.assert_array_equal(x, kept)


@pytest.mark.parametrize("shape", [(0, 1, 28, 28), (3, 2, 5, 1), (2, 1, 1, 6), (5, 3, 9, 13)])
def test_odd_shapes(shape):
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = Augment().apply(x, np.random.default_rng(0))
    assert out.shape == shape and out.dtype == np.float32


def test_threads_do_not_share_working_arrays():
    aug = Augment(flip=True)
    x = _batch(n=128, c=1, h=28, w=28)

    def run(seed):
        return aug.apply(x, np.random.default_rng(seed))

    serial = [run(seed) for seed in range(16)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(run, range(16)))
    for one, other in zip(serial, parallel):
        np.testing.assert_array_equal(one, other)


def test_levels_are_valid_strengths():
    assert AUGMENT_LEVELS["off"] == 0
    for strength in AUGMENT_LEVELS.values():
        Augment(strength=strength)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"strength": -1}, "strength"),
        ({"max_shift": -0.5}, "max_shift"),
        ({"max_rotation": float("nan")}, "max_rotation"),
        ({"max_scale": -0.1}, "max_scale"),
        ({"max_scale": 1.0}, "max_scale"),
        ({"max_shift": float("inf")}, "max_shift"),
        ({"max_scale": 0.6, "strength": 2.0}, "max_scale times strength"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"augment {field} must be") as info:
        Augment(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)
