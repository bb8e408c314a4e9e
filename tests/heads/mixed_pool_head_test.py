"""Tests of `keras_nachos.heads.mixed_pool_head`."""

import numpy as np
import pytest

import keras_nachos as kn
from keras_nachos import MixedPoolHead
from keras_nachos.costs import layer_macs as layer_macs_at
from keras_nachos.heads import MixedPooling2D
from tests.testing_utils import assert_invalid


def test_mixed_pooling_mixes_max_and_average():
    layer = MixedPooling2D(2)
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    out = np.asarray(layer(x))[0, :, :, 0]
    max_pool = np.array([[5, 7], [13, 15]])
    avg_pool = np.array([[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_allclose(out, 0.5 * max_pool + 0.5 * avg_pool)


def test_head_macs_by_hand():
    # MixedPoolHead (8, 8, 4), target 4: pool 2 -> 4x4x4 -> dense 64 -> 5.
    assert layer_macs_at(MixedPoolHead(5), (1, 8, 8, 4)) == 64 * 5


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"target_size": 0}, "target_size"),
        ({"target_size": 2.5}, "target_size"),
    ],
)
def test_heads(kwargs, argument):
    assert_invalid(argument, kn.MixedPoolHead, 4, **kwargs)
    assert_invalid("num_classes", kn.MixedPoolHead, 1)
    assert_invalid("num_classes", kn.MixedPoolHead, 4.0)
