"""Tests of `keras_nachos.datasets.digits`."""

import numpy as np

from keras_nachos import datasets


def test_digits_shapes_and_splits():
    splits = datasets.load("digits")

    x_train, y_train = splits.train
    parts = [splits.train, splits.validation, splits.test]
    assert sum(len(y) for _, y in parts) == 1797
    assert len(splits.test[1]) == 359  # 20% of 1,797, stratified.
    assert len(splits.validation[1]) == 144  # 10% of the remaining 1,438.
    assert x_train.shape[1:] == (8, 8, 1) and x_train.dtype == np.float32
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert splits.input_shape == (8, 8, 1)
    assert splits.num_classes == 10
    assert splits.class_names == [str(i) for i in range(10)]
    assert set(np.unique(splits.test[1])) == set(range(10))
