"""Tests of `keras_nachos.rules.exit_rule`: thresholds, serialization, user
rules, one definition of firing (the `rules` package's lookup is tested in
init_test.py)."""

import math

import numpy as np
import pytest
import tensorflow as tf

import keras_nachos as kn
from keras_nachos import EarlyExitModel
from keras_nachos import ExitRule
from keras_nachos import rules as exit_rules
from keras_nachos.calibration import exit_indices
from keras_nachos.calibration import exit_indices as _exit_indices
from keras_nachos.calibration import exit_tables
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid
from tests.testing_utils import assert_round_trip
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


def test_threshold_ranges():
    rule = exit_rules.Entropy()
    rule.validate_thresholds([math.log(10)], 1, 10)
    with pytest.raises(ValueError, match="values in \\[0, 2.30259\\]"):
        rule.validate_thresholds([2.4], 1, 10)


def test_rules_serialize_and_custom_rules_plug_in():
    rule = exit_rules.ScoreMargin(thresholds=[0.3])
    restored = assert_round_trip(rule)
    assert isinstance(restored, exit_rules.ScoreMargin)
    assert restored.thresholds == [0.3]

    class SecondClassBelow(exit_rules.ExitRule):
        name = "second_below"
        direction = "less"

        def score(self, probabilities, confidence):
            return np.sort(probabilities, axis=1)[:, -2]

    outs = [np.array([[0.9, 0.1], [0.55, 0.45]]), np.array([[0.5, 0.5]] * 2)]
    assert _exit_indices(outs, SecondClassBelow(), [0.2], 2).tolist() == [0, 1]


def test_rules_override_step_not_decide_and_cascade_needs_confidence():
    # One definition of "the rule fires": a rule that overrides `decide`
    # would decide differently in the runner and in the calibration.
    with pytest.raises(TypeError, match="override `step`"):

        class Stateful(exit_rules.MaxProbability):
            def decide(self, output, threshold, num_classes, carry):
                return super().decide(output, threshold, num_classes, carry)

    outputs = [np.full((3, 2), 0.5), np.full((3, 2), 0.5)]
    with pytest.raises(ValueError, match="confidence column"):
        exit_tables(outputs, [0, 1, 0], "cascade_confidence", 2)


@pytest.mark.parametrize(
    "thresholds, match",
    [
        ([0.5], "exactly 2 values"),
        ([0.5, 1.5], "out of range: \\[1.5\\]"),
        (0.5, "argument `thresholds`"),
        (None, "argument `thresholds`"),
    ],
)
def test_bad_thresholds(thresholds, match):
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    with pytest.raises((ValueError, TypeError), match=match):
        model.predict_early_exit(np.zeros((2, 16, 16, 1)), thresholds)


@pytest.mark.parametrize(
    "thresholds",
    [[NAN], [1.5], [-0.1], [0.5, 0.5], "0.5", [[0.5]] * 2, ["a"]],
)
def test_rule_thresholds(thresholds):
    for rule in (kn.MaxProbability(), kn.Entropy(), kn.ScoreMargin(),
                 kn.CascadeConfidence(), kn.ClassMeans()):
        if isinstance(thresholds, list) and thresholds == [1.5] and rule.name == "entropy":
            continue  # within [0, log 4]
        assert_invalid("thresholds", rule.validate_thresholds, thresholds, 1, 4)


class SecondLargest(ExitRule):
    """Exits when the second largest probability is small (a user rule)."""

    name = "second_largest"
    direction = "less"

    def score(self, probabilities, confidence):
        return np.sort(probabilities, axis=1)[:, -2]


class SecondLargestInGraph(SecondLargest):
    runs_in_graph = True

    def tf_score(self, probabilities):
        return tf.math.top_k(probabilities, k=2).values[:, 1]


def test_a_rule_that_claims_the_graph_needs_tf_score():
    class Claims(ExitRule):
        name = "claims"
        runs_in_graph = True

        def score(self, probabilities, confidence):
            return probabilities.max(axis=1)

    with pytest.raises(ValueError, match="argument `runs_in_graph`"):
        Claims()


def test_user_rules_decide_the_same_in_the_graph_on_the_host_and_cached():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    x, _ = toy_data(64)
    outputs = model.predict_exits(x)
    thresholds = [float(np.median(np.sort(o, 1)[:, -2])) for o in outputs[:2]]
    runner = model._get_runner()
    calls = {"graph": 0}
    original = runner._run_in_graph

    def counting(*args, **kwargs):
        calls["graph"] += 1
        return original(*args, **kwargs)

    runner._run_in_graph = counting
    host = model.predict_early_exit(x, thresholds, rule=SecondLargest())
    assert calls["graph"] == 0  # decided on the host
    graph = model.predict_early_exit(x, thresholds, rule=SecondLargestInGraph())
    assert calls["graph"] == 1  # decided inside the compiled stages
    cached = exit_indices(outputs, SecondLargest(), thresholds, 4)
    np.testing.assert_array_equal(host.exit_indices, cached)
    np.testing.assert_array_equal(graph.exit_indices, cached)
    assert 0 < np.mean(cached == 2) < 1  # both kinds of samples occur
