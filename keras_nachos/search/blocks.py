"""Backbone blocks of the search space (user blocks can be registered)."""

import keras

from keras_nachos.errors import invalid_value

_BLOCKS = {}


def register_block(name, builder):
    """Registers a block type for `SearchSpace(block_types=[...])`.

    Args:
        name: String, the block type's name.
        builder: Callable `builder(x, filters, kernel_size, expansion, stride,
            name) -> tensor` that applies the block to the functional tensor
            `x`. Every layer it creates must be named with the `name` prefix.
    """
    if not isinstance(name, str) or not callable(builder):
        raise invalid_value(
            "builder", "a name and a callable builder(x, filters, ...)", builder
        )
    _BLOCKS[name] = builder
    return builder


def get_block(name):
    if name not in _BLOCKS:
        raise invalid_value("block_types", f"names in {sorted(_BLOCKS)}", name)
    return _BLOCKS[name]


# Candidates train for a few hundred steps only: with Keras' default batch-norm
# momentum (0.99) the moving statistics have not settled by then and inference
# collapses to chance level. 0.9 settles within ~50 steps.
BN_MOMENTUM = 0.9


def hard_swish(x, name):
    return keras.layers.Activation("hard_swish", name=name)(x)


def inverted_residual(x, filters, kernel_size, expansion, stride, name):
    """MobileNetV3-style inverted residual block (no squeeze-excite).

    1x1 expansion conv, depthwise `kernel_size` conv with `stride`, 1x1
    linear projection, each followed by batch norm; a residual add when the
    stride is 1 and the widths match.
    """
    channels = int(x.shape[-1])
    hidden = channels * expansion
    y = x
    if expansion != 1:
        y = keras.layers.Conv2D(hidden, 1, use_bias=False, name=f"{name}_expand")(y)
        y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_expand_bn")(y)
        y = hard_swish(y, f"{name}_expand_act")
    y = keras.layers.DepthwiseConv2D(
        kernel_size, strides=stride, padding="same", use_bias=False,
        name=f"{name}_depthwise",
    )(y)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_depthwise_bn")(y)
    y = hard_swish(y, f"{name}_depthwise_act")
    y = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_project_bn")(y)
    if stride == 1 and channels == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def plain_conv(x, filters, kernel_size, expansion, stride, name):
    """A plain `kernel_size` conv + batch norm + ReLU (expansion unused)."""
    y = keras.layers.Conv2D(
        filters, kernel_size, strides=stride, padding="same", use_bias=False,
        name=f"{name}_conv",
    )(x)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(y)
    return keras.layers.ReLU(name=f"{name}_relu")(y)


register_block("inverted_residual", inverted_residual)
register_block("plain_conv", plain_conv)
