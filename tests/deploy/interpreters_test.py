"""Tests of `keras_nachos.deploy.interpreters`: one LiteRT interpreter from a
file or bytes, with or without XNNPACK, gives the Keras model's outputs."""

import importlib.util

import keras
import numpy as np
import pytest

from keras_nachos.deploy import interpreters
from keras_nachos.deploy.export import convert_stage


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, {"exit": keras.layers.Dense(3, name="fc")(x)})
    flatbuffer = convert_stage(model)
    path = tmp_path_factory.mktemp("tflite") / "model.tflite"
    path.write_bytes(flatbuffer)
    return model, flatbuffer, str(path)


def test_file_and_bytes_with_and_without_xnnpack_give_the_keras_outputs(converted):
    model, flatbuffer, path = converted
    x = np.random.default_rng(1).normal(size=(5, 6, 6, 2)).astype("float32")
    expected = model.predict(x, verbose=0)["exit"]
    for kwargs in (
        {"model_content": flatbuffer},
        {"model_path": path, "num_threads": 1},
        {"model_content": flatbuffer, "xnnpack": False},
    ):
        runner = interpreters.make_interpreter(**kwargs).get_signature_runner()
        np.testing.assert_allclose(runner(image=x)["exit"], expected, atol=1e-5)


def test_interpreter_name_says_which_package_runs():
    name = interpreters.interpreter_name()
    if importlib.util.find_spec("ai_edge_litert") is not None:
        assert name == "ai_edge_litert.interpreter.Interpreter"
        from ai_edge_litert.interpreter import Interpreter
    else:
        import tensorflow as tf

        assert name == "tf.lite.Interpreter"
        Interpreter = tf.lite.Interpreter
    model_content = convert_stage(
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    )
    assert isinstance(
        interpreters.make_interpreter(model_content=model_content), Interpreter
    )
