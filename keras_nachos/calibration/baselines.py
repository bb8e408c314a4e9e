"""The baselines of the calibration: NACHOS' grid + repair, E2CM's hull."""

import numpy as np

from keras_nachos.calibration.curves import TradeOffPoint
from keras_nachos.calibration.curves import pareto_front
from keras_nachos.calibration.curves import upper_convex_hull
from keras_nachos.calibration.evaluation import check_tables
from keras_nachos.calibration.evaluation import evaluate_thresholds
from keras_nachos.errors import invalid_value


def _score_range(S, score_range):
    if score_range is None:
        return float(S.min()), float(S.max())
    low, high = (float(v) for v in score_range)
    if not high >= low:
        raise invalid_value(
            "score_range", "a pair (low, high) with low <= high", score_range
        )
    return low, high


def grid_values(grid, num_early, score_range):
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


def grid_points(values):
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
    S, R, costs = check_tables(S, R, costs)
    points = grid_points(grid_values(grid, S.shape[1], _score_range(S, score_range)))
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
    S, R, costs = check_tables(S, R, costs)
    values = grid_values(grid, S.shape[1], _score_range(S, score_range))
    values = [np.unique(v) for v in values]
    points = grid_points(values)
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
    S, R, costs = check_tables(S, R, costs)
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
