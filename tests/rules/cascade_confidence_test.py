"""Tests of `keras_nachos.rules.cascade_confidence`."""

import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos.calibration import exit_indices as _exit_indices
from tests.testing_utils import small_cnn


def test_cascade_rule_by_hand():
    # confidences 0.5 then 0.5: D_1 = 0.5, D_2 = 0.75.
    first = np.array([[0.9, 0.1, 0.5], [0.9, 0.1, 0.5]])
    second = np.array([[0.9, 0.1, 0.5], [0.9, 0.1, 0.5]])
    final = np.array([[0.2, 0.8], [0.2, 0.8]])
    exits = _exit_indices([first, second, final], "cascade_confidence", [0.6, 0.7], 2)
    assert exits.tolist() == [1, 1]
    exits = _exit_indices([first, second, final], "cascade_confidence", [0.6, 0.8], 2)
    assert exits.tolist() == [2, 2]
    exits = _exit_indices([first, second, final], "cascade_confidence", [0.5, 0.8], 2)
    assert exits.tolist() == [0, 0]


def test_cascade_rule_needs_confidence_heads():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    with pytest.raises(ValueError, match="confidence"):
        model.predict_early_exit(
            np.zeros((2, 16, 16, 1)), [0.5], rule="cascade_confidence"
        )
