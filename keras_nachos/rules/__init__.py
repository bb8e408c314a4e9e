"""Exit decision rules: when does a sample leave at an early exit?"""

import keras

from keras_nachos.errors import invalid_value
from keras_nachos.errors import one_of
from keras_nachos.rules.cascade_confidence import CascadeConfidence
from keras_nachos.rules.class_means import ClassMeans
from keras_nachos.rules.entropy import Entropy
from keras_nachos.rules.exit_rule import ExitRule
from keras_nachos.rules.max_probability import MaxProbability
from keras_nachos.rules.score_margin import ScoreMargin

_RULES = {
    cls.name: cls
    for cls in (MaxProbability, Entropy, ScoreMargin, CascadeConfidence, ClassMeans)
}


def get(identifier):
    """Returns a rule instance from a name, a rule, or a config dict.

    Args:
        identifier: An `ExitRule`, one of `"max_probability"`, `"entropy"`,
            `"score_margin"`, `"cascade_confidence"`, `"class_means"`, or a
            serialized rule (`keras.saving.serialize_keras_object(rule)`).

    Returns:
        An `ExitRule`.

    Raises:
        ValueError: For any other value, naming it and the rule names that
            exist (the error names the argument `rule`, as every function
            that takes a rule calls it).

    Example:

    >>> get("entropy").name
    'entropy'
    """
    if isinstance(identifier, ExitRule):
        return identifier
    if isinstance(identifier, str) and identifier in _RULES:
        return _RULES[identifier]()
    if isinstance(identifier, dict):
        rule = keras.saving.deserialize_keras_object(identifier)
        if isinstance(rule, ExitRule):
            return rule
    raise invalid_value(
        "rule",
        f"an ExitRule, a serialized ExitRule or {one_of(_RULES)}",
        identifier,
    )


def check_rule_fits(rule, has_confidence):
    """Raises unless the model's early heads give what `rule` needs.

    Args:
        rule: An `ExitRule`.
        has_confidence: List of booleans, one per early exit.
    """
    if rule.needs_confidence and not all(has_confidence):
        raise invalid_value(
            "rule",
            "a rule that does not need confidence heads (this model's early "
            "heads have no confidence output; build it with "
            "`confidence=True`)",
            rule.name,
        )
