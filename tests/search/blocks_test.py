"""Tests of `keras_nachos.search.blocks`: the inverted residual is its
description's layers in order, with its residual add; the plain conv; the
block registry."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_nachos.search import blocks
from tests.testing_utils import assert_invalid


def layer_names(block, channels, *args):
    inputs = keras.Input((8, 8, channels))
    model = keras.Model(inputs, block(inputs, *args, name="b"))
    return [layer.name for layer in model.layers[1:]], model


def test_the_inverted_residual_is_its_description_in_order():
    names, model = layer_names(blocks.inverted_residual, 4, 4, 3, 2, 1)
    assert names == [
        "b_expand", "b_expand_bn", "b_expand_act", "b_depthwise",
        "b_depthwise_bn", "b_depthwise_act", "b_project", "b_project_bn",
        "b_add",
    ]
    assert names[:-1] == [f"b_{l.suffix}" for l in blocks.INVERTED_RESIDUAL]
    layers = {layer.name: layer for layer in model.layers}
    assert layers["b_expand"].filters == 8
    assert layers["b_depthwise"].kernel_size == (3, 3)
    assert layers["b_project"].filters == 4
    assert layers["b_project_bn"].momentum == blocks.BN_MOMENTUM
    assert model.output.shape == (None, 8, 8, 4)
    # Expansion 1: no expansion layers; stride 2 or another width: no add.
    names, _ = layer_names(blocks.inverted_residual, 4, 4, 3, 1, 1)
    assert names == ["b_depthwise", "b_depthwise_bn", "b_depthwise_act",
                     "b_project", "b_project_bn", "b_add"]
    names, model = layer_names(blocks.inverted_residual, 4, 6, 5, 1, 2)
    assert names[-1] == "b_project_bn"
    assert model.output.shape == (None, 4, 4, 6)
    assert [l.suffix for l in blocks.inverted_residual_layers(1)] == [
        "depthwise", "depthwise_bn", "depthwise_act", "project", "project_bn"
    ]


def test_the_residual_add_rule():
    assert blocks.adds_input(1, 8, 8) is True
    assert blocks.adds_input(1, 8, 12) is False
    assert blocks.adds_input(2, 8, 8) is False
    same = blocks.adds_input(1, ops.convert_to_tensor(8), 8)
    assert bool(np.asarray(same)) is True
    assert not bool(np.asarray(
        blocks.adds_input(1, ops.convert_to_tensor(8), ops.convert_to_tensor(4))
    ))


def test_the_inverted_residual_adds_its_input():
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, blocks.inverted_residual(inputs, 4, 3, 2, 1, "b"))
    project = keras.Model(inputs, model.get_layer("b_project_bn").output)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(model(x)), x + np.asarray(project(x)), rtol=1e-6, atol=1e-6
    )


def test_the_plain_conv_and_the_registry():
    names, model = layer_names(blocks.plain_conv, 3, 6, 3, 4, 2)
    assert names == ["b_conv", "b_bn", "b_relu"]
    assert model.output.shape == (None, 4, 4, 6)
    assert blocks.get("inverted_residual") is blocks.inverted_residual
    assert blocks.get_block is blocks.get
    assert {"inverted_residual", "plain_conv"} <= set(blocks.names())
    with pytest.raises(ValueError, match="no_such_block") as error:
        blocks.get("no_such_block")
    assert "'inverted_residual'" in str(error.value)
    assert "'plain_conv'" in str(error.value)
    assert_invalid("block_types", blocks.get, "no_such_block")
    assert_invalid("block_types", blocks.get, 3)
    assert_invalid("builder", blocks.register_block, "mine", "not callable")
