"""Tests of `keras_nachos.training.exit_weights`: constant weights, SDN's
ramp, argument checks, through `EarlyExitModel.compile`."""

import numpy as np
import pytest

import keras_nachos as kn
from keras_nachos import EarlyExitModel
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


def test_constant_exit_weights_weight_the_total_loss():
    x, y = toy_data(32)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    model.compile("sgd", exit_weights=[0.25, 2.0])
    logs = model.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    expected = 0.25 * logs["exit_1_loss"] + 2.0 * logs["final_loss"]
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)


def test_sdn_ramp_reaches_relative_depths():
    x, y = toy_data(32)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    model.compile("sgd", exit_weights="sdn")
    schedule = model._training_state.schedule
    depths = schedule.relative_depths
    assert 0 < depths[0] < depths[1] < 1
    assert schedule.weights(0, 10) == pytest.approx([0.01, 0.01, 1.0])
    np.testing.assert_allclose(
        schedule.weights(5, 10)[:2],
        [min(c, 0.01 + 5 * c / 10) for c in depths],
    )
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    np.testing.assert_allclose(
        model._training_state.exit_weights.numpy(),
        schedule.weights(2, 3),
        rtol=1e-6,
    )


def test_bad_exit_weights():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    with pytest.raises(ValueError, match="argument `exit_weights`"):
        model.compile("sgd", exit_weights=[1.0])
    with pytest.raises(ValueError, match="argument `exit_weights`"):
        model.compile("sgd", exit_weights="ramp")


def test_exit_weights():
    assert_invalid("weights", kn.ConstantExitWeights, [1.0, NAN])
    assert_invalid("weights", kn.ConstantExitWeights, [1.0, -1.0])
    assert_invalid("relative_depths", kn.SDNRamp, relative_depths=[0.5, NAN])
    assert_invalid("epochs", kn.SDNRamp, epochs=0)
