"""Data and helpers shared by the tests of `keras_nachos.datasets`."""

import gzip
import os

import numpy as np
import tensorflow_datasets as tfds

tfds.disable_progress_bar()


def write_idx(path, array, compress):
    """Writes an IDX file by hand (uint8 or >i2), independently of read_idx."""
    codes = {np.dtype("u1"): 0x08, np.dtype(">i2"): 0x0B}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += np.asarray(array.shape, ">u4").tobytes()
    data = header + array.tobytes()
    opener = gzip.open if compress else open
    with opener(str(path) + (".gz" if compress else ""), "wb") as f:
        f.write(data)


def tiny_fashion_arrays(num_train=100, num_test=20):
    """Images whose first two pixels encode their index, labels i % 10."""

    def make(n, offset):
        ids = np.arange(offset, offset + n)
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 0, 0] = ids % 256
        images[:, 0, 1] = ids // 256
        images[:, 5:10, 5:10] = 255
        return images, (ids % 10).astype(np.uint8)

    return make(num_train, 0), make(num_test, num_train)


def write_tiny_fashion(directory, compress):
    (x_train, y_train), (x_test, y_test) = tiny_fashion_arrays()
    os.makedirs(directory, exist_ok=True)
    write_idx(directory / "train-images-idx3-ubyte", x_train, compress)
    write_idx(directory / "train-labels-idx1-ubyte", y_train, compress)
    write_idx(directory / "t10k-images-idx3-ubyte", x_test, compress)
    write_idx(directory / "t10k-labels-idx1-ubyte", y_test, compress)
    return directory


def image_ids(x):
    pixels = np.rint(x[:, 0, :2, 0] * 255).astype(int)
    return pixels[:, 0] + 256 * pixels[:, 1]


def forbid_downloads(monkeypatch):
    """Fails the test on any attempt to download with tensorflow-datasets."""
    original_load = tfds.load

    def guarded_load(*args, **kwargs):
        if kwargs.get("download", True):
            raise AssertionError("tfds.load was asked to download")
        return original_load(*args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("download_and_prepare was called")

    monkeypatch.setattr(tfds, "load", guarded_load)
    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", refuse
    )


def assert_names(info, argument, value):
    """The message names the argument and the value it received."""
    message = str(info.value)
    assert f"argument `{argument}`" in message
    assert f"Received: {argument}={value!r}" in message
    return message
