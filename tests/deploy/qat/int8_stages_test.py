"""Tests of `keras_nachos.deploy.qat.int8_stages`: what the worker measures
in a converted stage (the stages themselves are cut and converted in the
worker: tests/deploy/qat/export_test.py)."""

import keras
import numpy as np

from keras_nachos.deploy.export import convert_stage
from keras_nachos.deploy.qat import int8_stages


def _two_dense_layers():
    inputs = keras.Input((4,), name="image")
    hidden = keras.layers.Dense(6, activation="relu", name="sparse")
    outputs = keras.layers.Dense(3, name="dense")(hidden(inputs))
    model = keras.Model(inputs, outputs)
    # Half the first kernel's weights are zeros; no weight rounds to zero
    # in int8 (each kernel's weights are +-1 or 0).
    signs = np.where(np.arange(24).reshape(4, 6) % 2 == 0, 1.0, -1.0)
    hidden.kernel.assign(signs * (np.arange(24).reshape(4, 6) % 4 < 2))
    model.get_layer("dense").kernel.assign(np.ones((6, 3)) * [1.0, -1.0, 1.0])
    return model


def test_weight_sparsity_and_float_ops_of_converted_stages():
    model = _two_dense_layers()
    samples = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    int8 = convert_stage(model, "int8", samples)
    float32 = convert_stage(model)
    for flatbuffer in (int8, float32):
        sparsity = int8_stages.weight_sparsity(flatbuffer)
        assert sorted(sparsity.values()) == [0.0, 0.5], sparsity
    assert int8_stages.float_ops(int8) == []  # full integer
    assert int8_stages.float_ops(float32) == ["FULLY_CONNECTED"] * 2
