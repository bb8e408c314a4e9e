"""Tests of `keras_nachos.models.graph_cuts`: which layers are exit points."""

import pytest

from keras_nachos import EarlyExitModel
from tests.testing_utils import residual_cnn
from tests.testing_utils import small_cnn


@pytest.mark.parametrize(
    "points, match",
    [
        (["nope"], "unknown: \\['nope'\\]"),
        (["p1", "p1"], "duplicated: \\['p1'\\]"),
        (["p2", "p1"], "graph order"),
        (["logits"], "output"),
    ],
)
def test_bad_exit_points(points, match):
    with pytest.raises(ValueError, match="argument `exit_points`") as info:
        EarlyExitModel.from_backbone(small_cnn(), points, 4)
    assert info.match(match)


def test_exit_inside_residual_branch_is_rejected():
    backbone = residual_cnn()
    EarlyExitModel.from_backbone(backbone, ["r1_add"], 4)
    with pytest.raises(ValueError, match="r1_conv2.*residual branch"):
        EarlyExitModel.from_backbone(backbone, ["r1_conv2"], 4)
