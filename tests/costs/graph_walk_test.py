"""Tests of `keras_nachos.costs.graph_walk`: nested models, shared layers,
stage sub-models, Sequential models and the profiler fallback."""

import keras
import pytest
import tensorflow as tf

from keras_nachos.costs import count_macs
from keras_nachos.costs import mac_report
from tests.costs.testing_utils import analytic_quietly

layers = keras.layers


def test_nested_models_get_prefixed_paths():
    block = keras.Sequential(
        [keras.Input((6, 6, 3)), layers.Conv2D(4, 3, name="conv"), layers.ReLU()],
        name="block1",
    )
    inner_inputs = keras.Input((4 * 4 * 4,))
    head = keras.Model(
        inner_inputs, layers.Dense(2, name="fc")(inner_inputs), name="head"
    )
    inputs = keras.Input((6, 6, 3))
    x = layers.Flatten()(block(inputs))
    outputs = head(x)
    report = mac_report(keras.Model(inputs, outputs))
    conv = 4 * 4 * 4 * 3 * 3 * 3
    fc = 4 * 4 * 4 * 2
    assert report.per_layer["block1/conv"] == conv
    assert report.per_layer["head/fc"] == fc
    assert report.total == conv + fc


def test_nested_model_with_unknown_spatial_dims():
    inner_inputs = keras.Input((None, None, 3))
    inner = keras.Model(
        inner_inputs, layers.Conv2D(4, 3, name="conv")(inner_inputs), name="fcn"
    )
    inputs = keras.Input((10, 10, 3))
    model = keras.Model(inputs, layers.GlobalAveragePooling2D()(inner(inputs)))
    assert analytic_quietly(model) == 8 * 8 * 4 * 3 * 3 * 3
    assert count_macs(model, method="profiler") == 8 * 8 * 4 * 3 * 3 * 3


def test_shared_layer_is_counted_once_per_call():
    shared = layers.Dense(4, name="shared")
    a, b = keras.Input((3,)), keras.Input((5, 3))
    outputs = [shared(a), shared(b)]
    report = mac_report(keras.Model([a, b], outputs))
    assert report.per_layer["shared"] == 3 * 4 + 5 * 3 * 4
    assert report.calls["shared"] == 2
    assert report.total == 3 * 4 + 5 * 3 * 4


def test_stage_sub_model_counts_only_its_layers():
    inputs = keras.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    b = layers.Conv2D(5, 3, padding="same", name="b")(a)
    c = layers.Conv2D(6, 1, name="c")(b)
    backbone = keras.Model(inputs, c)
    stage = keras.Model(
        backbone.get_layer("a").output, backbone.get_layer("c").output
    )
    macs_a = 8 * 8 * 4 * 9 * 3
    macs_b = 8 * 8 * 5 * 9 * 4
    macs_c = 8 * 8 * 6 * 1 * 5
    report = mac_report(stage)
    assert list(report.per_layer) == ["b", "c"]
    assert report.total == macs_b + macs_c
    assert count_macs(stage, method="profiler") == macs_b + macs_c
    # Building the stage added inbound nodes to b and c: the backbone still
    # counts each layer once.
    assert count_macs(backbone) == macs_a + macs_b + macs_c
    # Calling the stage on new tensors does not change either count.
    outer_inputs = keras.Input((8, 8, 4))
    keras.Model(outer_inputs, stage(outer_inputs))
    assert count_macs(stage) == macs_b + macs_c
    assert count_macs(backbone) == macs_a + macs_b + macs_c


def test_sequential_model():
    model = keras.Sequential([layers.Dense(6), layers.ReLU(), layers.Dense(2)])
    model.build((None, 5))
    assert analytic_quietly(model) == 5 * 6 + 6 * 2
    assert count_macs(model, method="profiler") == 5 * 6 + 6 * 2


class _MatMulLayer(layers.Layer):
    """A custom layer no table knows: x @ w with raw TF ops."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 5))

    def call(self, x):
        return tf.matmul(x, self.w)


def test_unknown_layer_falls_back_to_profiler_with_warning():
    inputs = keras.Input((3, 8))
    x = _MatMulLayer(name="custom")(inputs)
    outputs = layers.Dense(2, name="fc")(x)
    model = keras.Model(inputs, outputs)
    with pytest.warns(UserWarning, match="'custom' of class _MatMulLayer"):
        report = mac_report(model)
    assert report.per_layer["custom"] == 3 * 8 * 5
    assert report.fallback == ["custom"]
    assert report.total == 3 * 8 * 5 + 3 * 5 * 2
    assert "profiler fallback" in report.summary()


def test_subclassed_model_falls_back_to_profiler():
    class TwoDense(keras.Model):
        def __init__(self):
            super().__init__()
            self.a = layers.Dense(6)
            self.b = layers.Dense(3)

        def call(self, x):
            return self.b(self.a(x))

    model = TwoDense()
    model(keras.ops.zeros((2, 4)))
    with pytest.warns(UserWarning, match="TwoDense"):
        assert count_macs(model) == 4 * 6 + 6 * 3
    assert count_macs(model, method="profiler") == 4 * 6 + 6 * 3


def test_subclassed_model_built_by_a_call():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(4, 3)
            self.pool = layers.GlobalAveragePooling2D()

        def call(self, x):
            return self.pool(self.conv(x))

    model = Net()
    model(keras.ops.zeros((2, 6, 6, 3)))
    with pytest.warns(UserWarning, match="class Net"):
        assert count_macs(model) == 4 * 4 * 4 * 3 * 3 * 3
