"""Tests of `keras_nachos.heads.global_pool_head`."""

import numpy as np
import pytest

import keras_nachos as kn
from keras_nachos import GlobalPoolHead
from keras_nachos.costs import layer_macs as layer_macs_at
from tests.testing_utils import assert_invalid


def test_head_macs_by_hand():
    # GlobalPoolHead on (8, 8, 4): pool is free, dense 4 -> 5.
    assert layer_macs_at(GlobalPoolHead(5), (1, 8, 8, 4)) == 4 * 5
    assert layer_macs_at(GlobalPoolHead(5, confidence=True), (1, 8, 8, 4)) == 4 * 6
    # A hidden layer: 4 -> 7 -> 5.
    assert layer_macs_at(GlobalPoolHead(5, hidden_units=7), (1, 8, 8, 4)) == 4 * 7 + 7 * 5


@pytest.mark.parametrize("pooling, reduce", [("avg", np.mean), ("max", np.max)])
def test_pooling_then_classifier_by_hand(pooling, reduce):
    head = GlobalPoolHead(3, pooling=pooling)
    x = np.random.default_rng(1).normal(size=(2, 5, 6, 4)).astype("float32")
    out = np.asarray(head(x))
    kernel, bias = head.classifier.get_weights()
    logits = reduce(x, axis=(1, 2)) @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_feature_ranks():
    # No spatial axes: straight to the dense layers.
    head = GlobalPoolHead(3, hidden_units=2)
    assert head(np.zeros((2, 6), "float32")).shape == (2, 3)
    assert [layer.name for layer in head.body] == ["hidden"]
    # One and three spatial axes pool with the matching global layer.
    one = GlobalPoolHead(3, pooling="max")
    assert one(np.zeros((2, 7, 4), "float32")).shape == (2, 3)
    assert type(one.body[0]).__name__ == "GlobalMaxPooling1D"
    three = GlobalPoolHead(3)
    assert three(np.zeros((1, 2, 3, 4, 5), "float32")).shape == (1, 3)
    assert type(three.body[0]).__name__ == "GlobalAveragePooling3D"
    with pytest.raises(ValueError, match="argument `input_shape`"):
        GlobalPoolHead(3)(np.zeros((1, 2, 2, 2, 2, 2), "float32"))


def test_bad_pooling():
    with pytest.raises(ValueError, match="argument `pooling`"):
        GlobalPoolHead(3, pooling="sum")


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"hidden_units": 0}, "hidden_units"),
        ({"hidden_units": True}, "hidden_units"),
        ({"pooling": "median"}, "pooling"),
        ({"confidence": 1}, "confidence"),
    ],
)
def test_heads(kwargs, argument):
    assert_invalid(argument, kn.GlobalPoolHead, 4, **kwargs)
    assert_invalid("num_classes", kn.GlobalPoolHead, 1)
    assert_invalid("num_classes", kn.GlobalPoolHead, 4.0)
