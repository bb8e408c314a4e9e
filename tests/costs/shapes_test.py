"""Tests of `keras_nachos.costs.shapes`: batch-1 tensors of a model's inputs
and the checks before counting."""

import keras
import numpy as np
import pytest

from keras_nachos.costs import shapes

layers = keras.layers


def test_batch_one_inputs_keep_the_models_input_structure():
    a, b = keras.Input((3,), name="a"), keras.Input((4, 2), dtype="int32", name="b")
    model = keras.Model({"a": a, "b": b}, layers.Concatenate()([
        a, layers.Flatten()(layers.Lambda(lambda t: keras.ops.cast(t, "float32"))(b))]))
    inputs = shapes.batch_one_inputs(model)
    assert sorted(inputs) == ["a", "b"]
    assert tuple(inputs["a"].shape) == (1, 3)
    assert tuple(inputs["b"].shape) == (1, 4, 2) and inputs["b"].dtype == "int32"
    sequential = keras.Sequential([keras.Input((5,)), layers.Dense(2)])
    assert tuple(shapes.batch_one_inputs(sequential).shape) == (1, 5)


def test_batch_one_inputs_of_a_built_subclassed_model():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(np.zeros((2, 7)))
    assert tuple(shapes.batch_one_inputs(model).shape) == (1, 7)


def test_dynamic_shapes_and_unbuilt_models_are_refused():
    inputs = keras.Input((None, 3))
    dynamic = keras.Model(inputs, layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"argument `model`.*\(None, None, 3\)"):
        shapes.batch_one_inputs(dynamic)
    with pytest.raises(ValueError, match="argument `model`.*a built model"):
        shapes.check_model(keras.Sequential([layers.Dense(2)]))
    with pytest.raises(TypeError, match="argument `model`"):
        shapes.check_model(layers.Dense(2))


def test_batch_one_and_keras_tensors():
    x = keras.KerasTensor((None, 4, 4), dtype="float16")
    one = shapes.batch_one(x)
    assert tuple(one.shape) == (1, 4, 4) and one.dtype == "float16"
    assert tuple(shapes.batch_one(keras.KerasTensor(())).shape) == ()
    structure = {"k": [x, 3, np.zeros(2)], "j": (one, "s")}
    assert shapes.keras_tensors(structure) == [one, x]  # sorted keys: j, k
