"""Tests of `keras_nachos.training.support_set`."""

import numpy as np

from keras_nachos import split_support_set


def test_split_support_set_is_class_balanced():
    y = np.repeat(np.arange(4), 50)
    x = np.arange(200)
    (xt, yt), (xs, ys) = split_support_set(x, y, 0.1, seed=0)
    assert np.bincount(ys).tolist() == [5, 5, 5, 5]
    assert len(set(xs) & set(xt)) == 0 and len(xs) + len(xt) == 200
