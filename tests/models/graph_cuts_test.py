"""Tests of `keras_nachos.models.graph_cuts`: which layers are exit points."""

import keras
import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from tests.testing_utils import residual_cnn
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


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


def test_sequential_backbone_is_a_functional_graph():
    # Before: an internal AttributeError ('Sequential' has no
    # '_nodes_by_depth').
    functional = small_cnn()
    sequential = keras.Sequential(
        [keras.Input((16, 16, 1))] + functional.layers[1:], name="seq"
    )
    x, _ = toy_data(6)
    a = EarlyExitModel.from_backbone(functional, ["p1", "p2"], 4, head="sdn")
    keras.utils.set_random_seed(0)
    b = EarlyExitModel.from_backbone(sequential, ["p1", "p2"], 4, head="sdn")
    for head_a, head_b in zip(a.heads, b.heads):
        head_b.set_weights(head_a.get_weights())
    assert b.exit_macs == a.exit_macs
    np.testing.assert_array_equal(
        b.predict_early_exit(x, [0.3, 0.3]).exit_indices,
        a.predict_early_exit(x, [0.3, 0.3]).exit_indices,
    )
    for out_a, out_b in zip(a.predict_exits(x), b.predict_exits(x)):
        np.testing.assert_allclose(out_a, out_b, atol=1e-6)


def test_unbuilt_sequential_and_subclassed_backbones_are_refused():
    unbuilt = keras.Sequential([keras.layers.Dense(4, name="d")])
    with pytest.raises(ValueError, match="argument `backbone`.*built Sequential"):
        EarlyExitModel.from_backbone(unbuilt, ["d"], 4)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(np.zeros((1, 3)))
    with pytest.raises(TypeError, match="argument `backbone`.*functional API"):
        EarlyExitModel.from_backbone(model, ["dense"], 4)
