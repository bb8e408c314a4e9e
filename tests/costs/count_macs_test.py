"""Tests of `keras_nachos.costs.count_macs`: its arguments, batch 1, and the
analytic count equal to the profiler's on whole architectures."""

import keras
import pytest

from keras_nachos.costs import count_macs
from keras_nachos.costs import mac_report
from tests.costs.testing_utils import single

layers = keras.layers


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
