"""Evaluating threshold settings on cached exit outputs.

`evaluate_exit_outputs` is the one evaluation of thresholds on outputs
computed beforehand (`EarlyExitModel.predict_exits`): the early-exit report,
the search's candidate evaluator and the benchmarks use it, and it takes the
exits `predict_early_exit` takes. `evaluate_thresholds` is its vectorised
core on the tables of `exit_tables`, for many settings at once.
"""

import dataclasses
import math

import numpy as np

from keras_nachos import rules as rules_module
from keras_nachos.calibration.exit_tables import exit_scores
from keras_nachos.calibration.exit_tables import exit_tables
from keras_nachos.calibration.exit_tables import output_classes
from keras_nachos.errors import invalid_value


def check_tables(S, R, costs):
    """Validates `(S, R, costs)`; returns them as float64 / bool arrays."""
    S = np.asarray(S, dtype="float64")
    R = np.asarray(R).astype(bool)
    costs = np.asarray(costs, dtype="float64").reshape(-1)
    if S.ndim != 2 or R.ndim != 2 or R.shape != (S.shape[0], S.shape[1] + 1):
        raise invalid_value(
            "R",
            f"a table of shape (n, B) = {(S.shape[0], S.shape[1] + 1)} for "
            f"exit scores S of shape {S.shape}",
            R.shape,
        )
    if np.isnan(S).any():
        raise invalid_value(
            "S", "exit scores that are numbers (no NaN: an exit whose "
            "outputs hold NaN)", int(np.isnan(S).sum()),
        )
    if costs.shape[0] != R.shape[1] or not np.all(np.isfinite(costs)) or (
        np.any(costs < 0)
    ):
        raise invalid_value(
            "costs",
            f"{R.shape[1]} finite non-negative costs, one per exit",
            costs.tolist(),
        )
    return S, R, costs


def exit_index(S, thresholds):
    """Exit taken by each sample: the first `i` with `S[:, i] >= u_i`.

    Args:
        S: Exit scores `(n, B - 1)`.
        thresholds: Score thresholds `(B - 1,)`, or `(m, B - 1)` for `m`
            settings at once.

    Returns:
        Integer array `(n,)` (or `(m, n)`), `B - 1` for the final exit.
    """
    S = np.asarray(S, dtype="float64")
    u = np.asarray(thresholds, dtype="float64")
    single = u.ndim == 1
    u = u.reshape(-1, S.shape[1])
    # From the last early exit down to the first, so that the first exit that
    # fires wins: one `(m, n)` comparison per exit (reducing an `(m, n, B - 1)`
    # table over its short last axis is several times slower).
    index = np.full((u.shape[0], S.shape[0]), S.shape[1])
    for b in range(S.shape[1] - 1, -1, -1):
        index[S[None, :, b] >= u[:, b, None]] = b
    return index[0] if single else index


def evaluate_thresholds(S, R, costs, thresholds):
    """Accuracy, expected cost and exit fractions of score thresholds.

    Args:
        S: Exit scores `(n, B - 1)` from `exit_tables`.
        R: Correctness `(n, B)` from `exit_tables`.
        costs: `B` costs, the cost of a sample leaving at each exit.
        thresholds: Score thresholds `(B - 1,)`, or `(m, B - 1)` to evaluate
            `m` settings at once (vectorised, in chunks).

    Returns:
        `(accuracy, expected_cost, exit_fractions)`: floats and a `(B,)`
        array, or arrays `(m,)`, `(m,)`, `(m, B)` for batched thresholds.

    Example:

    >>> S = np.array([[0.9], [0.5]])
    >>> R = np.array([[True, True], [False, True]])
    >>> evaluate_thresholds(S, R, [1.0, 3.0], [0.8])
    (1.0, 2.0, array([0.5, 0.5]))
    """
    S, R, costs = check_tables(S, R, costs)
    u = np.asarray(thresholds, dtype="float64")
    single = u.ndim == 1
    u = u.reshape(-1, S.shape[1])
    n, B = R.shape
    chunk = max(1, 4_000_000 // max(1, n * max(1, S.shape[1])))
    correct, counts = [], []
    for start in range(0, u.shape[0], chunk):
        index = exit_index(S, u[start : start + chunk])
        correct.append(R[np.arange(n)[None, :], index].sum(axis=1))
        counts.append(np.stack([(index == b).sum(axis=1) for b in range(B)], 1))
    correct = np.concatenate(correct)
    counts = np.concatenate(counts)
    accuracy = correct / n
    # Totals first (exact for integer costs), then the mean.
    expected = (counts * costs[None, :]).sum(axis=1) / n
    fractions = counts / n
    if single:
        return float(accuracy[0]), float(expected[0]), fractions[0]
    return accuracy, expected, fractions



@dataclasses.dataclass(frozen=True)
class ExitOutputsEvaluation:
    """Threshold setting evaluated on cached exit outputs.

    Attributes:
        rule: The `ExitRule`.
        thresholds: List of floats, one per early exit (rule units).
        exit_indices: Integer array `(n,)`, the 0-based exit each sample
            leaves at (`B - 1` is the final exit).
        correct: Bool array `(n, B)`, whether exit `b` classifies sample `n`
            correctly.
        exit_costs: List of `B` floats, the cost of leaving at each exit.
    """

    rule: object
    thresholds: list
    exit_indices: np.ndarray
    correct: np.ndarray
    exit_costs: list

    @property
    def num_samples(self):
        return int(self.exit_indices.shape[0])

    @property
    def taken_correct(self):
        """Bool array `(n,)`: whether the exit taken is right."""
        return self.correct[np.arange(self.num_samples), self.exit_indices]

    @property
    def accuracy(self):
        return float(self.taken_correct.mean()) if self.num_samples else math.nan

    @property
    def exit_fractions(self):
        counts = np.bincount(self.exit_indices, minlength=len(self.exit_costs))
        return (counts / max(1, self.num_samples)).tolist()

    @property
    def expected_macs(self):
        """Mean cost per sample in the costs given."""
        return self.expected_in(self.exit_costs)

    def expected_in(self, exit_costs):
        """Mean cost per sample under other per-exit costs (a convention)."""
        costs = np.asarray(exit_costs, dtype="float64")
        if not self.num_samples:
            return math.nan
        return float(costs[self.exit_indices].sum() / self.num_samples)

    @property
    def exit_accuracy(self):
        """Accuracy of each exit on every sample."""
        return self.correct.mean(axis=0).tolist()

    @property
    def exited_accuracy(self):
        """Accuracy of each exit on the samples that left there (`nan`: none)."""
        return [
            float(self.correct[self.exit_indices == b, b].mean())
            if np.any(self.exit_indices == b)
            else math.nan
            for b in range(self.correct.shape[1])
        ]

    @property
    def final_accuracy(self):
        return float(self.correct[:, -1].mean()) if self.num_samples else math.nan


def exit_indices(exit_outputs, rule="max_probability", thresholds=None,
                 num_classes=None):
    """The exit each sample takes, decided on cached exit outputs.

    The same exits as `predict_early_exit` (the rule's own `exit_score` /
    `score_threshold`, its carry from exit to exit for the cascade rule).

    Args:
        exit_outputs: List of `B` arrays `(n, num_classes [+ 1])`.
        rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
        thresholds: One threshold per early exit (or held by the rule).
        num_classes: Integer. Defaults to the final exit's column count.

    Returns:
        Integer array `(n,)`, the 0-based exit of each sample (`B - 1` is the
        final exit).
    """
    rule = rules_module.get(rule)
    num_classes = output_classes(exit_outputs, num_classes)
    thresholds = rule.validate_thresholds(
        thresholds, len(exit_outputs) - 1, num_classes
    )
    S = exit_scores(exit_outputs, rule, num_classes)
    return exit_index(S, rule.score_threshold(thresholds)).astype("int32")


def evaluate_exit_outputs(
    exit_outputs, y, exit_costs, rule="max_probability", thresholds=None,
    num_classes=None,
):
    """Evaluates thresholds on cached exit outputs.

    Args:
        exit_outputs: List of `B` arrays `(n, num_classes [+ 1])`, one per
            exit in order (as from `EarlyExitModel.predict_exits`).
        y: Integer labels `(n,)` (or one-hot).
        exit_costs: `B` costs, the cost of a sample leaving at each exit
            (e.g. `model.exit_macs`).
        rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
        thresholds: One threshold per early exit, in the rule's units (or
            held by the rule).
        num_classes: Integer. Defaults to the final exit's column count.

    Returns:
        An `ExitOutputsEvaluation` (`accuracy`, `expected_macs`,
        `exit_fractions`, `exit_indices`, per-exit accuracies).

    Example:

    >>> p1 = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> p2 = np.array([[0.2, 0.8], [0.3, 0.7]])
    >>> ev = evaluate_exit_outputs([p1, p2], [0, 1], [1.0, 3.0], thresholds=[0.8])
    >>> ev.accuracy, ev.expected_macs, ev.exit_fractions
    (1.0, 2.0, [0.5, 0.5])
    """
    rule = rules_module.get(rule)
    num_classes = output_classes(exit_outputs, num_classes)
    thresholds = rule.validate_thresholds(
        thresholds, len(exit_outputs) - 1, num_classes
    )
    S, R = exit_tables(exit_outputs, y, rule, num_classes)
    S, R, costs = check_tables(S, R, exit_costs)
    return ExitOutputsEvaluation(
        rule=rule,
        thresholds=[float(t) for t in thresholds],
        exit_indices=exit_index(S, rule.score_threshold(thresholds)).astype(
            "int32"
        ),
        correct=R,
        exit_costs=costs.tolist(),
    )
