"""Elastic layers of the weight-sharing supernet.

A subnet is selected by masks, not by slicing: channels beyond a subnet's
width are zeroed, a smaller depthwise kernel is the centre of the largest one
with the outside zeroed, so one traced function serves every subnet (the
masks are tensors). A zeroed input channel adds exact zeros to a convolution
or a dense layer, so the masked path computes what the standalone subnet
computes with the sliced weights (`Supernet.extract`). The elastic block that
uses them is `ElasticInvertedResidual`.
"""

import keras
from keras import ops

# Keras' `BatchNormalization` default: the extracted candidate's batch norms
# use it, and the supernet must normalise exactly as they do.
BN_EPSILON = 1e-3


def channel_mask(active, size):
    """A `(size,)` float mask with ones on the first `active` channels."""
    return ops.cast(ops.arange(size) < active, "float32")


def kernel_mask(kernel_size, max_kernel_size):
    """A `(K, K, 1, 1)` mask: ones on the centred `kernel_size` square."""
    centre = (max_kernel_size - 1) // 2
    radius = (kernel_size - 1) // 2
    inside = ops.cast(
        ops.abs(ops.arange(max_kernel_size) - centre) <= radius, "float32"
    )
    return ops.reshape(
        inside[:, None] * inside[None, :], (max_kernel_size, max_kernel_size, 1, 1)
    )


def pad_channels(x, size):
    """`x` with its channel axis zero-padded (or cut) to `size`."""
    channels = int(x.shape[-1])
    if channels == size:
        return x
    if channels > size:
        return x[..., :size]
    return ops.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[0, size - channels]])


@keras.saving.register_keras_serializable(package="keras_nachos")
class ElasticDepthwiseConv2D(keras.layers.Layer):
    """A depthwise conv (`same` padding, no bias) of elastic kernel size.

    It holds the largest kernel; `masked_call(x, kernel_size)` zeroes the
    outside of the centred `kernel_size` square. With `same` padding and odd
    sizes that is the `kernel_size` conv of the centre weights, for stride 1
    and 2 alike: `same` pads `total // 2` before, and the two totals differ
    by `K - k`, which is even, so the centre square reads the rows and
    columns the smaller kernel reads (both totals are >= 0 for k >= 3 and
    stride <= 2; the extraction test checks it).

    Args:
        kernel_size: Integer, the largest kernel size (odd).
        strides: Integer. Defaults to `1`.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, kernel_size, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.kernel = self.add_weight(
            shape=(self.kernel_size, self.kernel_size, channels, 1),
            initializer="glorot_uniform",
            name="kernel",
        )

    def masked_call(self, inputs, kernel_size):
        if not self.built:
            self.build(tuple(inputs.shape))
        kernel = self.kernel * kernel_mask(kernel_size, self.kernel_size)
        return ops.depthwise_conv(
            inputs, kernel, strides=self.strides, padding="same"
        )

    def call(self, inputs):
        return ops.depthwise_conv(
            inputs, self.kernel, strides=self.strides, padding="same"
        )

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        s = self.strides
        return (
            input_shape[0],
            None if h is None else -(-h // s),
            None if w is None else -(-w // s),
            input_shape[-1],
        )

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "strides": self.strides})
        return config


@keras.saving.register_keras_serializable(package="keras_nachos")
class ElasticBatchNormalization(keras.layers.Layer):
    """Batch normalisation over the first channels of a masked feature map.

    `masked_call(x, mask, training, update)` normalises with the batch's
    statistics (`training=True`) or the moving ones, then zeroes the masked
    channels (so they stay exact zeros downstream). The moving statistics are
    updated (momentum as Keras' layer) only when `update` is true: the
    supernet updates them on its largest subnet only, and re-estimates them
    per subnet before evaluating it (`batch_moments`).

    Args:
        momentum: Float, of the moving statistics.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)

    def build(self, input_shape):
        shape = (int(input_shape[-1]),)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(
            shape=shape, initializer="zeros", name="moving_mean", trainable=False
        )
        self.moving_variance = self.add_weight(
            shape=shape, initializer="ones", name="moving_variance",
            trainable=False,
        )

    @staticmethod
    def batch_moments(inputs):
        """Mean and mean of squares over every axis but the channels."""
        axes = tuple(range(len(inputs.shape) - 1))
        return ops.mean(inputs, axis=axes), ops.mean(ops.square(inputs), axis=axes)

    def masked_call(self, inputs, mask, training=False, update=False, moments=None):
        """Normalises `inputs`; `moments` (a dict) collects the batch's
        `(mean, mean of squares)` under the layer's name when given (the
        supernet's batch-norm re-estimation)."""
        if not self.built:
            self.build(tuple(inputs.shape))
        if training:
            mean, mean_square = self.batch_moments(inputs)
            variance = ops.maximum(mean_square - ops.square(mean), 0.0)
            if moments is not None:
                moments[self.name] = (mean, mean_square)
            if update:
                m = self.momentum
                self.moving_mean.assign(self.moving_mean * m + mean * (1 - m))
                self.moving_variance.assign(
                    self.moving_variance * m + variance * (1 - m)
                )
        else:
            mean, variance = self.moving_mean, self.moving_variance
        outputs = ops.batch_normalization(
            inputs, mean, variance, axis=-1, offset=self.beta, scale=self.gamma,
            epsilon=BN_EPSILON,
        )
        return outputs * mask

    def call(self, inputs, training=False):
        return self.masked_call(inputs, 1.0, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum})
        return config
