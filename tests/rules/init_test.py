"""Tests of `keras_nachos/rules/__init__.py`: `get` and `check_rule_fits`."""

import keras
import pytest

import keras_nachos as kn
from keras_nachos import rules as exit_rules
from tests.testing_utils import assert_invalid

NAMES = {
    "max_probability": exit_rules.MaxProbability,
    "entropy": exit_rules.Entropy,
    "score_margin": exit_rules.ScoreMargin,
    "cascade_confidence": exit_rules.CascadeConfidence,
    "class_means": exit_rules.ClassMeans,
}


def test_get_makes_a_rule_from_a_name_a_rule_or_a_config():
    for name, cls in NAMES.items():
        rule = exit_rules.get(name)
        assert type(rule) is cls and rule.name == name
    rule = exit_rules.ScoreMargin(thresholds=[0.25])
    assert exit_rules.get(rule) is rule
    restored = exit_rules.get(keras.saving.serialize_keras_object(rule))
    assert type(restored) is exit_rules.ScoreMargin
    assert restored.thresholds == [0.25]


def test_rule_names():
    with pytest.raises(ValueError, match="argument `rule`"):
        exit_rules.get("most_confident")
    assert_invalid("rule", kn.rules.get, "fastest")
    assert_invalid("rule", kn.rules.get, 3)


@pytest.mark.parametrize("identifier", ["fastest", 3, None, ["entropy"]])
def test_get_refuses_anything_else_listing_the_names_that_exist(identifier):
    with pytest.raises(ValueError) as info:
        exit_rules.get(identifier)
    assert str(info.value) == (
        "Invalid value received for argument `rule`. Expected an ExitRule, a "
        "serialized ExitRule or one of: 'cascade_confidence', 'class_means', "
        "'entropy', 'max_probability', 'score_margin'. "
        f"Received: rule={identifier!r}"
    )


def test_get_refuses_a_config_of_something_else():
    config = keras.saving.serialize_keras_object(keras.layers.Dense(2))
    assert_invalid("rule", exit_rules.get, config)


def test_check_rule_fits():
    exit_rules.check_rule_fits(exit_rules.CascadeConfidence(), [True, True])
    exit_rules.check_rule_fits(exit_rules.MaxProbability(), [False])
    with pytest.raises(ValueError) as info:
        exit_rules.check_rule_fits(exit_rules.CascadeConfidence(), [True, False])
    assert "`confidence=True`" in str(info.value)
    assert "Received: rule='cascade_confidence'" in str(info.value)
