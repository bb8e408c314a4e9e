"""Tests of `keras_nachos.calibration.exit_tables`: the tables reproduce the
rule's exits, threshold conversions round-trip."""

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos import rules as exit_rules
from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_indices as _exit_indices
from keras_nachos.calibration import exit_tables
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid


class _OneMinusMax(exit_rules.ExitRule):
    """A user rule defining only `score` and `direction` (a "less" rule)."""

    name = "one_minus_max"
    direction = "less"

    def score(self, probabilities, confidence):
        return 1.0 - probabilities.max(axis=1)


def test_exit_tables_by_hand():
    p1 = np.array([[0.9, 0.1], [0.6, 0.4]])
    p2 = np.array([[0.2, 0.8], [0.3, 0.7]])
    S, R = exit_tables([p1, p2], [0, 1], "max_probability", 2)
    np.testing.assert_allclose(S[:, 0], [0.9, 0.6])
    assert R.tolist() == [[True, False], [False, True]]
    S, _ = exit_tables([p1, p2], np.eye(2)[[0, 1]], "entropy", 2)  # one-hot y
    h = -(p1 * np.log(p1)).sum(1)
    np.testing.assert_allclose(S[:, 0], -h)


@pytest.mark.parametrize(
    "rule",
    [
        "max_probability",
        "entropy",
        "score_margin",
        "cascade_confidence",
        _OneMinusMax(),
    ],
    ids=lambda r: getattr(r, "name", r),
)
def test_exit_tables_reproduce_apply_rule(rule):
    rule = exit_rules.get(rule)
    rng = np.random.default_rng(3)
    n, k = 400, 5
    outputs = [rng.dirichlet(np.full(k, 0.5), n).astype("float32") for _ in range(4)]
    if rule.needs_confidence:
        for i in range(3):
            c = rng.uniform(0, 1, (n, 1)).astype("float32")
            outputs[i] = np.concatenate([outputs[i], c], 1)
    y = rng.integers(0, k, n)
    S, R = exit_tables(outputs, y, rule, k)
    assert S.shape == (n, 3) and R.shape == (n, 4)
    low, high = rule.threshold_range(k)
    settings = [[low] * 3, [high] * 3]
    settings += rng.uniform(low, high, (20, 3)).tolist()
    # Thresholds equal to a sample's own score: the firing test's equality.
    for _ in range(20):
        rows = rng.integers(0, n, 3)
        own = S[rows, np.arange(3)]
        settings.append((-own if rule.direction == "less" else own).tolist())
    for t in settings:
        expected = _exit_indices(outputs, rule, t, k)
        u = calibration.to_score_thresholds(rule, t)
        np.testing.assert_array_equal(calibration.exit_index(S, u), expected)
        round_trip = calibration.to_rule_thresholds(rule, u)
        np.testing.assert_array_equal(round_trip, t)
        acc, _, _ = evaluate_thresholds(S, R, [1, 2, 3, 4], u)
        assert acc == np.mean(R[np.arange(n), expected])


def test_calibration_tables():
    outputs = [np.full((4, 2), 0.5), np.full((4, 2), 0.5)]
    y = [0, 1, 0, 1]
    assert_invalid("exit_outputs", calibration.exit_tables, outputs[:1], y,
            "max_probability", 2)
    assert_invalid("exit_outputs", calibration.exit_tables,
            [outputs[0], np.zeros((3, 2))], y, "max_probability", 2)
    nan_outputs = [np.full((4, 2), NAN), outputs[1]]
    assert_invalid("exit_outputs", calibration.exit_tables, nan_outputs, y,
            "max_probability", 2)
    assert_invalid("y", calibration.exit_tables, outputs, y[:3], "max_probability", 2)
    assert_invalid("costs", calibration.calibrate_from_outputs, outputs, y, [1.0, NAN])
    assert_invalid("costs", calibration.calibrate_from_outputs, outputs, y, [1.0, -2.0])
    assert_invalid("costs", calibration.calibrate_from_outputs, outputs, y, [1.0])
    assert_invalid("search_options", calibration.calibrate_from_outputs, outputs, y,
            [1.0, 2.0], beam=3)
