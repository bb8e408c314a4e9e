"""Tests of `keras_nachos.calibration.trade_off_search`: the curve is
non-dominated, reproducible and never below the baselines."""

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos import rules as exit_rules
from keras_nachos.calibration import calibrate_from_outputs
from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_indices as _exit_indices
from keras_nachos.calibration import exit_tables
from tests.calibration.testing_utils import COSTS
from tests.calibration.testing_utils import NUM_CLASSES
from tests.calibration.testing_utils import synthetic_outputs


@pytest.fixture(scope="module", params=["max_probability", "cascade_confidence"])
def searched(request):
    rule = exit_rules.get(request.param)
    outputs, y = synthetic_outputs(confidence=rule.needs_confidence, seed=1)
    result = calibrate_from_outputs(outputs, y, COSTS, rule, NUM_CLASSES)
    S, R = exit_tables(outputs, y, rule, NUM_CLASSES)
    return rule, outputs, y, S, R, result


def test_curve_never_below_baselines(searched):
    rule, _, _, S, R, result = searched
    score_range = calibration.score_threshold_range(rule, NUM_CLASSES)
    grid = calibration.grid_curve(S, R, COSTS, score_range=score_range)
    hull = calibration.random_search_curve(
        S, R, COSTS, num_samples=1000, seed=0, score_range=score_range
    )
    levels = np.linspace(COSTS[0], COSTS[-1], 3001)
    ours = np.nan_to_num(calibration.curve_quality(result, levels), nan=-1.0)
    for baseline in (grid, hull):
        theirs = np.nan_to_num(calibration.curve_quality(baseline, levels), nan=-1.0)
        assert np.all(ours >= theirs - 1e-12)
        assert calibration.dominated_area(
            result, COSTS[0], COSTS[-1]
        ) > calibration.dominated_area(baseline, COSTS[0], COSTS[-1])
    # Every baseline point is weakly dominated by a point of ours.
    cost = np.array([p.expected_macs for p in result.curve])
    acc = np.array([p.accuracy for p in result.curve])
    for point in grid + hull:
        assert np.any((cost <= point[0]) & (acc >= point[1]))


def test_curve_is_non_dominated_and_reproducible(searched):
    rule, outputs, y, S, R, result = searched
    curve = result.curve
    cost = np.array([p.expected_macs for p in curve])
    acc = np.array([p.accuracy for p in curve])
    assert len(curve) > 100
    assert np.all(np.diff(cost) > 0) and np.all(np.diff(acc) > 0)
    dominates = (cost[:, None] <= cost[None, :]) & (acc[:, None] >= acc[None, :])
    dominates &= (cost[:, None] < cost[None, :]) | (acc[:, None] > acc[None, :])
    assert not dominates.any()
    thresholds = np.array([p.thresholds for p in curve])
    for t in thresholds:
        rule.validate_thresholds(t, 3, NUM_CLASSES)
    # All points, vectorised on the tables...
    u = calibration.to_score_thresholds(rule, thresholds)
    accs, costs, _ = evaluate_thresholds(S, R, COSTS, u)
    np.testing.assert_array_equal(accs, acc)
    np.testing.assert_array_equal(costs, cost)
    # ... and a spread of them through the rule itself.
    for i in np.unique(np.linspace(0, len(curve) - 1, 20).astype(int)):
        exits = _exit_indices(outputs, rule, curve[i].thresholds, NUM_CLASSES)
        probabilities = np.stack([o[:, :NUM_CLASSES] for o in outputs])
        predicted = probabilities[exits, np.arange(len(y))].argmax(1)
        assert np.mean(predicted == y) == curve[i].accuracy
        assert np.mean(np.asarray(COSTS)[exits]) == curve[i].expected_macs
