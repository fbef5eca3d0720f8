"""IDX files: round trip, validation of magic numbers and sizes."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from pysim.errors import InputError
from quant.data import idx_bytes, parse_idx, read_idx, write_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip_every_type(tmp_path, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.random((3, 4, 5)) * 100).astype(dtype)
    write_idx(tmp_path / "a.idx", arr)
    back = read_idx(tmp_path / "a.idx")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, arr)


def test_idx_gzip_round_trip_is_reproducible(tmp_path):
    arr = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "a-idx3-ubyte.gz", arr)
    write_idx(tmp_path / "b-idx3-ubyte.gz", arr)
    raw = (tmp_path / "a-idx3-ubyte.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw == (tmp_path / "b-idx3-ubyte.gz").read_bytes()  # no timestamp inside
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz"), arr)


def test_idx_header_is_the_standard_one():
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert data[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert len(data) == 16 + 2 * 28 * 28
    assert idx_bytes(np.array([1, 2], np.int32))[8:] == b"\x00\x00\x00\x01\x00\x00\x00\x02"


def test_idx_truncated_data_is_refused(tmp_path):
    data = idx_bytes(np.arange(100, dtype=np.uint8).reshape(10, 10))
    (tmp_path / "t").write_bytes(data[:-1])
    with pytest.raises(InputError, match=r"t: truncated IDX file .*need 100 data bytes, "
                                         r"found 99"):
        read_idx(tmp_path / "t")


def test_idx_truncated_header_is_refused():
    with pytest.raises(InputError, match="truncated IDX file"):
        parse_idx(b"\x00\x00\x08\x03\x00\x00\x00\x02", "x")


def test_idx_trailing_bytes_are_refused():
    with pytest.raises(InputError, match="1 bytes after the data"):
        parse_idx(idx_bytes(np.zeros(4, np.uint8)) + b"\x00", "x")


def test_idx_wrong_magic_is_refused():
    with pytest.raises(InputError, match="not an IDX file"):
        parse_idx(b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", "x")
    with pytest.raises(InputError, match="type code 0x07 is unknown"):
        parse_idx(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "x")
    with pytest.raises(InputError, match="0 dimensions"):
        parse_idx(b"\x00\x00\x08\x00", "x")
    with pytest.raises(InputError, match="only 2 bytes"):
        parse_idx(b"\x00\x00", "x")


def test_idx_broken_gzip_is_refused(tmp_path):
    packed = gzip.compress(idx_bytes(np.zeros(1000, np.uint8)))
    (tmp_path / "g.gz").write_bytes(packed[:-20])
    with pytest.raises(InputError, match="broken gzip data"):
        read_idx(tmp_path / "g.gz")


def test_idx_missing_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        read_idx(tmp_path / "nope")


def test_idx_wrong_dtype_cannot_be_written():
    with pytest.raises(InputError, match="IDX cannot store dtype int64"):
        idx_bytes(np.zeros(3, np.int64))
