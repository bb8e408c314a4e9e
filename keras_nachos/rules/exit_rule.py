"""`ExitRule`: when does a sample leave at an early exit?

A rule looks at one exit's output (class probabilities in the first
`num_classes` columns, then an optional confidence column) and gives each
sample a score (`step`); the sample leaves when its score passes the exit's
threshold. What "passes" means is defined once, here, by the pair
`exit_score` / `score_threshold`: a sample leaves iff
`exit_score(score) >= score_threshold(t)`. The staged runner (in its compiled
stages and on the host), the calibration's tables and the evaluation of
thresholds on cached outputs all decide through that pair, so they take the
same exits bit for bit.
"""

import numpy as np

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

DIRECTIONS = ("greater", "less")


class ExitRule:
    """Base class of exit rules.

    A rule with `direction = "greater"` (e.g. max probability) fires at exit
    `i` when `score >= t_i` (`score > t_i` with `strict = True`); a rule with
    `direction = "less"` (entropy) fires when `score < t_i`.

    Subclasses set `name`, `direction` (and `strict`), implement
    `score(probabilities, confidence)` and, if their range is not [0, 1],
    `threshold_range(num_classes)`. A rule with state across exits (the
    cascade rule) overrides `initial_carry` and `step`. A rule whose
    `tf_score` reproduces `score` bit for bit sets `runs_in_graph = True`:
    `predict_early_exit` then decides and drops the leaving samples inside
    each stage's compiled function.

    Args:
        thresholds: Optional list of floats, one per early exit. They can also
            be given at prediction time.
    """

    name = None
    direction = "greater"
    strict = False
    needs_confidence = False
    runs_in_graph = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "decide" in cls.__dict__:
            raise TypeError(
                f"`{cls.__name__}` overrides `ExitRule.decide`: override "
                "`step` (and `initial_carry` for state across exits) instead, "
                "so that the staged runner, the calibration and the "
                "evaluation on cached outputs all decide the same way."
            )

    def __init__(self, thresholds=None):
        if self.direction not in DIRECTIONS:
            raise invalid_value(
                "direction", 'a rule direction, "greater" or "less"',
                self.direction,
            )
        if self.runs_in_graph and type(self).tf_score is ExitRule.tf_score:
            raise invalid_value(
                "runs_in_graph",
                f"False for a rule without `tf_score` ({type(self).__name__})",
                self.runs_in_graph,
            )
        self.thresholds = None if thresholds is None else list(thresholds)

    def threshold_range(self, num_classes):
        """Returns the `(low, high)` range thresholds must lie in."""
        return (0.0, 1.0)

    def score(self, probabilities, confidence):
        """Returns a per-sample score (numpy) from one exit's output."""
        raise NotImplementedError

    def tf_score(self, probabilities):
        """The score as a TF op, bit-identical to `score` (`runs_in_graph`)."""
        raise NotImplementedError

    def initial_carry(self, num_samples):
        """Per-sample state before the first exit (`None`: stateless)."""
        return None

    def step(self, output, num_classes, carry):
        """Scores the samples at one early exit.

        Args:
            output: Array `(n, num_classes [+ 1])`, the exit's output.
            num_classes: Integer.
            carry: Per-sample state from the previous exits (or `None`); rows
                follow the samples of `output`.

        Returns:
            `(score, carry)`: the score of each sample and the state to pass
            to the next exit.
        """
        output = np.asarray(output)
        confidence = (
            output[:, num_classes] if output.shape[1] > num_classes else None
        )
        return self.score(output[:, :num_classes], confidence), carry

    # The one definition of "the rule fires": exit_score >= score_threshold.
    def exit_score(self, score):
        """Maps scores so that the rule fires iff `exit_score >= u`.

        Works on numpy arrays and on TF tensors alike.
        """
        return -score if self.direction == "less" else score

    def score_threshold(self, thresholds):
        """Maps thresholds in the rule's units to `u` (float64).

        Exact for float64 (and float32) scores: `score > t` iff
        `score >= nextafter(t, inf)`, and `score < t` iff
        `-score >= nextafter(-t, inf)`.
        """
        t = np.asarray(thresholds, dtype="float64")
        if self.direction == "greater":
            return np.nextafter(t, np.inf) if self.strict else t.copy()
        return np.nextafter(-t, np.inf)

    def float32_score_threshold(self, thresholds):
        """`score_threshold` as float32 values `v` such that a float32
        score `s` has `s >= v` iff `s >= u` (the smallest float32 not below
        `u`): a float32 graph (the one-file LiteRT early exit) decides
        exactly as the float64 comparison does."""
        u = self.score_threshold(thresholds)
        v = u.astype("float32")
        below = v.astype("float64") < u
        v[below] = np.nextafter(v[below], np.float32(np.inf))
        return v

    def rule_threshold(self, score_thresholds):
        """Inverse of `score_threshold`."""
        u = np.asarray(score_thresholds, dtype="float64")
        if self.direction == "greater":
            return np.nextafter(u, -np.inf) if self.strict else u.copy()
        return -np.nextafter(u, -np.inf) + 0.0  # + 0.0 turns -0.0 into 0.0

    def score_threshold_range(self, num_classes):
        """The `(low, high)` range of `u` that the threshold range allows."""
        low, high = (float(v) for v in self.threshold_range(num_classes))
        a, b = (float(v) for v in self.score_threshold([low, high]))
        return min(a, b), max(a, b)

    def decide(self, output, threshold, num_classes, carry):
        """Returns `(fires, carry)` for the samples at one early exit.

        `step`, then `exit_score(score) >= score_threshold(threshold)`; not
        meant to be overridden (subclasses override `step`).
        """
        return self.fires(
            output, self.score_threshold(threshold), num_classes, carry
        )

    def fires(self, output, score_threshold, num_classes, carry):
        """`decide` with the threshold already mapped by `score_threshold`
        (for callers deciding sample by sample: the mapping is done once)."""
        score, carry = self.step(output, num_classes, carry)
        score = np.asarray(score, dtype="float64")
        return self.exit_score(score) >= score_threshold, carry

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
        try:
            values = np.asarray(thresholds, dtype="float64").reshape(-1)
        except (TypeError, ValueError):
            raise invalid_type(
                "thresholds",
                f"a list of {num_early_exits} floats, one per early exit",
                thresholds,
            ) from None
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
