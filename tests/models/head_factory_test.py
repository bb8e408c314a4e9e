"""Tests of `keras_nachos.models.head_factory`: head designs (names,
templates, callables) and NACHOS' adaptive conv-head pooling rule."""

from keras_nachos import ConvHead
from keras_nachos import EarlyExitModel
from keras_nachos import GlobalPoolHead
from tests.testing_utils import small_cnn


def test_head_instance_is_a_template_and_callable_heads():
    template = GlobalPoolHead(4, hidden_units=8)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4, head=template)
    assert [h.hidden_units for h in model.heads] == [8, 8]
    assert model.heads[0] is not model.heads[1]
    model = EarlyExitModel.from_backbone(
        small_cnn(),
        ["p1", "p2"],
        4,
        head=lambda i, shape: ConvHead(4, filters=(4,), name=f"h{i}"),
    )
    assert [h.name for h in model.heads] == ["h0", "h1"]


def test_conv_heads_adaptive_pooling_makes_reach_costs_grow():
    model = EarlyExitModel.from_backbone(
        small_cnn(), ["b1", "p1", "b2"], 4, head=ConvHead(4, filters=(4, 8, 8))
    )
    reach = model.exit_macs_taken_head
    assert all(a < b for a, b in zip(reach, reach[1:])), reach
    assert model.heads[0].pool_size > 1  # full-resolution head had to shrink
