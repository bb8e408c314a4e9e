"""Backbone blocks of the search space (user blocks can be registered)."""

import collections

import keras
from keras import ops

from keras_nachos.errors import invalid_value
from keras_nachos.errors import one_of

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


def names():
    """Returns the registered block types' names, sorted."""
    return sorted(_BLOCKS)


def get(identifier):
    """Returns the builder registered under a block type's name.

    Args:
        identifier: String, a name given to `register_block` (the library
            registers `"inverted_residual"` and `"plain_conv"`).

    Returns:
        The block's builder, `builder(x, filters, kernel_size, expansion,
        stride, name) -> tensor`.

    Raises:
        ValueError: For any other value, naming it and the names that exist
            (the error names the argument `block_types`, the argument of
            `SearchSpace` that these names are given to).
    """
    if not isinstance(identifier, str) or identifier not in _BLOCKS:
        raise invalid_value("block_types", one_of(_BLOCKS), identifier)
    return _BLOCKS[identifier]


# The name this function had before `get` (as Keras' registries name theirs).
get_block = get


# Candidates train for a few hundred steps only: with Keras' default batch-norm
# momentum (0.99) the moving statistics have not settled by then and inference
# collapses to chance level. 0.9 settles within ~50 steps.
BN_MOMENTUM = 0.9

# The activation of the stem and of the inverted residual's hidden layers.
ACTIVATION = "hard_swish"


def hard_swish(x, name):
    return keras.layers.Activation(ACTIVATION, name=name)(x)


class BlockLayer(
    collections.namedtuple(
        "BlockLayer", ("suffix", "kind", "channels", "expansion_only")
    )
):
    """One layer of a block's description.

    Attributes:
        suffix: String, the layer is named `f"{block name}_{suffix}"`.
        kind: `"pointwise_conv"` (1x1, no bias), `"depthwise_conv"` (the
            block's kernel size and stride, `same` padding, no bias),
            `"batch_norm"` (momentum `BN_MOMENTUM`) or `"activation"`
            (`ACTIVATION`).
        channels: `"hidden"` (the block's input channels times its
            expansion ratio) or `"output"` (its filters): the channels the
            layer outputs.
        expansion_only: Boolean, the layer exists only when the expansion
            ratio is not 1.
    """


# The inverted residual, once: its layers in the order they are created and
# applied (weights are initialised from Keras' seeded global RNG in that
# order), followed by a residual add when `adds_input`. Both the functional
# block (`inverted_residual`, what `SearchSpace.build` makes) and the
# supernet's elastic block (`search.supernet.ElasticInvertedResidual`) are
# made from it, so the supernet's subnets are the search space's candidates.
INVERTED_RESIDUAL = (
    BlockLayer("expand", "pointwise_conv", "hidden", True),
    BlockLayer("expand_bn", "batch_norm", "hidden", True),
    BlockLayer("expand_act", "activation", "hidden", True),
    BlockLayer("depthwise", "depthwise_conv", "hidden", False),
    BlockLayer("depthwise_bn", "batch_norm", "hidden", False),
    BlockLayer("depthwise_act", "activation", "hidden", False),
    BlockLayer("project", "pointwise_conv", "output", False),
    BlockLayer("project_bn", "batch_norm", "output", False),
)


def inverted_residual_layers(expansion):
    """The `INVERTED_RESIDUAL` layers a block of expansion ratio `expansion`
    has, in order."""
    return tuple(
        layer for layer in INVERTED_RESIDUAL
        if expansion != 1 or not layer.expansion_only
    )


def adds_input(stride, in_channels, out_channels):
    """Whether an inverted residual adds its input to its output: stride 1
    and as many output channels as input channels.

    The channel counts may be tensors (a supernet's subnet widths): the
    answer is then a boolean tensor.
    """
    if stride != 1:
        return False
    if ops.is_tensor(in_channels) or ops.is_tensor(out_channels):
        return ops.equal(in_channels, out_channels)
    return in_channels == out_channels


def _functional_layer(layer, name, channels, kernel_size, stride):
    """The Keras layer of one `BlockLayer` of a candidate."""
    if layer.kind == "pointwise_conv":
        return keras.layers.Conv2D(channels, 1, use_bias=False, name=name)
    if layer.kind == "depthwise_conv":
        return keras.layers.DepthwiseConv2D(
            kernel_size, strides=stride, padding="same", use_bias=False,
            name=name,
        )
    if layer.kind == "batch_norm":
        return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)
    if layer.kind == "activation":
        return keras.layers.Activation(ACTIVATION, name=name)
    raise ValueError(f"Unknown block layer kind {layer.kind!r} (`{name}`).")


def inverted_residual(x, filters, kernel_size, expansion, stride, name):
    """MobileNetV3-style inverted residual block (no squeeze-excite).

    1x1 expansion conv, depthwise `kernel_size` conv with `stride`, 1x1
    linear projection, each followed by batch norm; a residual add when the
    stride is 1 and the widths match (`INVERTED_RESIDUAL`, `adds_input`).
    """
    channels = int(x.shape[-1])
    sizes = {"hidden": channels * expansion, "output": filters}
    y = x
    for layer in inverted_residual_layers(expansion):
        y = _functional_layer(
            layer, f"{name}_{layer.suffix}", sizes[layer.channels],
            kernel_size, stride,
        )(y)
    if adds_input(stride, channels, filters):
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
