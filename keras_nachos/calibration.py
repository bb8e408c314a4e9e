"""Threshold calibration: the accuracy / expected-MACs trade-off of exit rules.

An early-exit model's thresholds are tuned after training, on validation
data. Every rule in `keras_nachos.exit_rules` reduces, for a fixed data set,
to a per-sample, per-early-exit *exit score* that does not depend on the
thresholds: exit `i` fires iff `S[:, i] >= u_i`. (Max probability and score
margin use their score; entropy, a "less" rule, its negation; the cascade rule
the cumulative exit probability `D_i`.) With `S`, the correctness table `R`
(`R[n, b]`: exit `b` classifies sample `n` correctly) and the cost of reaching
each exit, any threshold setting is evaluated without running the network
again, and a search can look at many thousands of them.

`calibrate_thresholds` runs the model once and searches the whole trade-off
curve; `grid_repair_thresholds` (NACHOS' procedure) and `random_search_hull`
(E2CM's) are the baselines, public so that benchmarks can compare.

Search (`calibrate_from_outputs`): every move changes one exit's threshold
and evaluates *all* its distinct settings at once (sorted scores of the
samples still pending there, cumulative sums of the cost/correctness change):
`O(n log n)` per move, every setting archived. Moves are driven by Lagrangian
coordinate descent (minimise `cost - lambda * correct`) over a log-spaced set
of `lambda`, swept down from "never exit early" and up from "always exit
first", seeded with every outcome of the baseline grid (so the curve
dominates `grid_curve(..., score_range=score_threshold_range(rule, K))` by
construction), then by a Pareto local
search that expands points of the archive's non-dominated front (this fills
the non-convex parts a Lagrangian cannot reach). The archive keeps, for every
number of correct samples, the cheapest setting found; its non-dominated set
is the returned curve. Measured on 2 shared CPU cores, 4 exits and 10,000
validation samples: 0.8 s per call (median, max-probability and cascade
rules alike), ~1,200 moves; the curve was never below either baseline's on
the synthetic outputs of the tests.
"""

import collections
import dataclasses
import math

import numpy as np

from keras_nachos import exit_rules
from keras_nachos.data_utils import dataset_arrays
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

TradeOffPoint = collections.namedtuple(
    "TradeOffPoint", ["expected_macs", "accuracy", "thresholds"]
)
TradeOffPoint.__doc__ = """One non-dominated point of a trade-off curve.

Attributes:
    expected_macs: Float, mean cost per sample.
    accuracy: Float, accuracy on the calibration data.
    thresholds: List of floats, one per early exit (rule units for a
        `CalibrationResult`, score units for the baselines on `S`).
"""

_CONVENTIONS = ("cumulative", "taken_head")
_SEARCH_OPTIONS = ("num_lambdas", "grid", "max_moves", "expand_per_round")


# ----------------------------------------------------------------------
# Exit scores and thresholds.
# ----------------------------------------------------------------------
def _check_direction(rule):
    if rule.direction not in ("greater", "less"):
        raise invalid_value(
            "rule", 'a rule whose `direction` is "greater" or "less"', rule
        )


def score_threshold_range(rule, num_classes):
    """Returns `(low, high)`: the score thresholds a rule's range allows.

    Score thresholds `u` fire iff `S >= u` (see `exit_tables`).
    """
    rule = exit_rules.get(rule)
    _check_direction(rule)
    low, high = (float(v) for v in rule.threshold_range(num_classes))
    if rule.direction == "greater":
        if rule.strict:
            return float(np.nextafter(low, np.inf)), float(np.nextafter(high, np.inf))
        return low, high
    return float(np.nextafter(-high, np.inf)), float(np.nextafter(-low, np.inf))


def to_score_thresholds(rule, thresholds):
    """Maps thresholds in a rule's units to score thresholds (`S >= u`).

    A "less" rule fires iff `score < t`, i.e. `-score > -t`, i.e.
    `-score >= nextafter(-t, inf)` for float64 scores: the map is exact.
    """
    rule = exit_rules.get(rule)
    _check_direction(rule)
    t = np.asarray(thresholds, dtype="float64")
    if rule.direction == "greater":
        # A strict rule fires iff score > t, i.e. score >= nextafter(t, inf).
        return np.nextafter(t, np.inf) if rule.strict else t.copy()
    return np.nextafter(-t, np.inf)


def to_rule_thresholds(rule, score_thresholds):
    """Inverse of `to_score_thresholds`."""
    rule = exit_rules.get(rule)
    _check_direction(rule)
    u = np.asarray(score_thresholds, dtype="float64")
    if rule.direction == "greater":
        return np.nextafter(u, -np.inf) if rule.strict else u.copy()
    return -np.nextafter(u, -np.inf) + 0.0  # + 0.0 turns -0.0 into 0.0


def _labels(y, n):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if y.shape[0] != n:
        raise invalid_value(
            "y", f"{n} labels, one per sample of the exit outputs", y.shape
        )
    return y


def exit_tables(exit_outputs, y, rule, num_classes):
    """Exit-score and correctness tables of a rule on precomputed outputs.

    Args:
        exit_outputs: List of `B` arrays `(n, num_classes [+ 1])`, one per
            exit in order (the last is the final exit), as returned by
            `EarlyExitModel.predict_exits`.
        y: Integer labels `(n,)` (or one-hot `(n, num_classes)`).
        rule: An `ExitRule` or its name. Built-in rules and user rules that
            only define `score` and `direction` are supported; the cascade
            rule's cumulative exit probability is computed exactly as its
            `decide` does.
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
    rule = exit_rules.get(rule)
    _check_direction(rule)
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
    y = _labels(y, n)
    R = np.stack([o[:, :num_classes].argmax(axis=1) == y for o in outputs], 1)
    early = outputs[:-1]
    decide = type(rule).decide
    if decide is exit_rules.CascadeConfidence.decide:
        S = _cascade_scores(early, num_classes)
    elif decide is exit_rules.ExitRule.decide:
        columns = []
        for o in early:
            confidence = o[:, num_classes] if o.shape[1] > num_classes else None
            score = np.asarray(rule.score(o[:, :num_classes], confidence))
            columns.append(score.astype("float64").reshape(n))
        S = np.stack(columns, axis=1)
        if rule.direction == "less":
            S = -S
    else:
        raise invalid_value(
            "rule",
            "a rule that fires on `score(...)` against its threshold (one "
            "that overrides `decide` with state across exits cannot be "
            "tabulated; only the built-in cascade rule can)",
            rule,
        )
    if np.isnan(S).any():
        raise invalid_value(
            "exit_outputs",
            "outputs whose exit scores are numbers (NaN scores at early "
            f"exits {sorted(set(np.nonzero(np.isnan(S))[1].tolist()))})",
            [o.shape for o in outputs],
        )
    return S, R


def _cascade_scores(early, num_classes):
    # The same float64 operations, in the same order, as
    # `CascadeConfidence.decide`: identical bits, so identical decisions.
    n = early[0].shape[0]
    remaining, spent = np.ones(n), np.zeros(n)
    columns = []
    for i, o in enumerate(early):
        if o.shape[1] <= num_classes:
            raise invalid_value(
                "exit_outputs",
                "a confidence column after the class probabilities of every "
                "early exit for the cascade_confidence rule (build the model "
                f"with `confidence=True`); exit {i} has {o.shape[1]} columns "
                f"for {num_classes} classes",
                [e.shape for e in early],
            )
        c = o[:, num_classes].astype("float64")
        spent = spent + c * remaining
        remaining = remaining * (1.0 - c)
        columns.append(spent)
    return np.stack(columns, axis=1)


# ----------------------------------------------------------------------
# Evaluation.
# ----------------------------------------------------------------------
def _check_tables(S, R, costs):
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
    fires = S[None, :, :] >= u[:, None, :]
    index = np.where(fires.any(axis=2), fires.argmax(axis=2), S.shape[1])
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
    S, R, costs = _check_tables(S, R, costs)
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


# ----------------------------------------------------------------------
# Curves.
# ----------------------------------------------------------------------
def pareto_front(costs, accuracies):
    """Indices of the non-dominated points (min cost, max accuracy).

    Returns:
        Integer array of indices sorted by increasing cost (and strictly
        increasing accuracy). Of points with identical coordinates one is
        kept.
    """
    costs = np.asarray(costs, dtype="float64").reshape(-1)
    accuracies = np.asarray(accuracies, dtype="float64").reshape(-1)
    order = np.lexsort((-accuracies, costs))
    ranked = accuracies[order]
    before = np.concatenate([[-np.inf], np.maximum.accumulate(ranked)[:-1]])
    return order[ranked > before].astype("int64")


def upper_convex_hull(costs, accuracies):
    """Indices of the vertices of the upper-left convex hull of the points.

    The concave chain from the cheapest (most accurate of the cheapest) point
    to the most accurate (cheapest of the most accurate) one, sorted by cost.
    """
    costs = np.asarray(costs, dtype="float64").reshape(-1)
    accuracies = np.asarray(accuracies, dtype="float64").reshape(-1)
    hull = []
    for i in pareto_front(costs, accuracies):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (costs[b] - costs[a]) * (accuracies[i] - accuracies[a]) - (
                accuracies[b] - accuracies[a]
            ) * (costs[i] - costs[a])
            if cross >= 0:  # b on or below the chord a-i
                hull.pop()
            else:
                break
        hull.append(i)
    return np.asarray(hull, dtype="int64")


def _curve_arrays(curve):
    if isinstance(curve, CalibrationResult):
        curve = curve.curve
    if len(curve) == 0:
        return np.zeros(0), np.zeros(0)
    cost = np.asarray([p[0] for p in curve], dtype="float64")
    acc = np.asarray([p[1] for p in curve], dtype="float64")
    return cost, acc


def curve_quality(curve, cost_levels):
    """Best accuracy reachable at a cost `<= c`, for each level `c`.

    Args:
        curve: A list of `TradeOffPoint`s (or `(cost, accuracy, ...)`
            tuples), or a `CalibrationResult`.
        cost_levels: Array of cost levels.

    Returns:
        Float array like `cost_levels`, `nan` where no point is that cheap.
    """
    cost, acc = _curve_arrays(curve)
    levels = np.asarray(cost_levels, dtype="float64")
    order = np.argsort(cost, kind="stable")
    cost, best = cost[order], np.maximum.accumulate(acc[order]) if len(acc) else acc
    position = np.searchsorted(cost, levels, side="right")
    out = np.full(levels.shape, np.nan)
    reachable = position > 0
    out[reachable] = best[position[reachable] - 1]
    return out


def dominated_area(curve, min_cost, max_cost):
    """Mean over `[min_cost, max_cost]` of the best accuracy at cost `<= c`.

    The exact area under the accuracy-vs-cost staircase (0 where nothing is
    that cheap), divided by `max_cost - min_cost`: larger is better, and a
    curve that is never below another has at least its area.
    """
    if not max_cost > min_cost:
        raise invalid_value("max_cost", f"a cost above min_cost={min_cost}", max_cost)
    cost, _ = _curve_arrays(curve)
    inside = cost[(cost > min_cost) & (cost < max_cost)]
    edges = np.unique(np.concatenate([[min_cost, max_cost], inside]))
    heights = np.nan_to_num(curve_quality(curve, edges[:-1]), nan=0.0)
    return float(np.sum(heights * np.diff(edges)) / (max_cost - min_cost))


# ----------------------------------------------------------------------
# Baselines.
# ----------------------------------------------------------------------
def _score_range(S, score_range):
    if score_range is None:
        return float(S.min()), float(S.max())
    low, high = (float(v) for v in score_range)
    if not high >= low:
        raise invalid_value(
            "score_range", "a pair (low, high) with low <= high", score_range
        )
    return low, high


def _grid_values(grid, num_early, score_range):
    low, high = score_range
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        if grid < 2:
            raise invalid_value("grid", "an integer >= 2 or arrays of values", grid)
        values = np.linspace(low, high, int(grid))
        return [values] * num_early
    grid = list(grid)
    if grid and np.ndim(grid[0]) == 0:
        return [np.asarray(grid, dtype="float64")] * num_early
    if len(grid) != num_early:
        raise invalid_value(
            "grid", f"one array of values per early exit ({num_early})", grid
        )
    return [np.asarray(g, dtype="float64").reshape(-1) for g in grid]


def _grid_points(values):
    mesh = np.meshgrid(*values, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1)


def grid_curve(S, R, costs, grid=11, score_range=None):
    """Non-dominated set of a grid of score thresholds (NACHOS' evaluation).

    Args:
        S, R, costs: Tables from `exit_tables` and per-exit costs.
        grid: Integer (values per exit, spread evenly over `score_range`),
            a 1-D array of score thresholds shared by every exit, or a list
            of arrays, one per early exit. Defaults to `11` (11^(B-1)
            settings).
        score_range: `(low, high)` of score thresholds, e.g.
            `score_threshold_range(rule, num_classes)`. Defaults to the range
            of `S`.

    Returns:
        List of `TradeOffPoint`s (thresholds in score units), by cost.
    """
    S, R, costs = _check_tables(S, R, costs)
    points = _grid_points(_grid_values(grid, S.shape[1], _score_range(S, score_range)))
    accuracy, expected, _ = evaluate_thresholds(S, R, costs, points)
    return [
        TradeOffPoint(float(expected[i]), float(accuracy[i]), points[i].tolist())
        for i in pareto_front(expected, accuracy)
    ]


def grid_repair_thresholds(
    S, R, costs, min_accuracy=None, max_macs=None, grid=11, score_range=None
):
    """NACHOS' threshold procedure: best grid setting, then a repair.

    Evaluates every grid setting, picks the most accurate one (the cheapest
    of those), then lowers thresholds one grid step at a time from the last
    early exit backwards while `E[cost] > max_macs`, keeping each step only if
    the accuracy stays `>= min_accuracy` (a step that breaks it ends that
    exit's repair and moves on to the previous exit).

    Args:
        S, R, costs, grid, score_range: As in `grid_curve`.
        min_accuracy: Optional float, the accuracy floor.
        max_macs: Optional float, the expected-cost budget.

    Returns:
        `(thresholds, accuracy, expected_cost, feasible)`: score thresholds
        (array), their accuracy and expected cost, and whether both
        constraints hold.
    """
    S, R, costs = _check_tables(S, R, costs)
    values = _grid_values(grid, S.shape[1], _score_range(S, score_range))
    values = [np.unique(v) for v in values]
    points = _grid_points(values)
    accuracy, expected, _ = evaluate_thresholds(S, R, costs, points)
    best = np.lexsort((expected, -accuracy))[0]
    u = points[best].copy()
    acc, cost = float(accuracy[best]), float(expected[best])
    floor = -np.inf if min_accuracy is None else min_accuracy
    if max_macs is not None:
        for j in reversed(range(S.shape[1])):
            position = int(np.searchsorted(values[j], u[j]))
            while cost > max_macs and position > 0:
                trial = u.copy()
                trial[j] = values[j][position - 1]
                trial_acc, trial_cost, _ = evaluate_thresholds(S, R, costs, trial)
                if trial_acc < floor:
                    break
                u, acc, cost, position = trial, trial_acc, trial_cost, position - 1
            if cost <= max_macs:
                break
    feasible = acc >= floor and (max_macs is None or cost <= max_macs)
    return u, acc, cost, bool(feasible)


def random_search_curve(S, R, costs, num_samples=1000, seed=0, score_range=None):
    """E2CM's curve: upper convex hull of random threshold settings.

    Args:
        S, R, costs, score_range: As in `grid_curve`.
        num_samples: Integer, settings drawn uniformly in `score_range`.
            Defaults to `1000`.
        seed: Integer seed of the draw. Defaults to `0`.

    Returns:
        List of `TradeOffPoint`s, the hull's vertices by cost.
    """
    S, R, costs = _check_tables(S, R, costs)
    low, high = _score_range(S, score_range)
    rng = np.random.default_rng(seed)
    points = rng.uniform(low, high, size=(int(num_samples), S.shape[1]))
    accuracy, expected, _ = evaluate_thresholds(S, R, costs, points)
    return [
        TradeOffPoint(float(expected[i]), float(accuracy[i]), points[i].tolist())
        for i in upper_convex_hull(expected, accuracy)
    ]


def random_search_hull(
    S, R, costs, max_macs=None, num_samples=1000, seed=0, score_range=None
):
    """E2CM's threshold choice: the hull point nearest the budget.

    Of the `random_search_curve` vertices, the one with the largest cost
    `<= max_macs` (the nearest from below); if none is that cheap, the
    cheapest vertex (infeasible). Without a budget, the most accurate vertex.

    Returns:
        `(thresholds, accuracy, expected_cost, feasible)` as in
        `grid_repair_thresholds`.
    """
    curve = random_search_curve(S, R, costs, num_samples, seed, score_range)
    cost = np.asarray([p.expected_macs for p in curve])
    if max_macs is None:
        chosen, feasible = len(curve) - 1, True
    else:
        within = np.flatnonzero(cost <= max_macs)
        chosen, feasible = (within[-1], True) if within.size else (0, False)
    point = curve[chosen]
    return (
        np.asarray(point.thresholds),
        point.accuracy,
        point.expected_macs,
        feasible,
    )


# ----------------------------------------------------------------------
# The search.
# ----------------------------------------------------------------------
class _TradeOffSearch:
    """Archive of the cheapest setting found per number of correct samples."""

    def __init__(self, S, R, costs, score_range):
        self.S, self.R, self.costs = S, R, costs
        self.n, self.num_early = S.shape
        self.low, self.high = score_range
        self.order = np.argsort(-S, axis=0, kind="stable")
        self.sorted = np.take_along_axis(S, self.order, axis=0)  # descending
        self.best_cost = np.full(self.n + 1, np.inf)
        self.best_u = np.zeros((self.n + 1, self.num_early))
        self.rows = np.arange(self.n)
        self.moves = 0

    def move(self, u, j):
        """Evaluates every distinct setting of `u[j]`, archives them all.

        Returns `(total_cost, correct, candidates, current)` with `current`
        the `(total_cost, correct)` of `u` itself.
        """
        self.moves += 1
        S, R, C, n, E = self.S, self.R, self.costs, self.n, self.num_early
        fires = S >= u
        if j + 1 < E:
            tail = fires[:, j + 1 :]
            down = np.where(tail.any(axis=1), j + 1 + tail.argmax(axis=1), E)
        else:
            down = np.full(n, E)
        cost_down = C[down]
        correct_down = R[self.rows, down]
        fixed_cost, fixed_correct = 0.0, 0
        if j > 0:
            head = fires[:, :j]
            gone = head.any(axis=1)
            taken = head.argmax(axis=1)[gone]
            fixed_cost = C[taken].sum()
            fixed_correct = int(R[self.rows[gone], taken].sum())
            in_order = ~gone[self.order[:, j]]
            idx = self.order[in_order, j]
            s = self.sorted[in_order, j]
        else:
            idx = self.order[:, j]
            s = self.sorted[:, j]
        pending = idx.shape[0]
        base_cost = fixed_cost + cost_down[idx].sum()
        base_correct = fixed_correct + int(correct_down[idx].sum())
        dcost = np.zeros(pending + 1)
        np.cumsum(C[j] - cost_down[idx], out=dcost[1:])
        dcorrect = np.zeros(pending + 1, dtype="int64")
        np.cumsum(R[idx, j].astype("int64") - correct_down[idx], out=dcorrect[1:])
        if pending > 1:
            distinct = s[:-1] > s[1:]
            mids = ((s[:-1] + s[1:]) * 0.5)[distinct]
        else:
            mids = np.zeros(0)
        candidates = np.concatenate([[self.high], mids, [self.low]])
        candidates = candidates[
            (candidates >= self.low) & (candidates <= self.high)
        ]
        ascending = s[::-1]
        k = pending - np.searchsorted(ascending, candidates, side="left")
        total_cost = base_cost + dcost[k]
        correct = base_correct + dcorrect[k]
        self._archive(total_cost, correct, u, j, candidates)
        k_now = pending - np.searchsorted(ascending, u[j], side="left")
        current = base_cost + dcost[k_now], base_correct + dcorrect[k_now]
        return total_cost, correct, candidates, current

    def _archive(self, total_cost, correct, u, j, candidates):
        better = total_cost < self.best_cost[correct]
        if not better.any():
            return
        total_cost, correct = total_cost[better], correct[better]
        candidates = candidates[better]
        np.minimum.at(self.best_cost, correct, total_cost)
        won = total_cost == self.best_cost[correct]
        rows = np.repeat(u[None, :], int(won.sum()), axis=0)
        rows[:, j] = candidates[won]
        self.best_u[correct[won]] = rows

    def descend(self, u, lam, max_passes=6):
        """Coordinate descent on `total_cost - lam * correct` from `u`."""
        u = np.array(u, dtype="float64")
        for _ in range(max_passes):
            improved = False
            for j in range(self.num_early):
                total_cost, correct, candidates, current = self.move(u, j)
                objective = total_cost - lam * correct
                best = int(np.argmin(objective))
                now = current[0] - lam * current[1]
                if objective[best] < now - 1e-12 * (abs(now) + 1.0):
                    u[j] = candidates[best]
                    improved = True
            if not improved:
                break
        return u

    def front(self):
        """Correct-count indices of the archive's non-dominated points."""
        cost = self.best_cost
        suffix = np.minimum.accumulate(cost[::-1])[::-1]
        above = np.append(suffix[1:], np.inf)
        return np.flatnonzero(np.isfinite(cost) & (cost < above))

    def run(self, num_lambdas=40, grid=11, max_moves=1200, expand_per_round=24):
        E, C = self.num_early, self.costs
        # Grid seeds: every setting of the first B - 2 exits on the grid and
        # all settings of the last early exit; dominates the grid baseline.
        values = _grid_values(grid, E, (self.low, self.high)) if grid else None
        if values is not None and np.prod([len(v) for v in values[:-1]]) <= 512:
            for head in _grid_points(values[:-1]) if E > 1 else [np.zeros(0)]:
                self.move(np.append(head, self.high), E - 1)
        steps = np.abs(np.diff(np.unique(C)))
        small = steps.min() if steps.size else 1.0
        large = max(float(C.max() - C.min()), small)
        lambdas = np.geomspace(0.5 * small, 2.0 * large * self.n, num_lambdas)
        never = np.full(E, self.high)
        first = np.full(E, self.low)
        u = never
        for lam in lambdas[::-1]:
            u = self.descend(u, lam)
        u = first
        for lam in lambdas:
            u = self.descend(u, lam)
        # Pareto local search: expand front points (every setting of each
        # coordinate in turn), spread along the front, until the move budget
        # is spent or every front point has been expanded.
        expanded = set()
        while self.moves + E <= max_moves:
            front = [
                m for m in self.front() if self.best_u[m].tobytes() not in expanded
            ]
            if not front:
                break
            rounds = min(expand_per_round, len(front), (max_moves - self.moves) // E)
            if rounds <= 0:
                break
            picks = np.linspace(0, len(front) - 1, rounds).round().astype(int)
            picks = np.unique(picks)
            for m in (front[p] for p in picks):
                u = self.best_u[m].copy()
                expanded.add(u.tobytes())
                for j in range(E):
                    self.move(u, j)
        front = self.front()
        return self.best_u[front], self.best_cost[front] / self.n, front / self.n


# ----------------------------------------------------------------------
# Results.
# ----------------------------------------------------------------------
@dataclasses.dataclass(repr=False)
class CalibrationResult:
    """What `calibrate_thresholds` and `calibrate_from_outputs` return.

    Attributes:
        thresholds: List of floats, one per early exit, in the rule's units
            (pass them to `predict_early_exit(x, thresholds, rule=...)`).
        accuracy: Float, accuracy of those thresholds on the calibration data.
        expected_macs: Float, their mean cost per sample.
        exit_fractions: List of floats, share of samples leaving at each exit.
        curve: List of `TradeOffPoint(expected_macs, accuracy, thresholds)`,
            the non-dominated trade-off found, by increasing cost (and
            accuracy); thresholds in the rule's units.
        feasible: Boolean, whether the point meets both constraints.
        rule: String, the rule's name.
        convention: String, the MAC convention of the costs (or `None`).
        min_accuracy, max_macs: The constraints asked for (or `None`).
    """

    thresholds: list
    accuracy: float
    expected_macs: float
    exit_fractions: list
    curve: list
    feasible: bool
    rule: str = None
    convention: str = None
    min_accuracy: float = None
    max_macs: float = None

    def to_dict(self):
        """Returns a JSON-serialisable dict (the curve as a list of dicts)."""
        return {
            "thresholds": list(self.thresholds),
            "accuracy": self.accuracy,
            "expected_macs": self.expected_macs,
            "exit_fractions": list(self.exit_fractions),
            "feasible": self.feasible,
            "rule": self.rule,
            "convention": self.convention,
            "min_accuracy": self.min_accuracy,
            "max_macs": self.max_macs,
            "curve": [p._asdict() for p in self.curve],
        }

    def __repr__(self):
        thresholds = ", ".join(f"{t:.4g}" for t in self.thresholds)
        return (
            f"CalibrationResult(rule={self.rule!r}, thresholds=[{thresholds}], "
            f"accuracy={self.accuracy:.4f}, "
            f"expected_macs={self.expected_macs:,.0f}, "
            f"feasible={self.feasible}, curve_points={len(self.curve)})"
        )


def _check_constraints(min_accuracy, max_macs):
    if min_accuracy is not None:
        if isinstance(min_accuracy, bool) or not isinstance(
            min_accuracy, (int, float, np.integer, np.floating)
        ):
            raise invalid_type("min_accuracy", "a float between 0 and 1", min_accuracy)
        if not 0.0 <= float(min_accuracy) <= 1.0:
            raise invalid_value("min_accuracy", "a float between 0 and 1", min_accuracy)
        min_accuracy = float(min_accuracy)
    if max_macs is not None:
        if isinstance(max_macs, bool) or not isinstance(
            max_macs, (int, float, np.integer, np.floating)
        ):
            raise invalid_type("max_macs", "a positive number", max_macs)
        if not (float(max_macs) > 0 and math.isfinite(float(max_macs))):
            raise invalid_value("max_macs", "a positive number", max_macs)
        max_macs = float(max_macs)
    return min_accuracy, max_macs


def _fmt(value, spec):
    return "none" if value is None else format(value, spec)


def _select(cost, accuracy, min_accuracy, max_macs, raise_if_infeasible):
    """Index of the chosen curve point; see `calibrate_from_outputs`."""
    floor = -np.inf if min_accuracy is None else min_accuracy - 1e-12
    budget = np.inf if max_macs is None else max_macs * (1 + 1e-12)
    under = np.flatnonzero(cost <= budget)
    above = np.flatnonzero(accuracy >= floor)
    feasible = np.intersect1d(under, above)
    if feasible.size:
        if min_accuracy is None:
            return int(feasible[-1]), True  # most accurate within budget
        return int(feasible[0]), True  # cheapest meeting the floor
    best_under = float(accuracy[under[-1]]) if under.size else None
    cheapest_above = float(cost[above[0]]) if above.size else None
    if raise_if_infeasible:
        raise ValueError(
            "No thresholds meet the constraints "
            f"(min_accuracy={min_accuracy}, max_macs={max_macs}) on this "
            "calibration data. Best accuracy reachable within max_macs: "
            f"{_fmt(best_under, '.4f')}. Lowest expected MACs reaching "
            f"min_accuracy: {_fmt(cheapest_above, ',.1f')}."
        )
    scale_a = max(min_accuracy or 0.0, 1e-12)
    scale_c = max(max_macs or 0.0, 1e-12)
    violation = np.zeros(len(cost))
    if min_accuracy is not None:
        violation += np.maximum(0.0, min_accuracy - accuracy) / scale_a
    if max_macs is not None:
        violation += np.maximum(0.0, cost - max_macs) / scale_c
    return int(np.argmin(violation)), False


def calibrate_from_outputs(
    exit_outputs,
    y,
    exit_costs,
    rule="max_probability",
    num_classes=None,
    min_accuracy=None,
    max_macs=None,
    raise_if_infeasible=True,
    **search_options,
):
    """Searches thresholds on precomputed exit outputs.

    Which point of the trade-off curve is returned:
    - `min_accuracy` only: the cheapest point with accuracy `>= min_accuracy`;
    - `max_macs` only: the most accurate point with E[MACs] `<= max_macs`;
    - both: the cheapest point meeting both (among feasible points, cost is
      what a constrained deployment wants to save);
    - neither: the most accurate point (the cheapest of those).

    Args:
        exit_outputs: List of `B` arrays `(n, num_classes [+ 1])` (as from
            `EarlyExitModel.predict_exits`).
        y: Integer labels `(n,)` (or one-hot).
        exit_costs: `B` costs, MACs of a sample leaving at each exit (e.g.
            `model.exit_macs`).
        rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
        num_classes: Integer. Defaults to the final exit's column count.
        min_accuracy: Optional float in [0, 1], the accuracy floor.
        max_macs: Optional positive float, the expected-MACs budget.
        raise_if_infeasible: Boolean. When no point meets the constraints,
            raise a `ValueError` giving the best accuracy within the budget
            and the lowest cost at the floor (default), or, if `False`,
            return the point of least relative violation with
            `feasible=False`.
        **search_options: `num_lambdas` (default `40`), `grid` (the seeding
            grid, as in `grid_curve`, default `11`; `0` for none),
            `max_moves` (coordinate moves in all, default `1200`),
            `expand_per_round` (default `24`).

    Returns:
        A `CalibrationResult`.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 200)
    >>> outs = [rng.dirichlet(np.ones(3), 200) for _ in range(3)]
    >>> result = calibrate_from_outputs(outs, y, [1.0, 2.0, 3.0], num_classes=3)
    >>> len(result.thresholds)
    2
    """
    rule = exit_rules.get(rule)
    min_accuracy, max_macs = _check_constraints(min_accuracy, max_macs)
    unknown = set(search_options) - set(_SEARCH_OPTIONS)
    if unknown:
        raise invalid_value(
            "search_options",
            f"options among {list(_SEARCH_OPTIONS)}",
            sorted(unknown),
        )
    if num_classes is None:
        num_classes = int(np.asarray(exit_outputs[-1]).shape[1])
    S, R = exit_tables(exit_outputs, y, rule, num_classes)
    costs = np.asarray(exit_costs, dtype="float64").reshape(-1)
    S, R, costs = _check_tables(S, R, costs)
    score_range = score_threshold_range(rule, num_classes)
    search = _TradeOffSearch(S, R, costs, score_range)
    settings, cost, accuracy = search.run(**search_options)
    chosen, feasible = _select(
        cost, accuracy, min_accuracy, max_macs, raise_if_infeasible
    )
    acc, expected, fractions = evaluate_thresholds(S, R, costs, settings[chosen])
    thresholds = to_rule_thresholds(rule, settings)
    curve = [
        TradeOffPoint(float(c), float(a), t.tolist())
        for c, a, t in zip(cost, accuracy, thresholds)
    ]
    return CalibrationResult(
        thresholds=thresholds[chosen].tolist(),
        accuracy=acc,
        expected_macs=expected,
        exit_fractions=fractions.tolist(),
        curve=curve,
        feasible=feasible,
        rule=rule.name or type(rule).__name__,
        min_accuracy=min_accuracy,
        max_macs=max_macs,
    )


def calibrate_thresholds(
    model,
    validation_data,
    rule="max_probability",
    min_accuracy=None,
    max_macs=None,
    convention="cumulative",
    batch_size=256,
    **search_options,
):
    """Tunes an early-exit model's thresholds on validation data.

    The model runs once (`model.predict_exits`); every threshold setting is
    then evaluated on the tabulated outputs (see `calibrate_from_outputs` for
    the search and which curve point is returned).

    Args:
        model: An `EarlyExitModel`.
        validation_data: A tuple `(x, y)` of arrays, or a `tf.data.Dataset`
            of `(x, y)` batches (read once).
        rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
        min_accuracy: Optional float in [0, 1], the accuracy floor.
        max_macs: Optional positive float, the expected-MACs budget.
        convention: `"cumulative"` (default: `model.exit_macs`, every head on
            the way is paid) or `"taken_head"` (`model.exit_macs_taken_head`,
            the NACHOS reference code's convention).
        batch_size: Integer, for array inputs. Defaults to `256`.
        **search_options: See `calibrate_from_outputs`.

    Returns:
        A `CalibrationResult`; its `thresholds` go straight to
        `model.predict_early_exit(x, thresholds, rule=rule)`.

    Example:

    ```python
    result = calibrate_thresholds(model, (x_val, y_val), min_accuracy=0.9)
    early = model.predict_early_exit(x_test, result.thresholds)
    print(result.expected_macs / model.backbone_macs, early.accuracy(y_test))
    ```
    """
    rule = exit_rules.get(rule)
    min_accuracy, max_macs = _check_constraints(min_accuracy, max_macs)
    if convention not in _CONVENTIONS:
        raise invalid_value("convention", '"cumulative" or "taken_head"', convention)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or (
        batch_size < 1
    ):
        raise invalid_value("batch_size", "a positive integer", batch_size)
    if rule.needs_confidence and not all(model.has_confidence[:-1]):
        raise invalid_value(
            "rule",
            "a rule that does not need confidence heads (this model's early "
            "heads have no confidence output; build it with `confidence=True`)",
            rule.name,
        )
    x, y = dataset_arrays(validation_data, "validation_data")
    outputs = model.predict_exits(x, batch_size=batch_size)
    costs = (
        model.exit_macs if convention == "cumulative" else model.exit_macs_taken_head
    )
    result = calibrate_from_outputs(
        outputs,
        y,
        costs,
        rule=rule,
        num_classes=model.num_classes,
        min_accuracy=min_accuracy,
        max_macs=max_macs,
        **search_options,
    )
    result.convention = convention
    return result
