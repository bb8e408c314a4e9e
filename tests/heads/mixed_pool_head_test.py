"""Tests of `keras_nachos.heads.mixed_pool_head`."""

import numpy as np

from keras_nachos.heads import MixedPooling2D


def test_mixed_pooling_mixes_max_and_average():
    layer = MixedPooling2D(2)
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    out = np.asarray(layer(x))[0, :, :, 0]
    max_pool = np.array([[5, 7], [13, 15]])
    avg_pool = np.array([[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_allclose(out, 0.5 * max_pool + 0.5 * avg_pool)
