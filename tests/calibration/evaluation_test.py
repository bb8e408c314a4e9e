"""Tests of `keras_nachos.calibration.evaluation`: thresholds evaluated on
the tables, the first firing exit taken."""

import numpy as np
import pytest

from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_indices as _exit_indices

S_HAND = np.array(
    [[0.9, 0.1], [0.4, 0.8], [0.6, 0.95], [0.2, 0.3], [0.7, 0.5], [0.5, 0.9]]
)


R_HAND = np.array(
    [[1, 0, 1], [0, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1]], bool
)


COSTS_HAND = [1.0, 3.0, 6.0]


def test_evaluate_thresholds_by_hand():
    # Exits [0, 2, 1, 2, 0, 1]; correct: samples 0, 1, 5.
    acc, cost, fractions = evaluate_thresholds(
        S_HAND, R_HAND, COSTS_HAND, [0.65, 0.85]
    )
    assert acc == 0.5
    assert cost == pytest.approx(20 / 6)
    np.testing.assert_allclose(fractions, [2 / 6, 2 / 6, 2 / 6])
    # A threshold equal to a score fires (S >= u): exits [0, 2, 0, 2, 0, 1].
    acc, cost, fractions = evaluate_thresholds(S_HAND, R_HAND, COSTS_HAND, [0.6, 0.9])
    assert (acc, cost) == (0.5, 3.0)
    np.testing.assert_allclose(fractions, [3 / 6, 1 / 6, 2 / 6])
    # Batched: the same two settings at once, plus "never" and "always".
    accs, costs, fractions = evaluate_thresholds(
        S_HAND, R_HAND, COSTS_HAND, [[0.65, 0.85], [0.6, 0.9], [1, 1], [0, 0]]
    )
    np.testing.assert_allclose(accs, [0.5, 0.5, 4 / 6, 2 / 6])
    np.testing.assert_allclose(costs, [20 / 6, 3.0, 6.0, 1.0])
    assert fractions.shape == (4, 3)


def test_apply_rule_first_firing_exit_wins():
    outs = [
        np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]]),
        np.array([[0.5, 0.5], [0.95, 0.05], [0.6, 0.4]]),
        np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]),
    ]
    assert _exit_indices(outs, "max_probability", [0.8, 0.9], 2).tolist() == [0, 1, 2]
