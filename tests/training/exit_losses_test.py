"""Tests of `keras_nachos.training.exit_losses`: a loss given by name or as a
function is reduced over the batch and weighted per sample, as Keras'
`compile` does."""

import keras
import numpy as np
import pytest

from keras_nachos.training.exit_losses import LossFunction
from keras_nachos.training.exit_losses import as_loss

Y_TRUE = np.array([0, 1, 1], "int32")
Y_PRED = np.array([[0.8, 0.2], [0.4, 0.6], [0.9, 0.1]], "float32")
PER_SAMPLE = -np.log([0.8, 0.6, 0.1])


def _value(loss, sample_weight=None):
    return float(keras.ops.convert_to_numpy(
        loss(Y_TRUE, Y_PRED, sample_weight=sample_weight)
    ))


def test_a_name_becomes_a_reduced_sample_weighted_loss():
    loss = as_loss("sparse_categorical_crossentropy")
    assert isinstance(loss, LossFunction)
    assert loss.name == "sparse_categorical_crossentropy"
    assert _value(loss) == pytest.approx(PER_SAMPLE.mean(), rel=1e-5)
    # The third argument is a weight, not `from_logits`.
    weights = np.array([1.0, 0.0, 2.0], "float32")
    assert _value(loss, weights) == pytest.approx(
        (PER_SAMPLE * weights).sum() / 3, rel=1e-5
    )


def test_a_function_keeps_its_name_or_becomes_loss():
    def squared_error(y_true, y_pred):
        return keras.ops.sum((y_pred - y_true) ** 2, axis=-1)

    loss = as_loss(squared_error)
    assert isinstance(loss, LossFunction) and loss.name == "squared_error"
    y = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    value = loss(y, np.array([[0.5, 0.5], [0.0, 0.0]], "float32"))
    assert float(keras.ops.convert_to_numpy(value)) == pytest.approx(
        (0.5 + 1.0) / 2
    )
    assert as_loss(lambda t, p: t).name == "loss"  # "<lambda>" is no identifier


def test_loss_instances_and_none_are_returned_as_they_are():
    instance = keras.losses.SparseCategoricalCrossentropy()
    assert as_loss(instance) is instance
    assert as_loss(None) is None


def test_unknown_names_raise_as_keras_does():
    with pytest.raises(ValueError, match="no_such_loss"):
        as_loss("no_such_loss")
