"""Exit decision rules: when does a sample leave at an early exit?

Every rule looks at one exit's output (class probabilities in the first
`num_classes` columns, then an optional confidence column) and decides, per
sample, whether the sample leaves there. Rules with state across exits (the
cascade rule) carry it in a per-sample array that travels with the samples
still in flight.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value


class ExitRule:
    """Base class of exit rules.

    A rule fires at exit `i` when `score(output) >= threshold_i` for rules with
    `direction = "greater"` (e.g. max probability), or when
    `score(output) < threshold_i` for `direction = "less"` (entropy).
    Subclasses implement `score`, and set `name`, `direction` and
    `threshold_range(num_classes)`. Rules with state across exits override
    `initial_carry` and `decide`.

    Args:
        thresholds: Optional list of floats, one per early exit. They can also
            be given at prediction time.
    """

    name = None
    direction = "greater"
    # With `strict = True` a "greater" rule fires when `score > threshold`.
    strict = False
    needs_confidence = False

    def __init__(self, thresholds=None):
        self.thresholds = None if thresholds is None else list(thresholds)

    def threshold_range(self, num_classes):
        """Returns the `(low, high)` range thresholds must lie in."""
        return (0.0, 1.0)

    def score(self, probabilities, confidence):
        """Returns a per-sample score from one exit's output."""
        raise NotImplementedError

    def initial_carry(self, num_samples):
        return None

    def tf_score(self, probabilities):
        """The score as a TF op, bit-identical to `score`, or `None`.

        Rules that define it let `predict_early_exit` decide and drop the
        leaving samples inside each stage's compiled function.
        """
        return None

    def decide(self, output, threshold, num_classes, carry):
        """Returns `(fires, carry)` for the samples at one early exit.

        Args:
            output: Array of shape `(n, num_classes [+ 1])`, the exit output.
            threshold: Float, this exit's threshold.
            num_classes: Integer.
            carry: Per-sample state from the previous exit (or `None`).
        """
        confidence = (
            output[:, num_classes] if output.shape[1] > num_classes else None
        )
        score = self.score(output[:, :num_classes], confidence)
        if self.direction == "greater":
            if self.strict:
                return score > threshold, carry
            return score >= threshold, carry
        return score < threshold, carry

    def validate_thresholds(self, thresholds, num_early_exits, num_classes):
        """Checks count and range; returns a float64 array."""
        if thresholds is None:
            thresholds = self.thresholds
        if thresholds is None:
            raise invalid_value(
                "thresholds",
                f"a list of {num_early_exits} floats (one per early exit) "
                f"given here or to the `{type(self).__name__}` rule",
                thresholds,
            )
        if np.isscalar(thresholds):
            raise invalid_type(
                "thresholds",
                f"a list of {num_early_exits} floats, one per early exit",
                thresholds,
            )
        values = np.asarray(thresholds, dtype="float64").reshape(-1)
        if values.shape[0] != num_early_exits:
            raise invalid_value(
                "thresholds",
                f"exactly {num_early_exits} values, one per early exit "
                "(the final exit always fires)",
                list(thresholds),
            )
        low, high = self.threshold_range(num_classes)
        bad = [t for t in values.tolist() if not (low <= t <= high)]
        if bad:
            raise invalid_value(
                "thresholds",
                f"values in [{low:g}, {high:g}] for the {self.name} rule "
                f"(out of range: {bad})",
                list(thresholds),
            )
        return values

    def get_config(self):
        return {"thresholds": self.thresholds}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(thresholds={self.thresholds})"


@keras.saving.register_keras_serializable(package="keras_nachos")
class MaxProbability(ExitRule):
    """Shallow-Deep Networks: exit when `max_k p_k >= t` (t in [0, 1])."""

    name = "max_probability"

    def score(self, probabilities, confidence):
        return probabilities.max(axis=1)

    def tf_score(self, probabilities):
        return tf.reduce_max(probabilities, axis=1)


@keras.saving.register_keras_serializable(package="keras_nachos")
class Entropy(ExitRule):
    """BranchyNet: exit when `H(p) = -sum p log p < t` (t in [0, log K])."""

    name = "entropy"
    direction = "less"

    def threshold_range(self, num_classes):
        return (0.0, math.log(num_classes))

    def score(self, probabilities, confidence):
        p = np.clip(probabilities, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=1)


@keras.saving.register_keras_serializable(package="keras_nachos")
class ScoreMargin(ExitRule):
    """EDANAS: exit when `p_(1) - p_(2) >= t` (top-1 minus top-2, t in [0, 1])."""

    name = "score_margin"

    def score(self, probabilities, confidence):
        top2 = np.sort(probabilities, axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0]

    def tf_score(self, probabilities):
        top2 = tf.math.top_k(probabilities, k=2).values
        return top2[:, 0] - top2[:, 1]


@keras.saving.register_keras_serializable(package="keras_nachos")
class CascadeConfidence(ExitRule):
    """NACHOS cascade rule for confidence heads.

    With `c_i` the confidence of exit `i`, exit probabilities are
    `q_i = c_i * prod_{j<i} (1 - c_j)`; a sample leaves at the first exit with
    `D_i = sum_{k<=i} q_k >= t_i` (t in [0, 1]).
    """

    name = "cascade_confidence"
    needs_confidence = True

    def initial_carry(self, num_samples):
        # Columns: probability mass not yet spent, D_i so far.
        carry = np.zeros((num_samples, 2))
        carry[:, 0] = 1.0
        return carry

    def decide(self, output, threshold, num_classes, carry):
        if output.shape[1] <= num_classes:
            raise ValueError(
                "The cascade_confidence rule needs confidence heads "
                "(`confidence=True`): this exit's output has "
                f"{output.shape[1]} columns for {num_classes} classes."
            )
        c = output[:, num_classes].astype("float64")
        remaining, spent = carry[:, 0], carry[:, 1]
        spent = spent + c * remaining
        remaining = remaining * (1.0 - c)
        return spent >= threshold, np.stack([remaining, spent], axis=1)


@keras.saving.register_keras_serializable(package="keras_nachos")
class ClassMeans(ExitRule):
    """E2CM: exit when `max_k softmax(-d~)_k > t` (strictly; t in [0, 1]).

    For `ClassMeansHead` exits, whose output is `softmax(-d~)`; on trained
    heads it is the max-probability rule with a strict inequality.
    """

    name = "class_means"
    strict = True

    def score(self, probabilities, confidence):
        return probabilities.max(axis=1)

    def tf_score(self, probabilities):
        return tf.reduce_max(probabilities, axis=1)


_RULES = {
    cls.name: cls
    for cls in (MaxProbability, Entropy, ScoreMargin, CascadeConfidence, ClassMeans)
}


def get(identifier):
    """Returns a rule instance from a name, a rule, or a config dict."""
    if isinstance(identifier, ExitRule):
        return identifier
    if isinstance(identifier, str) and identifier in _RULES:
        return _RULES[identifier]()
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise invalid_value(
        "rule", f"an ExitRule or one of {sorted(_RULES)}", identifier
    )


def apply_rule(rule, exit_outputs, thresholds, num_classes):
    """Applies a rule to the outputs of every exit, computed beforehand.

    Args:
        rule: An `ExitRule` or its name.
        exit_outputs: List of arrays `(n, num_classes [+ 1])`, one per exit in
            order, the last being the final exit.
        thresholds: One threshold per early exit.
        num_classes: Integer.

    Returns:
        Integer array `(n,)`: the 0-based exit each sample leaves at.
    """
    rule = get(rule)
    num_early = len(exit_outputs) - 1
    thresholds = rule.validate_thresholds(thresholds, num_early, num_classes)
    n = exit_outputs[0].shape[0]
    exit_index = np.full(n, num_early, dtype="int32")
    pending = np.ones(n, dtype=bool)
    carry = rule.initial_carry(n)
    for i in range(num_early):
        fires, carry = rule.decide(
            np.asarray(exit_outputs[i]), thresholds[i], num_classes, carry
        )
        newly = pending & fires
        exit_index[newly] = i
        pending &= ~fires
    return exit_index
