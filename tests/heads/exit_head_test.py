"""Tests of `keras_nachos.heads.exit_head`: what every head does (shapes,
confidence column, serialization, MAC count, argument checks)."""

import numpy as np
import pytest

import keras_nachos as kn
from keras_nachos import ConvHead
from keras_nachos import GlobalPoolHead
from keras_nachos import MixedPoolHead
from keras_nachos.costs import layer_macs as layer_macs_at
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid
from tests.testing_utils import assert_round_trip


@pytest.mark.parametrize(
    "head",
    [
        GlobalPoolHead(5),
        GlobalPoolHead(5, hidden_units=6, pooling="max", confidence=True),
        MixedPoolHead(5, target_size=2),
        ConvHead(5, filters=(4, 6), pool_size=2, confidence=True),
    ],
)
def test_heads_shapes_and_serialization(head):
    x = np.random.rand(3, 8, 8, 4).astype("float32")
    out = np.asarray(head(x))
    units = 6 if head.confidence else 5
    assert out.shape == (3, units)
    np.testing.assert_allclose(out[:, :5].sum(axis=1), 1.0, rtol=1e-5)
    if head.confidence:
        assert np.all((out[:, 5] > 0) & (out[:, 5] < 1))
    clone = assert_round_trip(head, inputs=x)
    np.testing.assert_allclose(np.asarray(clone(x)), out, rtol=1e-6)


def test_head_macs_by_hand():
    # GlobalPoolHead on (8, 8, 4): pool is free, dense 4 -> 5.
    assert layer_macs_at(GlobalPoolHead(5), (1, 8, 8, 4)) == 4 * 5
    assert layer_macs_at(GlobalPoolHead(5, confidence=True), (1, 8, 8, 4)) == 4 * 6
    # ConvHead on (8, 8, 4) with pool 2: 4x4 maps, convs 4->3->2, dense 32->5.
    head = ConvHead(5, filters=(3, 2), pool_size=2)
    expected = 4 * 4 * 3 * 9 * 4 + 4 * 4 * 2 * 9 * 3 + 4 * 4 * 2 * 5
    assert layer_macs_at(head, (1, 8, 8, 4)) == expected
    # MixedPoolHead (8, 8, 4), target 4: pool 2 -> 4x4x4 -> dense 64 -> 5.
    assert layer_macs_at(MixedPoolHead(5), (1, 8, 8, 4)) == 64 * 5


def test_bad_head_arguments():
    with pytest.raises(ValueError, match="argument `pooling`"):
        GlobalPoolHead(3, pooling="sum")
    with pytest.raises(ValueError, match="argument `num_classes`"):
        ConvHead(1)
    with pytest.raises(ValueError, match="argument `filters`"):
        ConvHead(3, filters=())
    with pytest.raises(ValueError, match="ConvHead"):
        ConvHead(3)(np.zeros((2, 16)))


HEADS = [
    (kn.GlobalPoolHead, {"hidden_units": 0}, "hidden_units"),
    (kn.GlobalPoolHead, {"hidden_units": True}, "hidden_units"),
    (kn.GlobalPoolHead, {"pooling": "median"}, "pooling"),
    (kn.MixedPoolHead, {"target_size": 0}, "target_size"),
    (kn.MixedPoolHead, {"target_size": 2.5}, "target_size"),
    (kn.ConvHead, {"filters": ()}, "filters"),
    (kn.ConvHead, {"filters": (8, -1)}, "filters"),
    (kn.ConvHead, {"pool_size": True}, "pool_size"),
    (kn.ConvHead, {"pool_size": NAN}, "pool_size"),
    (kn.GlobalPoolHead, {"confidence": 1}, "confidence"),
]


@pytest.mark.parametrize("cls, kwargs, argument", HEADS)
def test_heads(cls, kwargs, argument):
    assert_invalid(argument, cls, 4, **kwargs)
    assert_invalid("num_classes", cls, 1)
    assert_invalid("num_classes", cls, 4.0)
