"""Tests of `keras_nachos.datasets.idx_files`."""

import gzip

import numpy as np
import pytest

from keras_nachos import datasets
from tests.datasets import testing_utils


def _idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim])
    return header + np.asarray(array.shape, ">u4").tobytes() + array.tobytes()


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    shorts = np.array([-2, 300, 7], ">i2")
    testing_utils.write_idx(tmp_path / "images", images, compress)
    testing_utils.write_idx(tmp_path / "shorts", shorts, compress)
    suffix = ".gz" if compress else ""

    read_images = datasets.read_idx(tmp_path / f"images{suffix}")
    read_shorts = datasets.read_idx(tmp_path / f"shorts{suffix}")

    np.testing.assert_array_equal(read_images, images)
    assert read_images.dtype == np.uint8
    np.testing.assert_array_equal(read_shorts, [-2, 300, 7])
    assert read_shorts.dtype == np.int16


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad_magic").write_bytes(b"\x01\x00\x08\x01" + bytes(4))
    with pytest.raises(ValueError, match="magic number"):
        datasets.read_idx(tmp_path / "bad_magic")
    (tmp_path / "bad_type").write_bytes(b"\x00\x00\x42\x01" + bytes(4))
    with pytest.raises(ValueError, match="unknown type code"):
        datasets.read_idx(tmp_path / "bad_type")
    # Declares 5 uint8 values but holds 3.
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(tmp_path / "short")


def test_read_idx_rejects_a_path_of_the_wrong_type():
    with pytest.raises(TypeError, match="argument `path`") as info:
        datasets.read_idx(123)
    testing_utils.assert_names(info, "path", 123)


@pytest.mark.parametrize("kind", ["missing", "directory", "empty"])
def test_read_idx_rejects_a_path_that_is_not_a_file(tmp_path, kind):
    path = {
        "missing": tmp_path / "no-such-idx1-ubyte",
        "directory": tmp_path,
        "empty": "",
    }[kind]

    with pytest.raises(ValueError, match="argument `path`") as info:
        datasets.read_idx(path)

    message = testing_utils.assert_names(info, "path", path)
    if kind == "missing":
        assert "does not exist" in message


@pytest.mark.parametrize("kind", ["data", "header", "gzip stream", "gzip"])
def test_read_idx_rejects_truncated_files(tmp_path, kind):
    full = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    if kind == "data":  # Declares 24 values, holds 20.
        path, content = tmp_path / "short", full[:-4]
    elif kind == "header":  # Declares 3 dimensions, holds one.
        path, content = tmp_path / "short", full[:8]
    elif kind == "gzip stream":
        path, content = tmp_path / "short.gz", gzip.compress(full)[:-12]
    else:  # Named .gz but not gzipped.
        path, content = tmp_path / "plain.gz", full
    path.write_bytes(content)

    with pytest.raises(ValueError, match="argument `path`") as info:
        datasets.read_idx(path)

    message = testing_utils.assert_names(info, "path", path)
    assert str(path) in message
    if kind != "gzip":
        assert "truncated" in message
