"""Tests of `keras_nachos.costs.exit_costs`: the cost of leaving at each exit
(both conventions, expected MACs), read through `EarlyExitModel`."""

import keras
import pytest

from keras_nachos import EarlyExitModel
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
