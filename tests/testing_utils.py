"""Small models, data and checks shared by the tests."""

import copy

import keras
import numpy as np

from keras_nachos import EarlyExitModel


def small_cnn(input_shape=(16, 16, 1), num_classes=4, logits=False, seed=0):
    """A 3-stage CNN with layers named `b1`, `p1`, `b2`, `p2`, `b3`."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="b1")(
        inputs
    )
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="b2")(x)
    x = keras.layers.MaxPooling2D(name="p2")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="b3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(
        num_classes, activation=None if logits else "softmax", name="logits"
    )(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def residual_cnn(input_shape=(16, 16, 3), num_classes=4):
    """Two residual blocks; `r1_add`/`r2_add` are cuts, `r1_conv2` is not."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    for i in (1, 2):
        y = keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                                name=f"r{i}_conv1")(x)
        y = keras.layers.Conv2D(8, 3, padding="same", name=f"r{i}_conv2")(y)
        x = keras.layers.Add(name=f"r{i}_add")([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual_cnn")


def toy_data(n=64, input_shape=(16, 16, 1), num_classes=4, seed=0):
    """Images whose class is the quadrant with the brightest blob."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n).astype("int32")
    x = rng.normal(0, 0.3, (n,) + input_shape).astype("float32")
    h, w = input_shape[0] // 2, input_shape[1] // 2
    for i, k in enumerate(y):
        r, c = divmod(int(k) % 4, 2)
        x[i, r * h : (r + 1) * h, c * w : (c + 1) * w, :] += 1.0
    return x, y


def trained_model(head="global_pool", confidence=False):
    """An EarlyExitModel on `small_cnn` (exits after `p1`, `p2`), trained 2
    epochs on `toy_data(96)`; returns `(model, x, y)`."""
    x, y = toy_data(96)
    model = EarlyExitModel.from_backbone(
        small_cnn(), ["p1", "p2"], 4, head=head, confidence=confidence
    )
    model.compile(keras.optimizers.Adam(1e-2))
    build_optimizer(model)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model, x, y


def trained_backbone(x, y):
    """`small_cnn` trained 3 epochs on `(x, y)` (the E2CM tests' backbone)."""
    backbone = small_cnn()
    backbone.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    build_optimizer(backbone)
    backbone.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return backbone


def build_optimizer(model):
    """Builds a compiled model's optimizer before its first `fit`.

    Without a distribution strategy, Keras 3 on TensorFlow builds the
    optimizer inside the first traced train step, so TensorFlow traces that
    step twice (once more after creating the optimizer's variables). Built
    beforehand from the same variables, the step is traced once: the first
    `fit` of these tiny models takes about half the time, and trains the
    same weights.
    """
    model.optimizer.build(model.trainable_variables)


def assert_round_trip(obj, custom_objects=None, inputs=None):
    """Checks that `obj` survives its config and Keras serialization.

    In the spirit of Keras' `run_layer_test`:

    1. `type(obj).from_config(obj.get_config())` is of the same class and
       gives the same config;
    2. `keras.saving.deserialize_keras_object` of
       `keras.saving.serialize_keras_object(obj)` is of the same class and
       gives the same config (`custom_objects` names classes that are not
       registered with Keras, e.g. `{"SearchSpace": SearchSpace}`);
    3. given `inputs` (`obj` then being a Keras layer or model), the restored
       object, built on `inputs` and given `obj`'s weights
       (`set_weights(get_weights())`), gives outputs identical to `obj`'s.

    Args:
        obj: An object with `get_config` and a `from_config` class method.
        custom_objects: Optional dict for `deserialize_keras_object`.
        inputs: Optional sample inputs of a layer or model.

    Returns:
        The object restored by `deserialize_keras_object` (with `obj`'s
        weights when `inputs` is given).
    """
    config = obj.get_config()
    again = type(obj).from_config(copy.deepcopy(config))
    assert type(again) is type(obj), (type(again), type(obj))
    assert again.get_config() == config

    serialized = keras.saving.serialize_keras_object(obj)
    restored = keras.saving.deserialize_keras_object(
        serialized, custom_objects=custom_objects
    )
    assert type(restored) is type(obj), (type(restored), type(obj))
    assert restored.get_config() == config

    if inputs is not None:
        assert isinstance(obj, keras.layers.Layer), type(obj)
        expected = obj(inputs)
        if not restored.built:
            restored(inputs)
        restored.set_weights(obj.get_weights())
        actual = restored(inputs)
        keras.tree.assert_same_structure(actual, expected)
        for a, b in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
            )
    return restored


NAN = float("nan")


def assert_invalid(argument, fn, *args, **kwargs):
    """Asserts `fn(*args, **kwargs)` refuses an argument in Keras' wording.

    The error (a `ValueError` or `TypeError`) must name the argument and show
    the value received.
    """
    import pytest

    with pytest.raises((ValueError, TypeError)) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert f"argument `{argument}`" in message, message
    assert "Received:" in message, message
