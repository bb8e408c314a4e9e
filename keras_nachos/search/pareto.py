"""Constrained Pareto ranking and the admissible hypervolume.

A candidate has two objectives, accuracy (maximised) and expected MACs
(minimised), and two constraints, `accuracy >= min_accuracy` (A_min) and
`macs <= max_macs` (M_max). Everything is measured in the normalised space of
METHODS.md section 5, with the library's one violation measure
(`keras_nachos.constraints.normalised_violation`).

DEAP stays behind this module and the oracle: `ConstrainedFitness` subclasses
`deap.base.Fitness` (never `creator.create`, which rewrites module globals, and
never `base.ConstrainedFitness`, which ignores a violation set together with
the values and is unhashable).
"""

import math

from deap import base
from deap import tools
from deap.benchmarks import tools as benchmark_tools

from keras_nachos.constraints import check_constraints
from keras_nachos.constraints import is_admissible
from keras_nachos.constraints import normalised_violation


class ConstrainedFitness(base.Fitness):
    """Fitness `(accuracy, macs)` with Deb's constrained domination.

    `dominates` implements Deb's rules: a feasible candidate (violation 0)
    dominates every infeasible one whatever the objectives; of two infeasible
    candidates the one with the smaller violation dominates; of two feasible
    ones, plain Pareto dominance on (accuracy max, MACs min) decides. DEAP's
    `sortNondominated`, `selNSGA2(nd="standard")` and `selTournamentDCD` all go
    through `dominates`, so they rank by these rules.

    Args:
        values: Optional tuple `(accuracy, macs)`.
        violation: Float, the normalised constraint violation (see
            `normalised_violation`); `0` means feasible. Defaults to `0.0`.
    """

    weights = (1.0, -1.0)

    def __init__(self, values=(), violation=0.0):
        super().__init__(values)
        self.violation = float(violation)

    def _del_values(self):
        self.wvalues = ()
        self.violation = 0.0

    values = property(
        base.Fitness.getValues, base.Fitness.setValues, _del_values
    )

    @property
    def feasible(self):
        return self.violation <= 0.0

    def dominates(self, other, obj=slice(None)):
        if self.feasible != other.feasible:
            return self.feasible
        if not self.feasible:
            return self.violation < other.violation
        return super().dominates(other, obj)

    # `sortNondominated` groups individuals by fitness in a dict: equality and
    # hashing must see the violation, or two candidates with equal objectives
    # but different violations would be merged into one.
    def __eq__(self, other):
        return self.wvalues == other.wvalues and self.violation == getattr(
            other, "violation", 0.0
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self.wvalues, self.violation))

    def __deepcopy__(self, memo):
        # `base.Fitness.__deepcopy__` copies only `wvalues`.
        copy_ = self.__class__()
        copy_.wvalues = self.wvalues
        copy_.violation = self.violation
        return copy_

    def __repr__(self):
        return (
            f"{self.__class__.__name__}({self.values if self.valid else ()!r}, "
            f"violation={self.violation!r})"
        )


def _pareto_dominates(a, b):
    """Plain Pareto dominance on `(accuracy max, macs min)` pairs."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def non_dominated(points, key=None):
    """Returns the points no other point Pareto-dominates.

    Dominance is plain Pareto dominance on (accuracy maximised, MACs
    minimised), without constraints. Equal points do not dominate each other,
    so duplicates are all kept. The input order is preserved.

    Args:
        points: Sequence of items; by default each item is an
            `(accuracy, macs)` pair.
        key: Optional callable mapping an item to its `(accuracy, macs)` pair.

    Returns:
        A list of the non-dominated items.
    """
    points = list(points)
    objectives = [tuple(key(p)) if key else tuple(p) for p in points]
    return [
        point
        for point, mine in zip(points, objectives)
        if not any(_pareto_dominates(other, mine) for other in objectives)
    ]


def constrained_fronts(points, min_accuracy, max_macs, key=None):
    """Sorts points into fronts by Deb's constrained domination.

    The first front is the admissible Pareto front whenever one point is
    admissible; then come the remaining feasible fronts, then infeasible
    points by increasing violation.

    Args:
        points: Sequence of items; by default `(accuracy, macs)` pairs.
        min_accuracy: Float in [0, 1), A_min.
        max_macs: Positive float, M_max.
        key: Optional callable mapping an item to its `(accuracy, macs)` pair.

    Returns:
        A list of fronts, each a list of items in input order.
    """
    wrapped = []
    for point in points:
        accuracy, macs = key(point) if key else point
        wrapped.append(_Wrapped(point, accuracy, macs, min_accuracy, max_macs))
    if not wrapped:
        return []
    fronts = tools.sortNondominated(wrapped, len(wrapped))
    order = {id(w): i for i, w in enumerate(wrapped)}
    return [
        [w.item for w in sorted(front, key=lambda w: order[id(w)])]
        for front in fronts
    ]


def constrained_ranking(items, min_accuracy, max_macs, key, tie=None):
    """Items ranked by Deb's constrained domination: front by front
    (`constrained_fronts`), most accurate first within a front, then
    cheapest, then by `tie(item)` when given."""
    fronts = constrained_fronts(items, min_accuracy, max_macs, key=key)
    ranked = []
    for front in fronts:
        ranked.extend(sorted(
            front,
            key=lambda item: (-key(item)[0], key(item)[1])
            + ((tie(item),) if tie is not None else ()),
        ))
    return ranked


class _Wrapped:
    """An item with a `ConstrainedFitness`, for DEAP's sorting functions."""

    def __init__(self, item, accuracy, macs, min_accuracy, max_macs):
        self.item = item
        self.fitness = ConstrainedFitness(
            (accuracy, macs),
            normalised_violation(accuracy, macs, min_accuracy, max_macs),
        )


class _MinimisedFitness(base.Fitness):
    weights = (-1.0, -1.0)


class _Point:
    def __init__(self, f1, f2):
        self.fitness = _MinimisedFitness((f1, f2))


def admissible_hypervolume(points, min_accuracy, max_macs, key=None):
    """Returns the hypervolume of the admissible points, normalised.

    Only admissible points (`accuracy >= min_accuracy`, `macs <= max_macs`)
    count. They are mapped to `f1 = (1 - accuracy) / (1 - min_accuracy)`,
    `f2 = macs / max_macs` (both minimised, `f2 = 0` when `max_macs` is
    infinite) and the hypervolume is taken with the reference point (1, 1), so
    it lies in [0, 1]. It is computed by DEAP (`deap.benchmarks.tools.
    hypervolume`, moocore) with the reference point passed explicitly: DEAP's
    default is "worst + 1". Note that `deap.tools.hypervolume` is another
    function: it returns the index of the least contributor, not a volume.

    Args:
        points: Iterable of items; by default `(accuracy, macs)` pairs.
        min_accuracy: Float in [0, 1), A_min.
        max_macs: Positive float, M_max.
        key: Optional callable mapping an item to its `(accuracy, macs)` pair.

    Returns:
        A float in [0, 1]; `0.0` when no point is admissible.
    """
    min_accuracy, max_macs = check_constraints(min_accuracy, max_macs)
    min_accuracy = 0.0 if min_accuracy is None else min_accuracy
    max_macs = math.inf if max_macs is None else max_macs
    front = []
    for point in points:
        accuracy, macs = key(point) if key else point
        if not is_admissible(accuracy, macs, min_accuracy, max_macs):
            continue
        f1 = (1.0 - accuracy) / (1.0 - min_accuracy)
        f2 = 0.0 if math.isinf(max_macs) else macs / max_macs
        front.append(_Point(f1, f2))
    if not front:
        return 0.0
    return float(benchmark_tools.hypervolume(front, ref=[1.0, 1.0]))
