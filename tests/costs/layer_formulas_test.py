"""Tests of `keras_nachos.costs.layer_formulas`: one hand-computed count per
layer type, keras ops, extras, user counters."""

import math

import keras
import pytest

from keras_nachos.costs import count_macs
from keras_nachos.costs import einsum_macs
from keras_nachos.costs import layer_formulas as mac_counter
from keras_nachos.costs import mac_report
from keras_nachos.costs import register_mac_counter
from tests.costs.testing_utils import analytic_quietly
from tests.costs.testing_utils import single

layers = keras.layers


@pytest.mark.parametrize(
    "layer, shapes, expected",
    [
        # prod(out spatial) * out_ch * prod(kernel) * in_ch / groups
        (layers.Conv2D(8, 3), [(8, 8, 3)], 6 * 6 * 8 * 3 * 3 * 3),
        (layers.Conv2D(6, 3, groups=2), [(8, 8, 4)], 6 * 6 * 6 * 3 * 3 * 4 // 2),
        (layers.Conv1D(4, 3, strides=2, padding="same"), [(10, 3)], 5 * 4 * 3 * 3),
        (layers.Conv3D(3, 2), [(4, 4, 4, 2)], 3 * 3 * 3 * 3 * 2 * 2 * 2 * 2),
        # prod(out spatial) * in_ch * depth_multiplier * prod(kernel)
        (
            layers.DepthwiseConv2D(3, depth_multiplier=2),
            [(8, 8, 3)],
            6 * 6 * 3 * 2 * 9,
        ),
        (layers.DepthwiseConv1D(3), [(10, 4)], 8 * 4 * 1 * 3),
        # depthwise + pointwise
        (
            layers.SeparableConv2D(5, 3, depth_multiplier=2),
            [(8, 8, 3)],
            6 * 6 * 3 * 2 * 9 + 6 * 6 * (3 * 2) * 5,
        ),
        (layers.SeparableConv1D(6, 3), [(10, 4)], 8 * 4 * 3 + 8 * 4 * 6),
        # prod(INPUT spatial) * in_ch * prod(kernel) * filters
        (
            layers.Conv2DTranspose(4, 3, strides=2),
            [(5, 5, 3)],
            5 * 5 * 3 * 3 * 3 * 4,
        ),
        (
            layers.Conv1DTranspose(3, 4, strides=2, padding="same"),
            [(6, 2)],
            6 * 2 * 4 * 3,
        ),
        (
            layers.Conv3DTranspose(3, 2, strides=2),
            [(2, 2, 2, 2)],
            2 * 2 * 2 * 2 * 8 * 3,
        ),
        # prod(out without batch and last dim) * in_features * units
        (layers.Dense(4), [(8,)], 8 * 4),
        (layers.Dense(4), [(5, 8)], 5 * 8 * 4),
        (layers.Dense(4), [(2, 3, 8)], 2 * 3 * 8 * 4),
        # product of all distinct einsum index sizes (batch index = 1)
        (
            layers.EinsumDense("abc,cde->abde", output_shape=(5, 2, 3)),
            [(5, 8)],
            5 * 8 * 2 * 3,
        ),
        (layers.EinsumDense("...b,bc->...c", output_shape=4), [(5, 8)], 5 * 8 * 4),
        # recurrent: T * gates * units * (features + units)
        (layers.SimpleRNN(4), [(5, 3)], 5 * 1 * 4 * (3 + 4)),
        (layers.GRU(4), [(5, 3)], 5 * 3 * 4 * (3 + 4)),
        (layers.LSTM(4), [(5, 3)], 5 * 4 * 4 * (3 + 4)),
        (layers.Bidirectional(layers.LSTM(4)), [(5, 3)], 2 * 5 * 4 * 4 * (3 + 4)),
        (layers.TimeDistributed(layers.Dense(4)), [(5, 3)], 5 * 3 * 4),
        # attention and dot: Tq * Tv * dim (+ Tq * Tv * dim for dot scores)
        (layers.Attention(), [(4, 6), (7, 6)], 4 * 7 * 6 + 4 * 7 * 6),
        (layers.Dot(axes=2), [(3, 5), (4, 5)], 3 * 4 * 5),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, layers.Layer) else None,
)
def test_layer_formulas(layer, shapes, expected):
    assert analytic_quietly(single(layer, *shapes)) == expected


def test_conv_channels_first():
    model = single(layers.Conv2D(8, 3, data_format="channels_first"), (3, 8, 8))
    assert analytic_quietly(model) == 6 * 6 * 8 * 3 * 3 * 3
    assert count_macs(model, method="profiler") == 6 * 6 * 8 * 3 * 3 * 3


def test_multi_head_attention():
    query, value = keras.Input((4, 6)), keras.Input((7, 5))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    model = keras.Model([query, value], mha(query, value))
    t_q, t_k, heads, key_dim, value_dim = 4, 7, 2, 3, 4
    projections = (
        t_q * 6 * heads * key_dim  # query
        + t_k * 5 * heads * key_dim  # key (= value input)
        + t_k * 5 * heads * value_dim  # value
        + t_q * heads * value_dim * 6  # output, back to the query's width
    )
    attention = t_q * t_k * heads * key_dim + t_q * t_k * heads * value_dim
    assert analytic_quietly(model) == projections + attention
    assert count_macs(model, method="profiler") == projections + attention


def test_multi_head_attention_with_key_keyword():
    query, value, key = keras.Input((4, 6)), keras.Input((7, 5)), keras.Input((7, 2))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    model = keras.Model([query, value, key], mha(query, value=value, key=key))
    expected = (
        4 * 6 * 2 * 3 + 7 * 2 * 2 * 3 + 7 * 5 * 2 * 3 + 4 * 2 * 3 * 6
        + 4 * 7 * 2 * 3 * 2
    )
    assert analytic_quietly(model) == expected
    assert count_macs(model, method="profiler") == expected


def test_einsum_macs_helper():
    assert einsum_macs("abc,cd->abd", (1, 5, 4), (4, 6)) == 5 * 4 * 6
    assert einsum_macs("...ij,...jk->...ik", (2, 3, 4), (4, 5)) == 2 * 3 * 4 * 5
    assert einsum_macs("ij->ji", (3, 4)) == 0


def test_keras_ops_in_functional_graph():
    a, b, c = keras.Input((3, 4)), keras.Input((4, 5)), keras.Input((5, 2))
    y = keras.ops.matmul(a, b)
    y = keras.ops.einsum("bij,bjk->bik", y, c)
    y = keras.ops.relu(y + 1.0)
    model = keras.Model([a, b, c], y)
    report = mac_report(model)
    assert report.total == 3 * 4 * 5 + 3 * 5 * 2
    assert report.fallback == []
    assert len(report.extras) == 2  # add, relu
    assert count_macs(model, method="profiler") == report.total


def test_extras_count_zero_and_are_listed():
    inputs = keras.Input((8, 8, 3))
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.ZeroPadding2D(1, name="pad")(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    y = layers.Activation("swish", name="swish")(x)
    x = layers.Add(name="add")([x, y])
    x = layers.Concatenate(name="concat")([x, y])
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Reshape((-1, 8), name="reshape")(x)
    x = layers.LayerNormalization(name="ln")(x)
    outputs = layers.Softmax(name="softmax")(x)
    report = mac_report(keras.Model(inputs, outputs))
    assert report.total == 8 * 8 * 4 * 3 * 3 * 3
    assert report.per_layer["conv"] == report.total
    expected_extras = [
        "rescale", "pad", "bn", "relu", "swish", "add", "concat", "pool",
        "drop", "flat", "reshape", "ln", "softmax",
    ]
    assert sorted(report.extras) == sorted(expected_extras)
    assert all(report.per_layer[name] == 0 for name in expected_extras)
    assert report.fallback == []
    assert sum(report.per_layer.values()) == report.total
    text = report.summary()
    assert "Total MACs: 6,912" in text and "extra" in text
    assert str(report) == text


def test_register_mac_counter_as_decorator():
    class Scale(layers.Layer):
        def call(self, x, y):
            return x * y

    seen = []

    @register_mac_counter(Scale)
    def scale_macs(layer, input_shapes, output_shapes):
        seen.append((input_shapes, output_shapes))
        return math.prod(output_shapes[0])

    a, b = keras.Input((3, 4)), keras.Input((3, 4))
    model = keras.Model([a, b], Scale()(a, y=b))
    assert analytic_quietly(model) == 3 * 4
    assert seen == [([(1, 3, 4), (1, 3, 4)], [(1, 3, 4)])]


def test_register_mac_counter_overrides_builtin(monkeypatch):
    monkeypatch.setattr(mac_counter, "_USER_COUNTERS", {})
    model = single(layers.Dense(4), (8,))
    assert count_macs(model) == 8 * 4
    register_mac_counter(layers.Dense, lambda layer, i, o: 7)
    assert count_macs(model) == 7


def test_register_mac_counter_rejects_non_layers():
    with pytest.raises(TypeError, match="argument `layer_class`"):
        register_mac_counter("Dense", lambda *a: 0)
