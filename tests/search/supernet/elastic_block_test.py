"""Tests of `keras_nachos.search.supernet.elastic_block`: the elastic block
computes the candidate's `blocks.inverted_residual` with the inherited
weights, for every choice, because both are made from one description."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_nachos.search import blocks
from keras_nachos.search.supernet import ElasticInvertedResidual
from keras_nachos.search.supernet.extraction import inherit_weights

INFERENCE = dict(training=False, update=False, moments=None)


def elastic_block(in_channels, filters, stride, index, seed=0):
    """A built block (max kernel 5, expansions 1, 2, 3) of random weights and
    batch-norm statistics."""
    block = ElasticInvertedResidual(
        "blk", in_channels, filters, 5, (1, 2, 3), stride, index
    )
    x = np.zeros((1, 6, 6, in_channels), "float32")
    block(x, *_codes(in_channels, filters, 5, 3, 1), INFERENCE)
    rng = np.random.default_rng(seed)
    for layer in block.layers.values():
        for weight in layer.weights:
            value = rng.normal(size=weight.shape)
            if weight.path.endswith(("gamma", "moving_variance")):
                value = np.abs(value) + 0.5
            weight.assign(value.astype("float32"))
    return block


def _codes(*choices):
    return [ops.convert_to_tensor(c, "int32") for c in choices]


def candidate_block(active_in, width, kernel, expansion, stride):
    inputs = keras.Input((6, 6, active_in))
    outputs = blocks.inverted_residual(
        inputs, width, kernel, expansion, stride, "blk"
    )
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize(
    "stride, active_in, width, kernel, expansion",
    [
        (1, 6, 6, 3, 1),  # a residual, no expansion layers
        (1, 4, 8, 5, 2),  # no residual: the widths differ
        (2, 6, 6, 3, 3),  # no residual: stride 2
        (1, 5, 5, 5, 3),  # a residual below the largest width
    ],
)
def test_the_first_block_of_a_stage_is_the_candidates_block(
    stride, active_in, width, kernel, expansion
):
    block = elastic_block(6, 8, stride, 0)
    x = np.random.default_rng(1).normal(size=(3, 6, 6, 6)).astype("float32")
    x[..., active_in:] = 0.0
    got = np.asarray(block(
        x, *_codes(active_in, width, kernel, expansion, 1), INFERENCE
    ))
    model = candidate_block(active_in, width, kernel, expansion, stride)
    inherit_weights(block.inherited_layers(expansion), model)
    expected = np.asarray(model(x[..., :active_in]))
    np.testing.assert_allclose(got[..., :width], expected, atol=2e-5)
    np.testing.assert_array_equal(got[..., width:], 0.0)
    has_add = any(l.name == "blk_add" for l in model.layers)
    assert has_add == (stride == 1 and active_in == width)


def test_a_later_block_adds_its_input_or_is_skipped_past_the_depth():
    block = elastic_block(8, 8, 1, 1)
    x = np.random.default_rng(2).normal(size=(3, 6, 6, 8)).astype("float32")
    x[..., 5:] = 0.0
    codes = dict(active_in=5, width=5, kernel_size=3, expansion=2)
    got = np.asarray(block(x, *_codes(*codes.values(), 2), INFERENCE))
    model = candidate_block(5, 5, 3, 2, 1)
    inherit_weights(block.inherited_layers(2), model)
    np.testing.assert_allclose(
        got[..., :5], np.asarray(model(x[..., :5])), atol=2e-5
    )
    skipped = np.asarray(block(x, *_codes(*codes.values(), 1), INFERENCE))
    np.testing.assert_array_equal(skipped, x)


def test_the_blocks_layers_are_the_candidates_in_creation_order():
    block = elastic_block(6, 8, 1, 0)
    assert block.description == blocks.inverted_residual_layers(3)
    assert list(block.layers) == [
        "expand", "expand_bn", "depthwise", "depthwise_bn", "project",
        "project_bn",
    ]
    assert [l.name for l in block.batch_norms()] == [
        "blk_expand_bn", "blk_depthwise_bn", "blk_project_bn"
    ]
    for expansion in (1, 2):
        model = candidate_block(6, 8, 3, expansion, 1)
        assert [name for name, _ in block.inherited_layers(expansion)] == [
            layer.name for layer in model.layers if layer.weights
        ]
    # Expansion 1 only: no expansion layers at all.
    only_one = ElasticInvertedResidual("one", 6, 8, 3, (1,), 1, 0)
    assert list(only_one.layers) == [
        "depthwise", "depthwise_bn", "project", "project_bn"
    ]


def test_a_change_to_the_description_changes_both_blocks(monkeypatch):
    without = tuple(
        layer for layer in blocks.INVERTED_RESIDUAL
        if layer.suffix != "depthwise_act"
    )
    monkeypatch.setattr(blocks, "INVERTED_RESIDUAL", without)
    block = elastic_block(6, 8, 1, 0)
    model = candidate_block(6, 6, 3, 2, 1)
    assert "blk_depthwise_act" not in [l.name for l in model.layers]
    inherit_weights(block.inherited_layers(2), model)
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 6)).astype("float32")
    got = np.asarray(block(x, *_codes(6, 6, 3, 2, 1), INFERENCE))
    np.testing.assert_allclose(
        got[..., :6], np.asarray(model(x)), atol=2e-5
    )
