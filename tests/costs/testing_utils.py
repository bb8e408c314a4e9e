"""Helpers shared by the tests of `keras_nachos.costs`."""

import warnings

import keras

from keras_nachos.costs import count_macs


def single(layer, *shapes):
    """A functional model applying `layer` to one `Input` per shape."""
    inputs = [keras.Input(s) for s in shapes]
    outputs = layer(inputs[0] if len(inputs) == 1 else inputs)
    return keras.Model(inputs, outputs)


def analytic_quietly(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # No fallback expected.
        return count_macs(model)
