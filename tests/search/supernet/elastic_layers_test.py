"""Tests of `keras_nachos.search.supernet.elastic_layers`: the masks, the
centre of a depthwise kernel is the smaller kernel, the elastic batch norm
normalises as Keras' and updates or collects its statistics on request."""

import keras
import numpy as np
import pytest

from keras_nachos.search.supernet.elastic_layers import BN_EPSILON
from keras_nachos.search.supernet.elastic_layers import ElasticBatchNormalization
from keras_nachos.search.supernet.elastic_layers import ElasticDepthwiseConv2D
from keras_nachos.search.supernet.elastic_layers import channel_mask
from keras_nachos.search.supernet.elastic_layers import kernel_mask
from keras_nachos.search.supernet.elastic_layers import pad_channels
from tests.testing_utils import assert_round_trip


def test_masks_and_padding():
    assert np.asarray(channel_mask(2, 5)).tolist() == [1, 1, 0, 0, 0]
    assert np.asarray(channel_mask(5, 5)).tolist() == [1] * 5
    mask = np.asarray(kernel_mask(3, 7))
    assert mask.shape == (7, 7, 1, 1)
    expected = np.zeros((7, 7))
    expected[2:5, 2:5] = 1
    np.testing.assert_array_equal(mask[..., 0, 0], expected)
    np.testing.assert_array_equal(np.asarray(kernel_mask(7, 7)), np.ones((7, 7, 1, 1)))
    x = np.arange(12, dtype="float32").reshape(1, 2, 2, 3)
    padded = np.asarray(pad_channels(x, 5))
    np.testing.assert_array_equal(padded[..., :3], x)
    np.testing.assert_array_equal(padded[..., 3:], 0)
    np.testing.assert_array_equal(np.asarray(pad_channels(x, 2)), x[..., :2])
    assert pad_channels(x, 3) is x


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("strides", [1, 2])
def test_the_centre_of_a_kernel_is_the_smaller_kernel(size, strides):
    rng = np.random.default_rng(size + strides)
    x = rng.normal(size=(2, size, size, 3)).astype("float32")
    elastic = ElasticDepthwiseConv2D(7, strides=strides)
    elastic.build(x.shape)
    elastic.kernel.assign(rng.normal(size=(7, 7, 3, 1)).astype("float32"))
    for k in (3, 5, 7):
        small = keras.layers.DepthwiseConv2D(
            k, strides=strides, padding="same", use_bias=False
        )
        small.build(x.shape)
        start = (7 - k) // 2
        small.kernel.assign(
            np.asarray(elastic.kernel)[start:start + k, start:start + k]
        )
        np.testing.assert_allclose(
            np.asarray(elastic.masked_call(x, k)), np.asarray(small(x)),
            atol=1e-5,
        )


def test_the_depthwise_conv_calls_with_its_whole_kernel_and_round_trips():
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 3)).astype("float32")
    layer = ElasticDepthwiseConv2D(5, strides=2, name="dw")
    y = np.asarray(layer(x))
    assert y.shape == (2, 4, 4, 3)
    assert layer.compute_output_shape((None, 7, 7, 3)) == (None, 4, 4, 3)
    assert layer.compute_output_shape((None, None, 8, 3)) == (None, None, 4, 3)
    np.testing.assert_array_equal(np.asarray(layer.masked_call(x, 5)), y)
    assert_round_trip(layer, inputs=x)


def _bn_pair(channels, momentum=0.9, seed=0):
    """An elastic and a Keras batch norm with the same (random) weights."""
    rng = np.random.default_rng(seed)
    elastic = ElasticBatchNormalization(momentum, name="ebn")
    keras_bn = keras.layers.BatchNormalization(momentum=momentum)
    shape = (None, 4, 4, channels)
    elastic.build(shape)
    keras_bn.build(shape)
    values = [
        rng.uniform(0.5, 1.5, channels), rng.normal(size=channels),
        rng.normal(size=channels), rng.uniform(0.5, 2.0, channels),
    ]
    for layer in (elastic, keras_bn):
        for weight, value in zip(layer.weights, values):
            weight.assign(value.astype("float32"))
    return elastic, keras_bn


def test_the_batch_norm_normalises_as_keras_and_masks_channels():
    x = np.random.default_rng(1).normal(2.0, 3.0, (6, 4, 4, 4)).astype("float32")
    elastic, keras_bn = _bn_pair(4)
    ones = np.ones(4, "float32")
    assert BN_EPSILON == keras_bn.epsilon
    np.testing.assert_allclose(
        np.asarray(elastic.masked_call(x, ones)),
        np.asarray(keras_bn(x, training=False)), rtol=1e-6, atol=1e-6,
    )
    np.testing.assert_allclose(
        np.asarray(elastic.masked_call(x, ones, training=True)),
        np.asarray(keras_bn(x, training=True)),
        rtol=1e-4, atol=1e-4,
    )
    np.testing.assert_array_equal(
        np.asarray(elastic.call(x)), np.asarray(elastic.masked_call(x, 1.0))
    )
    masked = np.asarray(elastic.masked_call(x, channel_mask(3, 4)))
    np.testing.assert_array_equal(masked[..., 3], 0.0)
    np.testing.assert_array_equal(
        masked[..., :3], np.asarray(elastic.masked_call(x, ones))[..., :3]
    )
    assert_round_trip(elastic, inputs=x)


def test_the_batch_norm_updates_or_collects_statistics_on_request():
    x = np.random.default_rng(2).normal(1.0, 2.0, (8, 4, 4, 3)).astype("float32")
    elastic, _ = _bn_pair(3, momentum=0.75)
    mean0 = np.asarray(elastic.moving_mean).copy()
    variance0 = np.asarray(elastic.moving_variance).copy()
    moments = {}
    elastic.masked_call(x, 1.0, training=True, moments=moments)
    # Collected, not applied.
    np.testing.assert_array_equal(np.asarray(elastic.moving_mean), mean0)
    batch_mean = x.mean(axis=(0, 1, 2))
    batch_square = np.square(x).mean(axis=(0, 1, 2))
    assert list(moments) == ["ebn"]
    np.testing.assert_allclose(np.asarray(moments["ebn"][0]), batch_mean, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(moments["ebn"][1]), batch_square, rtol=1e-5)
    # Updated with the momentum, as Keras' layer.
    elastic.masked_call(x, 1.0, training=True, update=True)
    np.testing.assert_allclose(
        np.asarray(elastic.moving_mean), 0.75 * mean0 + 0.25 * batch_mean,
        rtol=1e-5, atol=1e-6,
    )
    np.testing.assert_allclose(
        np.asarray(elastic.moving_variance),
        0.75 * variance0 + 0.25 * (batch_square - batch_mean**2),
        rtol=1e-4, atol=1e-5,
    )
    # Inference mode updates nothing, whatever `update` says.
    mean1 = np.asarray(elastic.moving_mean).copy()
    elastic.masked_call(x, 1.0, update=True)
    np.testing.assert_array_equal(np.asarray(elastic.moving_mean), mean1)
