"""Tests of `keras_nachos.datasets.loading`."""

import numpy as np
import tensorflow as tf

from keras_nachos import datasets


def test_load_accepts_numpy_booleans_as_booleans():
    splits = datasets.load(
        "digits", as_dataset=np.True_, shuffle=np.False_, download=np.False_
    )

    assert isinstance(splits.train, tf.data.Dataset)
