import numpy as np
import pytest

from cnnviz.data.drawing import preprocess_drawing, resize


def _com(img):
    i = np.arange(img.shape[0])
    j = np.arange(img.shape[1])
    m = img.sum()
    return (img.sum(1) @ i) / m, (img.sum(0) @ j) / m


def _bbox(img, thr=0.0):
    ink = img > thr
    rows = np.flatnonzero(ink.any(1))
    cols = np.flatnonzero(ink.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_square_blob_off_centre():
    img = np.zeros((200, 300), np.uint8)
    img[20:80, 200:260] = 255
    out = preprocess_drawing(img)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() == pytest.approx(1.0)
    cy, cx = _com(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(_bbox(out)) == 20


def test_centre_of_mass_not_box_centre():
    """An L shape: its mass sits left of and below its box centre; the mass is centred."""
    img = np.zeros((150, 150))
    img[20:120, 20:70] = 1.0  # thick vertical bar
    img[105:120, 20:120] = 1.0  # foot
    out = preprocess_drawing(img)
    cy, cx = _com(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert _bbox(out) == (20, 20)  # nothing cut
    cols = np.flatnonzero(out.any(0))
    assert abs((cols[0] + cols[-1]) / 2 - 14) > 2  # the box itself is off-centre


def test_very_lopsided_shape_is_centred_like_mnist():
    """Mass far from the box centre: centred anyway, the far rim is clipped, no crash."""
    img = np.zeros((150, 150))
    img[20:120, 20:50] = 1.0
    img[116:120, 20:120] = 1.0
    out = preprocess_drawing(img)
    cy, cx = _com(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert out[:, -1].any()  # the foot reaches the right border


def test_tall_stroke_keeps_aspect():
    img = np.zeros((300, 200))
    img[50:250, 90:110] = 1.0  # 200 tall, 20 wide: 10:1
    out = preprocess_drawing(img)
    h, w = _bbox(out, 0.05)
    assert h == 20 and w in (2, 3)
    cy, cx = _com(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_small_drawing_is_scaled_up():
    img = np.zeros((40, 40))
    img[10:15, 20:25] = 1.0  # 5x5
    out = preprocess_drawing(img)
    assert _bbox(out, 0.5) == (20, 20)


def test_black_on_white_is_inverted():
    white = np.full((120, 120), 255, np.uint8)
    white[30:90, 50:70] = 0
    black = 255 - white
    np.testing.assert_allclose(preprocess_drawing(white), preprocess_drawing(black), atol=1e-6)
    assert preprocess_drawing(white).sum() > 50


def test_unit_and_byte_ranges_agree():
    img = np.zeros((64, 64), np.uint8)
    img[10:50, 30:36] = 200
    a = preprocess_drawing(img)
    b = preprocess_drawing(img.astype(np.float64) / 255.0)
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("img", [np.zeros((50, 70)), np.full((30, 30), 255, np.uint8),
                                 np.zeros((0, 0))])  # fmt: skip
def test_empty_gives_zeros(img):
    out = preprocess_drawing(img)
    assert out.shape == (28, 28) and not out.any()


def test_rejects_non_image():
    with pytest.raises(ValueError, match="2-D"):
        preprocess_drawing(np.zeros(10))


def test_resize_area_preserves_mean_and_constant():
    rng = np.random.default_rng(0)
    a = rng.random((60, 45))
    small = resize(a, 20, 15)
    assert small.shape == (20, 15)
    assert small.mean() == pytest.approx(a.mean(), rel=1e-9)
    np.testing.assert_allclose(resize(np.full((7, 3), 0.5), 20, 9), 0.5)
