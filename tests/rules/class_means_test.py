"""Tests of `keras_nachos.rules.class_means`."""

import numpy as np

from keras_nachos.calibration import exit_indices as _exit_indices


def test_class_means_rule_is_strict():
    outs = [np.array([[0.6, 0.4], [0.7, 0.3]]), np.array([[0.5, 0.5]] * 2)]
    assert _exit_indices(outs, "class_means", [0.6], 2).tolist() == [1, 0]
    assert _exit_indices(outs, "max_probability", [0.6], 2).tolist() == [0, 0]
