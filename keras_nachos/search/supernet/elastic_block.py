"""The supernet's inverted residual, made from `blocks.INVERTED_RESIDUAL`."""

import keras
from keras import ops

from keras_nachos.search.blocks import ACTIVATION
from keras_nachos.search.blocks import BN_MOMENTUM
from keras_nachos.search.blocks import adds_input
from keras_nachos.search.blocks import inverted_residual_layers
from keras_nachos.search.supernet.elastic_layers import ElasticBatchNormalization
from keras_nachos.search.supernet.elastic_layers import ElasticDepthwiseConv2D
from keras_nachos.search.supernet.elastic_layers import channel_mask
from keras_nachos.search.supernet.elastic_layers import pad_channels


class ElasticInvertedResidual:
    """Every inverted residual one block position of a search space can hold.

    It is made from the description the candidates' block is made from
    (`blocks.INVERTED_RESIDUAL`): the same layers, named alike and created
    in the same order, at their largest size (the largest input width times
    the largest expansion ratio, the stage's largest width, the largest
    kernel), with elastic depthwise convs and batch norms. Calling it runs
    the subnet's block through masks (`elastic_layers`): what
    `blocks.inverted_residual` computes for the subnet's choices with the
    weights `inherited_layers` pairs with the candidate's layers.

    The first block of a stage may change the width and the resolution; it
    adds its input when `blocks.adds_input` (stride 1, equal subnet widths).
    The others keep both, so they always add their input, and are skipped
    (the identity) past the subnet's depth.

    It is a plain Python object, not a Keras layer: the supernet tracks its
    layers in `Supernet.blocks`, a dict of dicts where Keras saves and loads
    their weights as it did before this class existed (Keras addresses saved
    weights by attribute path).

    Args:
        name: String, the block's name (the candidate's block has it too).
        in_channels: Integer, the largest input width.
        filters: Integer, the largest output width.
        kernel_size: Integer, the largest kernel size.
        expansion_ratios: The expansion ratios a subnet may choose.
        stride: Integer, of the depthwise conv.
        index: Integer, the block's 0-based position in its stage.
    """

    def __init__(self, name, in_channels, filters, kernel_size,
                 expansion_ratios, stride, index):
        self.name = name
        self.filters = filters
        self.stride = stride
        self.index = index
        self.expansion_ratios = tuple(expansion_ratios)
        self.max_hidden = in_channels * max(self.expansion_ratios)
        self.description = inverted_residual_layers(max(self.expansion_ratios))
        # At expansion 1 the expansion layers are absent: the block's input
        # replaces their output.
        expansion_layers = [l for l in self.description if l.expansion_only]
        self._input_replaces = (
            expansion_layers[-1].suffix
            if expansion_layers and 1 in self.expansion_ratios else None
        )
        sizes = {"hidden": self.max_hidden, "output": filters}
        self.layers = {}
        for layer in self.description:
            if layer.kind != "activation":
                self.layers[layer.suffix] = _elastic_layer(
                    layer, f"{name}_{layer.suffix}", sizes[layer.channels],
                    kernel_size, stride,
                )

    def __call__(self, x, active_in, width, kernel_size, expansion, depth,
                 bn):
        """The subnet's block on `x`.

        Args:
            x: Tensor `(N, H, W, in_channels)`, its channels beyond
                `active_in` zero.
            active_in, width, kernel_size, expansion, depth: Scalar int32
                tensors, the subnet's input width and its stage's width,
                kernel size, expansion ratio and depth.
            bn: Dict of `ElasticBatchNormalization.masked_call` keyword
                arguments (`training`, `update`, `moments`).

        Returns:
            Tensor `(N, H', W', filters)`, its channels beyond `width` zero.
        """
        masks = {
            "hidden": channel_mask(active_in * expansion, self.max_hidden),
            "output": channel_mask(width, self.filters),
        }
        y = x
        for layer in self.description:
            y = self._apply(layer, y, masks, kernel_size, bn)
            if layer.suffix == self._input_replaces:
                y = ops.where(
                    expansion == 1, pad_channels(x, self.max_hidden), y
                )
        if self.index == 0:
            adds = adds_input(self.stride, active_in, width)
            if adds is not False:
                y = y + ops.cast(adds, y.dtype) * pad_channels(x, self.filters)
            return y
        return x + ops.cast(self.index < depth, y.dtype) * y

    def _apply(self, layer, y, masks, kernel_size, bn):
        if layer.kind == "activation":
            return keras.activations.get(ACTIVATION)(y)
        made = self.layers[layer.suffix]
        if layer.kind == "depthwise_conv":
            return made.masked_call(y, kernel_size)
        if layer.kind == "batch_norm":
            return made.masked_call(y, masks[layer.channels], **bn)
        return made(y)

    def inherited_layers(self, expansion):
        """`(candidate layer name, supernet layer)` for each layer with
        weights of the candidate's block of expansion ratio `expansion`."""
        return [
            (f"{self.name}_{layer.suffix}", self.layers[layer.suffix])
            for layer in inverted_residual_layers(expansion)
            if layer.kind != "activation"
        ]

    def batch_norms(self):
        """The block's `ElasticBatchNormalization` layers, in order."""
        return [
            self.layers[layer.suffix] for layer in self.description
            if layer.kind == "batch_norm"
        ]


def _elastic_layer(layer, name, channels, kernel_size, stride):
    """The supernet's layer of one `blocks.BlockLayer` (not an activation)."""
    if layer.kind == "pointwise_conv":
        return keras.layers.Conv2D(channels, 1, use_bias=False, name=name)
    if layer.kind == "depthwise_conv":
        return ElasticDepthwiseConv2D(kernel_size, strides=stride, name=name)
    if layer.kind == "batch_norm":
        return ElasticBatchNormalization(BN_MOMENTUM, name=name)
    raise ValueError(
        f"The supernet has no elastic form of a block layer of kind "
        f"{layer.kind!r} (`{name}`)."
    )
