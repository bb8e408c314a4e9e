"""Tests of `keras_nachos.heads.conv_head`."""

import numpy as np
import pytest

import keras_nachos as kn
from keras_nachos import ConvHead
from keras_nachos.costs import layer_macs as layer_macs_at
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid


def test_head_macs_by_hand():
    # ConvHead on (8, 8, 4) with pool 2: 4x4 maps, convs 4->3->2, dense 32->5.
    head = ConvHead(5, filters=(3, 2), pool_size=2)
    expected = 4 * 4 * 3 * 9 * 4 + 4 * 4 * 2 * 9 * 3 + 4 * 4 * 2 * 5
    assert layer_macs_at(head, (1, 8, 8, 4)) == expected
    # No pooling: 8x8 maps; "same" pooling of an odd map rounds up (5 -> 3).
    head = ConvHead(5, filters=(3,), pool_size=1)
    assert layer_macs_at(head, (1, 8, 8, 4)) == 8 * 8 * 3 * 9 * 4 + 8 * 8 * 3 * 5
    head = ConvHead(5, filters=(3,), pool_size=2)
    assert layer_macs_at(head, (1, 5, 5, 4)) == 3 * 3 * 3 * 9 * 4 + 3 * 3 * 3 * 5


def test_body_layers_and_config():
    head = ConvHead(4, filters=(2, 3, 5), pool_size=4)
    head(np.zeros((1, 8, 8, 1), "float32"))
    assert [layer.name for layer in head.body] == [
        "pool", "conv_1", "conv_2", "conv_3", "flatten"
    ]
    assert [layer.filters for layer in head.body[1:4]] == [2, 3, 5]
    assert head.body[0].pool_size == (4, 4)
    config = head.get_config()
    assert (config["filters"], config["pool_size"]) == ([2, 3, 5], 4)
    unpooled = ConvHead(4, filters=(2,))
    unpooled(np.zeros((1, 8, 8, 1), "float32"))
    assert [layer.name for layer in unpooled.body] == ["conv_1", "flatten"]


def test_bad_conv_head_arguments():
    with pytest.raises(ValueError, match="argument `num_classes`"):
        ConvHead(1)
    with pytest.raises(ValueError, match="argument `filters`"):
        ConvHead(3, filters=())
    with pytest.raises(ValueError, match="ConvHead"):
        ConvHead(3)(np.zeros((2, 16)))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"filters": ()}, "filters"),
        ({"filters": (8, -1)}, "filters"),
        ({"pool_size": True}, "pool_size"),
        ({"pool_size": NAN}, "pool_size"),
    ],
)
def test_heads(kwargs, argument):
    assert_invalid(argument, kn.ConvHead, 4, **kwargs)
    assert_invalid("num_classes", kn.ConvHead, 1)
    assert_invalid("num_classes", kn.ConvHead, 4.0)
