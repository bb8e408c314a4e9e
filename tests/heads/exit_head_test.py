"""Tests of `keras_nachos.heads.exit_head`: what every head does (shapes,
confidence column, serialization) and the base class' own parts; each head's
MACs and argument checks are tested in its own file."""

import keras
import numpy as np
import pytest

from keras_nachos import ConvHead
from keras_nachos import GlobalPoolHead
from keras_nachos import MixedPoolHead
from keras_nachos.costs import count_macs
from keras_nachos.heads import ExitHead
from keras_nachos.heads import head_as_model
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


def test_the_base_head_is_a_softmax_classifier_with_a_confidence_column():
    head = ExitHead(3, confidence=True)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    out = np.asarray(head(x))
    kernel, bias = head.classifier.get_weights()
    logits = x @ kernel + bias
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out[:, :3], softmax, rtol=1e-5)
    c_kernel, c_bias = head.confidence_layer.get_weights()
    np.testing.assert_allclose(
        out[:, 3], (1 / (1 + np.exp(-(x @ c_kernel + c_bias))))[:, 0], rtol=1e-5
    )
    assert head.output_units == 4 and head.compute_output_shape((None, 5)) == (None, 4)
    shapes = [(layer.name, i, o) for layer, i, o in head.sublayer_shapes((1, 5))]
    assert shapes == [("classifier", (1, 5), (1, 3)), ("confidence", (1, 5), (1, 1))]
    # The MAC counter's model of the head: 5 x 3 + 5 x 1.
    assert count_macs(head_as_model(head, (1, 5))) == 20


def test_outputs_are_float32_under_mixed_precision():
    head = GlobalPoolHead(3, hidden_units=4, dtype="mixed_float16")
    out = head(np.zeros((2, 4, 4, 2), "float32"))
    assert head.output_dtype == "float32" and out.dtype == "float32"
    assert head.body[-1].compute_dtype == "float16"
    spec = head.compute_output_spec(keras.KerasTensor((2, 4, 4, 2)))
    assert spec.dtype == "float32" and spec.shape == (2, 3)
