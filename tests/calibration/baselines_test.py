"""Tests of `keras_nachos.calibration.baselines`: NACHOS' grid repair and
E2CM's random search."""

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_tables
from tests.calibration.testing_utils import COSTS
from tests.calibration.testing_utils import NUM_CLASSES
from tests.calibration.testing_utils import synthetic_outputs


def test_grid_repair_by_hand():
    # Only "everyone at the final exit" ([1, 1]) is 6/6 accurate (cost 10).
    S = np.array(
        [[0.9, 0.9], [0.7, 0.8], [0.2, 0.6], [0.6, 0.3], [0.1, 0.7], [0.3, 0.2]]
    )
    R = np.array(
        [[1, 1, 1], [0, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 1], [1, 0, 1]], bool
    )
    costs = [1.0, 3.0, 10.0]
    grid = [0.0, 0.5, 1.0]
    u, acc, cost, feasible = calibration.grid_repair_thresholds(S, R, costs, grid=grid)
    assert u.tolist() == [1.0, 1.0] and (acc, cost) == (1.0, 10.0)
    # Repair: the last early exit 1 -> 0.5 sends samples 0, 1, 2, 4 there
    # (5/6 correct, cost 32/6 <= 6): done.
    u, acc, cost, feasible = calibration.grid_repair_thresholds(
        S, R, costs, min_accuracy=0.8, max_macs=6.0, grid=grid
    )
    assert feasible and u.tolist() == [1.0, 0.5]
    assert acc == pytest.approx(5 / 6) and cost == pytest.approx(32 / 6)
    # Budget 5: every further step drops accuracy below 0.8 (0.5 -> 0 at
    # exit 2: 3/6; then 1 -> 0.5 at exit 1: 3/6), so the repair fails.
    u, acc, cost, feasible = calibration.grid_repair_thresholds(
        S, R, costs, min_accuracy=0.8, max_macs=5.0, grid=grid
    )
    assert not feasible and u.tolist() == [1.0, 0.5]


def test_baseline_choices_meet_constraints():
    outputs, y = synthetic_outputs(n=2000, seed=2)
    S, R = exit_tables(outputs, y, "max_probability", NUM_CLASSES)
    u, acc, cost, feasible = calibration.grid_repair_thresholds(
        S, R, COSTS, min_accuracy=0.85, max_macs=40.0, score_range=(0, 1)
    )
    assert feasible and acc >= 0.85 and cost <= 40.0
    assert evaluate_thresholds(S, R, COSTS, u)[:2] == (acc, cost)
    u, acc, cost, feasible = calibration.random_search_hull(
        S, R, COSTS, max_macs=30.0, num_samples=300, seed=1, score_range=(0, 1)
    )
    assert feasible and cost <= 30.0
    assert evaluate_thresholds(S, R, COSTS, u)[:2] == (acc, cost)
