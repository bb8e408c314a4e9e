"""Exit-score and correctness tables of a rule on cached exit outputs.

Every rule reduces, for a fixed data set, to a per-sample, per-early-exit
*exit score* that does not depend on the thresholds: early exit `i` fires iff
`S[:, i] >= u_i`, with `S` the rule's `exit_score` of its `step` scores and
`u = rule.score_threshold(t)` (max probability and score margin use their
score; entropy, a "less" rule, its negation; the cascade rule the cumulative
exit probability `D_i`). With `S`, the correctness table `R` (`R[n, b]`: exit
`b` classifies sample `n` correctly) and the cost of reaching each exit, any
threshold setting is evaluated without running the network again.
"""

import numpy as np

from keras_nachos import rules as rules_module
from keras_nachos.data_utils import check_labels
from keras_nachos.data_utils import nonfinite_samples
from keras_nachos.errors import invalid_value


def score_threshold_range(rule, num_classes):
    """Returns `(low, high)`: the score thresholds a rule's range allows.

    Score thresholds `u` fire iff `S >= u` (see `exit_tables`).
    """
    return rules_module.get(rule).score_threshold_range(num_classes)


def to_score_thresholds(rule, thresholds):
    """Maps thresholds in a rule's units to score thresholds (`S >= u`)."""
    return rules_module.get(rule).score_threshold(thresholds)


def to_rule_thresholds(rule, score_thresholds):
    """Inverse of `to_score_thresholds`."""
    return rules_module.get(rule).rule_threshold(score_thresholds)


def labels_of(y, n, num_classes=None):
    """Class ids `(n,)` from `y` (class ids or one-hot rows), checked:
    integer-valued, in `[0, num_classes)`, one per sample of the exit
    outputs (`data_utils.check_labels`)."""
    return check_labels(y, num_classes, n, "y", "labels")


def exit_tables(exit_outputs, y, rule, num_classes):
    """Exit-score and correctness tables of a rule on precomputed outputs.

    Args:
        exit_outputs: List of `B` arrays `(n, num_classes [+ 1])`, one per
            exit in order (the last is the final exit), as returned by
            `EarlyExitModel.predict_exits`.
        y: Class ids `(n,)` in `[0, num_classes)` (or one-hot rows
            `(n, num_classes)`, converted); others raise a `ValueError`
            naming `y`.
        rule: An `ExitRule` or its name. Stateful rules (the cascade rule)
            are scored exit after exit with their carry, exactly as the
            staged runner scores them.
        num_classes: Integer.

    Returns:
        `(S, R)`: `S`, float64 `(n, B - 1)`, such that early exit `i` fires
        iff `S[:, i] >= u_i` with `u = to_score_thresholds(rule, t)` (so a
        sample leaves at the first such `i`, else at the final exit); `R`,
        bool `(n, B)`, whether exit `b`'s argmax equals the label.

    Example:

    >>> p1 = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> p2 = np.array([[0.2, 0.8], [0.3, 0.7]])
    >>> S, R = exit_tables([p1, p2], [0, 1], "max_probability", 2)
    >>> S[:, 0].tolist(), R.tolist()
    ([0.9, 0.6], [[True, False], [False, True]])
    """
    outputs = _check_outputs(exit_outputs, num_classes)
    y = labels_of(y, outputs[0].shape[0], num_classes)
    R = np.stack([o[:, :num_classes].argmax(axis=1) == y for o in outputs], 1)
    return exit_scores(outputs, rule, num_classes), R


def output_classes(exit_outputs, num_classes=None):
    """`num_classes`, or the final exit's column count when it is `None`;
    a `ValueError` naming `exit_outputs` when they are no list of 2-D
    arrays."""
    if isinstance(exit_outputs, (str, bytes, dict)) or not hasattr(
            exit_outputs, "__len__"):
        raise invalid_value(
            "exit_outputs", "a list of at least 2 exit outputs (arrays "
            "(n, num_classes [+ 1]), as `predict_exits` returns)",
            type(exit_outputs).__name__,
        )
    if len(exit_outputs) < 2:
        raise invalid_value(
            "exit_outputs", "a list of at least 2 exit outputs",
            len(exit_outputs),
        )
    if num_classes is not None:
        return num_classes
    final = np.asarray(exit_outputs[-1])
    if final.ndim != 2:
        raise invalid_value(
            "exit_outputs", "2-D arrays (n, num_classes [+ 1])", final.shape
        )
    return int(final.shape[1])


def _check_outputs(exit_outputs, num_classes):
    output_classes(exit_outputs, num_classes)
    outputs = [np.asarray(o) for o in exit_outputs]
    if len(outputs) < 2:
        raise invalid_value(
            "exit_outputs", "a list of at least 2 exit outputs", len(outputs)
        )
    n = outputs[0].shape[0]
    bad = [
        i
        for i, o in enumerate(outputs)
        if o.ndim != 2 or o.shape[0] != n or o.shape[1] < num_classes
    ]
    if bad:
        raise invalid_value(
            "exit_outputs",
            f"2-D arrays of {n} rows and at least {num_classes} columns "
            f"(exits {bad} are not)",
            [o.shape for o in outputs],
        )
    for i, o in enumerate(outputs):
        bad = nonfinite_samples(o) if np.issubdtype(
            o.dtype, np.number) else np.ones(n, bool)
        if bad is not None and bad.any():
            raise invalid_value(
                "exit_outputs",
                f"finite numbers (exit {i}'s outputs of {int(bad.sum())} of "
                f"{n} samples are not, the first at index "
                f"{int(np.flatnonzero(bad)[0])})",
                [o.shape for o in outputs],
            )
    return outputs


def exit_scores(exit_outputs, rule, num_classes):
    """The exit-score table `S` of `exit_tables`, without labels.

    Args:
        exit_outputs: List of `B` arrays `(n, num_classes [+ 1])`.
        rule: An `ExitRule` or its name.
        num_classes: Integer.

    Returns:
        Float64 array `(n, B - 1)`: early exit `i` fires iff
        `S[:, i] >= rule.score_threshold(t_i)`.
    """
    rule = rules_module.get(rule)
    outputs = _check_outputs(exit_outputs, num_classes)
    n = outputs[0].shape[0]
    carry = rule.initial_carry(n)
    columns = []
    for o in outputs[:-1]:
        score, carry = rule.step(o, num_classes, carry)
        score = np.asarray(score, dtype="float64").reshape(n)
        columns.append(rule.exit_score(score))
    S = np.stack(columns, axis=1)
    if np.isnan(S).any():
        raise invalid_value(
            "exit_outputs",
            "outputs whose exit scores are numbers (NaN scores at early "
            f"exits {sorted(set(np.nonzero(np.isnan(S))[1].tolist()))})",
            [o.shape for o in outputs],
        )
    return S
