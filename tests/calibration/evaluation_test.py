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


def test_evaluation_doors_check_labels_outputs_and_tables():
    from keras_nachos.calibration import evaluate_exit_outputs

    outs = [
        np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]]),
        np.array([[0.2, 0.8], [0.3, 0.7], [0.6, 0.4]]),
    ]
    y = [0, 1, 1]
    assert evaluate_exit_outputs(outs, np.eye(2)[y], [1.0, 2.0], thresholds=[
        0.8]).accuracy == evaluate_exit_outputs(outs, y, [1.0, 2.0],
                                                thresholds=[0.8]).accuracy
    for labels, message in [
        ([0, 2, 1], r"class ids in \[0, 2\).*Received: y=\[2\]"),
        ([0, -1, 1], r"Received: y=\[-1\]"),
        ([2, 2, 2], r"3 of 3 are outside"),
        ([0, 1], r"3 labels, one per sample"),
        ([0, 0.5, 1], "not whole numbers"),
        (np.full((3, 2), 0.5), "one-hot rows"),
    ]:
        with pytest.raises(ValueError, match=r"argument `y`.*" + message):
            evaluate_exit_outputs(outs, labels, [1.0, 2.0], thresholds=[0.8])
    nan = [outs[0], outs[1].copy()]
    nan[1][2, 0] = np.inf
    for door in (
        lambda: evaluate_exit_outputs(nan, y, [1.0, 2.0], thresholds=[0.8]),
        lambda: _exit_indices(nan, "max_probability", [0.8]),
    ):
        with pytest.raises(ValueError, match=r"argument `exit_outputs`.*finite "
                           r"numbers \(exit 1's outputs of 1 of 3 samples"):
            door()
    with pytest.raises(ValueError, match="argument `S`.*no NaN"):
        evaluate_thresholds(np.where(S_HAND > 0.8, np.nan, S_HAND), R_HAND,
                            COSTS_HAND, [0.5, 0.5])
