import math

import keras
import numpy as np
import pytest

from keras_nachos import rules as exit_rules
from keras_nachos.calibration import exit_indices as _exit_indices


def test_max_probability_entropy_margin_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    np.testing.assert_allclose(exit_rules.MaxProbability().score(p, None), [0.7, 0.4])
    np.testing.assert_allclose(
        exit_rules.ScoreMargin().score(p, None), [0.5, 0.05], atol=1e-12
    )
    h = -(p * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(exit_rules.Entropy().score(p, None), h)
    fires, _ = exit_rules.Entropy().decide(p, h[0] + 1e-9, 3, None)
    assert fires.tolist() == [True, False]


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


def test_apply_rule_first_firing_exit_wins():
    outs = [
        np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]]),
        np.array([[0.5, 0.5], [0.95, 0.05], [0.6, 0.4]]),
        np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]),
    ]
    assert _exit_indices(outs, "max_probability", [0.8, 0.9], 2).tolist() == [0, 1, 2]


def test_threshold_ranges():
    rule = exit_rules.Entropy()
    rule.validate_thresholds([math.log(10)], 1, 10)
    with pytest.raises(ValueError, match="values in \\[0, 2.30259\\]"):
        rule.validate_thresholds([2.4], 1, 10)
    with pytest.raises(ValueError, match="argument `rule`"):
        exit_rules.get("most_confident")


def test_rules_serialize_and_custom_rules_plug_in():
    rule = exit_rules.ScoreMargin(thresholds=[0.3])
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(rule)
    )
    assert isinstance(restored, exit_rules.ScoreMargin)
    assert restored.thresholds == [0.3]

    class SecondClassBelow(exit_rules.ExitRule):
        name = "second_below"
        direction = "less"

        def score(self, probabilities, confidence):
            return np.sort(probabilities, axis=1)[:, -2]

    outs = [np.array([[0.9, 0.1], [0.55, 0.45]]), np.array([[0.5, 0.5]] * 2)]
    assert _exit_indices(outs, SecondClassBelow(), [0.2], 2).tolist() == [0, 1]


def test_class_means_rule_is_strict():
    outs = [np.array([[0.6, 0.4], [0.7, 0.3]]), np.array([[0.5, 0.5]] * 2)]
    assert _exit_indices(outs, "class_means", [0.6], 2).tolist() == [1, 0]
    assert _exit_indices(outs, "max_probability", [0.6], 2).tolist() == [0, 0]
