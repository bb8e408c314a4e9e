"""Tests of `keras_nachos.errors`: Keras' wording, exactly."""

import numpy as np

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.errors import one_of


def test_invalid_value_in_keras_wording():
    error = invalid_value("rate", "a float value between 0 and 1", 1.5)
    assert type(error) is ValueError
    assert str(error) == (
        "Invalid value received for argument `rate`. Expected a float value "
        "between 0 and 1. Received: rate=1.5"
    )
    # The value is shown with repr: a string keeps its quotes.
    assert str(invalid_value("pooling", '"avg" or "max"', "sum")).endswith(
        "Received: pooling='sum'"
    )


def test_invalid_type_names_the_type_received():
    error = invalid_type("seed", "an integer", 1.0)
    assert type(error) is TypeError
    assert str(error) == (
        "Invalid type received for argument `seed`. Expected an integer. "
        "Received: seed=1.0 of type float"
    )
    assert str(invalid_type("x", "a list", np.int64(3))).endswith(
        "Received: x=np.int64(3) of type int64"
    )


def test_one_of_lists_the_values_sorted():
    assert one_of(["sdn", "conv", "global_pool"]) == (
        "one of: 'conv', 'global_pool', 'sdn'"
    )
    assert one_of({"b": 1, "a": 2}) == "one of: 'a', 'b'"
    assert str(invalid_value("head", one_of(["sdn"]), "fancy")) == (
        "Invalid value received for argument `head`. Expected one of: 'sdn'. "
        "Received: head='fancy'"
    )
