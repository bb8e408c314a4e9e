"""Tests of `keras_nachos.datasets.resizing`."""

from keras_nachos import datasets
from tests.datasets import testing_utils


def test_digits_resize():
    splits = datasets.load("digits", image_size=(16, 16))

    assert splits.train[0].shape[1:] == (16, 16, 1)
    assert splits.input_shape == (16, 16, 1)
    assert 0.0 <= splits.test[0].min() and splits.test[0].max() <= 1.0


def test_fashion_mnist_image_size_and_no_validation(
    tmp_path, no_fashion_mnist_elsewhere
):
    directory = testing_utils.write_tiny_fashion(tmp_path, compress=True)

    splits = datasets.load(
        "fashion_mnist",
        data_dir=directory,
        image_size=(14, 14),
        validation_split=0.0,
    )

    assert splits.validation is None
    assert splits.train[0].shape == (100, 14, 14, 1)
    assert splits.input_shape == (14, 14, 1)
    assert 0.0 <= splits.train[0].min() and splits.train[0].max() <= 1.0
