"""Tests of `keras_nachos.datasets.tf_data`."""

import numpy as np
import tensorflow as tf

from keras_nachos import datasets


def test_digits_as_dataset():
    arrays = datasets.load("digits")
    splits = datasets.load("digits", as_dataset=True, batch_size=32)

    x, y = next(iter(splits.train))
    assert x.shape == (32, 8, 8, 1) and x.dtype == tf.float32
    assert y.shape == (32,) and y.dtype == tf.int32
    # Train is shuffled, test is not; nothing is lost.
    train_labels = np.concatenate([y for _, y in splits.train])
    np.testing.assert_array_equal(
        np.bincount(train_labels), np.bincount(arrays.train[1])
    )
    test_x = np.concatenate([x for x, _ in splits.test])
    np.testing.assert_array_equal(test_x, arrays.test[0])
    assert splits.validation.element_spec[0].shape.as_list() == [None, 8, 8, 1]
