import math
import warnings

import keras
import pytest
import tensorflow as tf

from keras_nachos.costs import layer_formulas as mac_counter
from keras_nachos.costs import count_macs
from keras_nachos.costs import einsum_macs
from keras_nachos.costs import mac_report
from keras_nachos.costs import register_mac_counter

layers = keras.layers


def single(layer, *shapes):
    """A functional model applying `layer` to one `Input` per shape."""
    inputs = [keras.Input(s) for s in shapes]
    outputs = layer(inputs[0] if len(inputs) == 1 else inputs)
    return keras.Model(inputs, outputs)


def analytic_quietly(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # No fallback expected.
        return count_macs(model)


# --------------------------------------------------------------------------
# Hand-computed counts, one per layer type
# --------------------------------------------------------------------------


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


def test_bad_method_raises():
    model = single(layers.Dense(4), (8,))
    match = "Invalid value received for argument `method`"
    with pytest.raises(ValueError, match=match):
        count_macs(model, method="flops")


def test_unbuilt_model_raises():
    with pytest.raises(ValueError, match="argument `model`"):
        count_macs(keras.Sequential([layers.Dense(2)]))


def test_fixed_batch_size_is_counted_at_batch_one():
    inputs = keras.Input((8,), batch_size=32)
    model = keras.Model(inputs, layers.Dense(4)(inputs))
    assert count_macs(model) == 8 * 4
    assert count_macs(model, method="profiler") == 8 * 4


# --------------------------------------------------------------------------
# Analytic == profiler on whole architectures
# --------------------------------------------------------------------------


def plain_cnn():
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(10)(x))


def depthwise_separable_net():
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    for filters, stride in ((16, 1), (32, 2), (32, 1)):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU(6.0)(x)
        x = layers.Conv2D(filters, 1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10)(x))


def separable_net():
    inputs = keras.Input((24, 24, 3))
    x = layers.SeparableConv2D(8, 3, depth_multiplier=2, activation="relu")(inputs)
    x = layers.SeparableConv2D(16, 5, strides=2, padding="same")(x)
    x = layers.Reshape((-1, 16))(x)
    x = layers.SeparableConv1D(8, 3, padding="same")(x)
    x = layers.GlobalMaxPooling1D()(x)
    return keras.Model(inputs, layers.Dense(3)(x))


def conv1d_net():
    inputs = keras.Input((50, 4))
    x = layers.Conv1D(8, 5, strides=2, padding="causal")(inputs)
    x = layers.DepthwiseConv1D(3, depth_multiplier=2)(x)
    x = layers.Conv1D(8, 3, dilation_rate=2, groups=2)(x)
    x = layers.Conv1DTranspose(4, 3, strides=2)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))


def mlp_3d():
    inputs = keras.Input((10, 12))
    x = layers.Dense(16, activation="gelu")(inputs)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(8)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(5)(x))


def nested_sequential():
    stem = keras.Sequential(
        [
            layers.Conv2D(8, 3, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
        ],
        name="stem",
    )
    classifier = keras.Sequential(
        [layers.GlobalAveragePooling2D(), layers.Dense(16), layers.Dense(4)],
        name="classifier",
    )
    inputs = keras.Input((16, 16, 3))
    x = stem(inputs)
    x = layers.Conv2D(8, 3, padding="same")(x)
    return keras.Model(inputs, classifier(x))


def multi_input():
    image = keras.Input((16, 16, 3), name="image")
    meta = keras.Input((7,), name="meta")
    x = layers.Conv2D(4, 3)(image)
    x = layers.GlobalAveragePooling2D()(x)
    y = layers.Dense(4)(meta)
    z = layers.Concatenate()([x, y])
    return keras.Model({"image": image, "meta": meta}, layers.Dense(2)(z))


def transformer_block():
    inputs = keras.Input((12, 16))
    x = layers.MultiHeadAttention(num_heads=4, key_dim=8)(inputs, inputs)
    x = layers.LayerNormalization()(layers.Add()([inputs, x]))
    y = layers.EinsumDense(
        "btd,df->btf", output_shape=(None, 32), activation="relu"
    )(x)
    y = layers.Dense(16)(y)
    return keras.Model(inputs, layers.Add()([x, y]))


def decoder_3d():
    inputs = keras.Input((6, 6, 8))
    x = layers.Conv2D(8, 3, padding="same", groups=4)(inputs)
    x = layers.Conv2DTranspose(4, 3, strides=2)(x)
    x = layers.Conv2DTranspose(4, 2, strides=2, padding="same")(x)
    x = layers.Reshape((2, 26, 26, 2))(x)
    x = layers.Conv3D(3, (1, 3, 3))(x)
    x = layers.Conv3DTranspose(2, 2, strides=(1, 2, 2))(x)
    return keras.Model(inputs, x)


def residual_net():
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same")(inputs)
    for _ in range(2):
        y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = layers.Conv2D(8, 3, padding="same")(y)
        x = layers.Add()([x, y])
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(4)(x))


def mobilenet_v3_small():
    return keras.applications.MobileNetV3Small(
        weights=None, input_shape=(64, 64, 3), include_preprocessing=True, classes=10
    )


def mobilenet_v2():
    return keras.applications.MobileNetV2(
        weights=None, input_shape=(64, 64, 3), alpha=0.35, classes=10
    )


def resnet50_v2():
    return keras.applications.ResNet50V2(
        weights=None, input_shape=(64, 64, 3), classes=10
    )


@pytest.mark.parametrize(
    "build",
    [
        plain_cnn,
        depthwise_separable_net,
        separable_net,
        conv1d_net,
        mlp_3d,
        nested_sequential,
        multi_input,
        transformer_block,
        decoder_3d,
        residual_net,
        mobilenet_v3_small,
        mobilenet_v2,
        pytest.param(resnet50_v2, marks=pytest.mark.slow),
    ],
    ids=lambda build: build.__name__,
)
def test_analytic_matches_profiler(build):
    model = build()
    report = mac_report(model)
    assert report.fallback == []
    assert report.total > 0
    assert report.total == count_macs(model, method="profiler")


@pytest.mark.parametrize(
    "layer, expected",
    [
        (layers.Conv2D(8, 3, dilation_rate=2), 5 * 5 * 8 * 3 * 3 * 4),
        (
            layers.Conv2D(8, 3, dilation_rate=2, padding="same"),
            9 * 9 * 8 * 3 * 3 * 4,
        ),
        (layers.DepthwiseConv2D(3, dilation_rate=2), 5 * 5 * 4 * 3 * 3),
        (layers.Conv1D(8, 3, dilation_rate=2, groups=2), 7 * 8 * 3 * 4 // 2),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, layers.Layer) else None,
)
def test_dilated_convs_count_no_padding(layer, expected):
    # TF runs these as SpaceToBatchND -> conv -> BatchToSpaceND; the raw
    # profiler count includes the positions padded to a multiple of the rate.
    inputs = keras.Input((9, 9, 4) if "2D" in type(layer).__name__ else (11, 4))
    model = keras.Model(inputs, layer(inputs))
    assert analytic_quietly(model) == expected
    assert count_macs(model, method="profiler") == expected


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


def test_profiler_warns_about_loops():
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, layers.LSTM(4)(inputs))
    assert analytic_quietly(model) == 5 * 4 * 4 * (3 + 4)
    with pytest.warns(UserWarning, match="loop body"):
        assert count_macs(model, method="profiler") < 5 * 4 * 4 * (3 + 4)
