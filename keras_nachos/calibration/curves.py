"""Trade-off curves: non-dominated points, hulls and their quality."""

import collections

import numpy as np

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
    curve = getattr(curve, "curve", curve)  # a CalibrationResult
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
