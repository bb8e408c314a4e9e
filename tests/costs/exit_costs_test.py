"""Tests of `keras_nachos.costs.exit_costs`: the cost of leaving at each exit
(both conventions, expected MACs), read through `EarlyExitModel`."""

import math

import keras
import numpy as np
import pytest

import keras_nachos as kn
from keras_nachos import EarlyExitModel
from keras_nachos import ExitCosts
from keras_nachos.costs import stage_costs
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid
from tests.testing_utils import small_cnn


def test_exit_macs_by_hand():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    b1, b2, b3, dense = 16 * 16 * 8 * 9, 8 * 8 * 16 * 9 * 8, 4 * 4 * 16 * 9 * 16, 64
    h1, h2 = 8 * 4, 16 * 4
    assert model.head_macs == [h1, h2, 0]
    assert model.exit_macs == [b1 + h1, b1 + b2 + h1 + h2, b1 + b2 + b3 + dense + h1 + h2]
    assert model.exit_macs_taken_head == [b1 + h1, b1 + b2 + h2, b1 + b2 + b3 + dense]
    assert model.backbone_macs == b1 + b2 + b3 + dense
    assert model.expected_macs([0.5, 0.25, 0.25]) == pytest.approx(
        0.5 * model.exit_macs[0] + 0.25 * model.exit_macs[1]
        + 0.25 * model.exit_macs[2]
    )
    assert model.expected_macs([1, 0, 0], convention="taken_head") == b1 + h1
    with pytest.raises(ValueError, match="argument `exit_fractions`"):
        model.expected_macs([0.5, 0.5])
    with pytest.raises(ValueError, match="argument `convention`"):
        model.expected_macs([1, 0, 0], convention="mean")


@pytest.mark.parametrize("head", ["global_pool", "sdn", "conv"])
def test_exit_macs_match_the_profiler_per_exit(head):
    from keras_nachos import count_macs

    model = EarlyExitModel.from_backbone(
        small_cnn(), ["p1", "p2"], 4, head=head, confidence=True
    )
    for i in range(model.num_exits):
        upto = keras.Model(model.inputs[0], model._exit_tensors[: i + 1])
        assert count_macs(upto, method="profiler") == model.exit_macs[i]
        assert count_macs(upto) == model.exit_macs[i]


def test_exit_costs():
    assert_invalid("stage_macs", kn.ExitCosts, (1, 2), (1,))
    assert_invalid("stage_macs", kn.ExitCosts, (1, -2), (0, 0))
    costs = kn.ExitCosts((10, 20), (1, 0))
    assert_invalid("exit_fractions", costs.expected, [0.5, NAN])
    assert_invalid("convention", costs.expected, [0.5, 0.5], "flops")
    assert math.isclose(costs.expected([0.5, 0.5]), 21.0)
    assert math.isclose(costs.expected([0.5, 0.5], "taken_head"), 20.5)


def test_both_conventions_and_expected_by_hand():
    costs = ExitCosts(stage_macs=(100, 200, 300), head_macs=(10, 20, 0))
    assert costs.cumulative == [110, 330, 630]
    assert costs.taken_head == [110, 320, 600]
    assert costs.backbone == 600
    assert costs.expected([0.5, 0.25, 0.25]) == pytest.approx(
        0.5 * 110 + 0.25 * 330 + 0.25 * 630)
    assert costs.expected([0.5, 0.25, 0.25], "taken_head") == pytest.approx(
        0.5 * 110 + 0.25 * 320 + 0.25 * 600)
    assert costs.ratio(300.0) == 0.5
    assert ExitCosts.from_dict(costs.to_dict()) == costs


def test_model_costs_are_counted_once_without_a_runner():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4, head="sdn")
    costs = model.exit_costs
    assert model._derived.runner is None  # asking for MACs built no runner
    assert model.exit_costs is costs  # computed once
    assert model.exit_macs == costs.cumulative
    assert model.exit_macs_taken_head == costs.taken_head
    assert model.backbone_macs == costs.backbone
    assert model.head_macs == list(costs.head_macs)
    assert model.expected_macs([1, 0, 0]) == costs.cumulative[0]
    # The same stage costing as the one function the head-pooling rule uses.
    assert stage_costs(model.stage_models, model.exit_layers) == costs
    # The backbone's own MACs: stage sum plus the final layer's (a Dense).
    from keras_nachos import count_macs

    assert costs.backbone == count_macs(model.backbone)
    np.testing.assert_array_equal(
        np.cumsum(costs.stage_macs)[-1], count_macs(model.backbone)
    )
