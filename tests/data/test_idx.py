import gzip

import numpy as np
import pytest

from cnnviz.data.idx import IDXError, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(7,), (3, 4), (2, 28, 28), (2, 3, 4, 5), (0, 28, 28)]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    else:
        a = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == shape
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable


def test_big_endian_header_and_data(tmp_path):
    path = tmp_path / "a"
    write_idx(path, np.array([[0x0102, -2]], dtype=np.int16))
    assert path.read_bytes() == bytes.fromhex("00000B02 00000001 00000002 0102 FFFE")


def test_gzip_detected_by_magic_not_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", a)
    (tmp_path / "renamed").write_bytes((tmp_path / "a.gz").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "renamed"), a)


def test_unsupported_dtype_on_write(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "a", np.arange(3, dtype=np.int64))


def _good_bytes(tmp_path):
    write_idx(tmp_path / "good", np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))
    return (tmp_path / "good").read_bytes()


def _check(path, *words):
    with pytest.raises(IDXError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_bad_magic(tmp_path):
    p = tmp_path / "bad-magic-idx3-ubyte"
    p.write_bytes(b"\x01\x02" + _good_bytes(tmp_path)[2:])
    _check(p, "magic")


def test_unknown_dtype_code(tmp_path):
    data = bytearray(_good_bytes(tmp_path))
    data[2] = 0x0A
    p = tmp_path / "code"
    p.write_bytes(bytes(data))
    _check(p, "0x0A")


def test_zero_dims(tmp_path):
    p = tmp_path / "zero"
    p.write_bytes(bytes([0, 0, 8, 0]))
    _check(p, "0 dimensions")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    data = _good_bytes(tmp_path)[:-5]
    p = tmp_path / ("trunc.gz" if gz else "trunc")
    p.write_bytes(gzip.compress(data) if gz else data)
    msg = _check(p, "expected 24 bytes", "found 19", "truncated", "download")
    assert "(2, 3, 4)" in msg


def test_truncated_header(tmp_path):
    p = tmp_path / "hdr"
    p.write_bytes(_good_bytes(tmp_path)[:10])
    _check(p, "header", "truncated")
    p.write_bytes(b"\x00\x00")
    _check(p, "too short")


def test_trailing_bytes(tmp_path):
    p = tmp_path / "trail"
    p.write_bytes(_good_bytes(tmp_path) + b"junk")
    _check(p, "4 trailing bytes")


def test_corrupt_gzip(tmp_path):
    gz = bytearray(gzip.compress(_good_bytes(tmp_path) * 50))
    gz[len(gz) // 2] ^= 0xFF
    p = tmp_path / "corrupt.gz"
    p.write_bytes(bytes(gz))
    _check(p, "gzip")


def test_cut_gzip(tmp_path):
    gz = gzip.compress(_good_bytes(tmp_path))
    p = tmp_path / "cut.gz"
    p.write_bytes(gz[: len(gz) - 6])
    _check(p, "gzip", "truncated")


def test_missing_file(tmp_path):
    _check(tmp_path / "nope", "not found")
