"""Tests of `keras_nachos.search.pareto`: constrained domination, fronts and
the admissible hypervolume, by hand."""

import copy

import pytest
from deap import tools

from keras_nachos.search import ConstrainedFitness
from keras_nachos.search import admissible_hypervolume
from keras_nachos.search import constrained_fronts
from keras_nachos.search import non_dominated


def fitness(accuracy, macs, violation=0.0):
    return ConstrainedFitness((accuracy, macs), violation)


def test_feasible_dominates_infeasible_whatever_the_objectives():
    feasible = fitness(0.5, 1e9)
    infeasible = fitness(0.99, 1.0, violation=0.01)
    assert feasible.dominates(infeasible)
    assert not infeasible.dominates(feasible)


def test_smaller_violation_dominates_among_infeasible():
    slightly = fitness(0.1, 1e9, violation=0.2)
    badly = fitness(0.99, 1.0, violation=0.5)
    assert slightly.dominates(badly)
    assert not badly.dominates(slightly)
    tie = fitness(0.5, 5.0, violation=0.2)
    assert not slightly.dominates(tie) and not tie.dominates(slightly)


def test_pareto_dominance_among_feasible():
    assert fitness(0.9, 100.0).dominates(fitness(0.8, 200.0))
    assert fitness(0.9, 100.0).dominates(fitness(0.9, 200.0))
    assert not fitness(0.9, 200.0).dominates(fitness(0.8, 100.0))
    assert not fitness(0.8, 100.0).dominates(fitness(0.9, 200.0))
    assert not fitness(0.9, 100.0).dominates(fitness(0.9, 100.0))


def test_fitness_equality_hash_and_copy_see_the_violation():
    a, b = fitness(0.9, 100.0), fitness(0.9, 100.0, violation=0.3)
    assert a != b and hash(a) != hash(b)
    clone = copy.deepcopy(b)
    assert clone == b and clone.violation == 0.3
    del clone.values
    assert not clone.valid and clone.violation == 0.0


def test_sort_nondominated_uses_constrained_domination():
    class Individual:
        def __init__(self, fit):
            self.fitness = fit

    population = [
        Individual(fitness(0.99, 10.0, violation=0.5)),  # infeasible, worst
        Individual(fitness(0.70, 50.0)),
        Individual(fitness(0.80, 80.0)),
        Individual(fitness(0.70, 90.0)),  # dominated by (0.80, 80)
        Individual(fitness(0.99, 10.0, violation=0.1)),
    ]
    fronts = tools.sortNondominated(population, len(population))
    assert [sorted(population.index(i) for i in f) for f in fronts] == [
        [1, 2],
        [3],
        [4],
        [0],
    ]


def test_admissible_hypervolume_by_hand():
    # A_min = 0.5, M_max = 100: (0.9, 20) -> f = (0.2, 0.2), box 0.8 * 0.8.
    assert admissible_hypervolume([(0.9, 20.0)], 0.5, 100.0) == pytest.approx(
        0.64
    )
    # (0.75, 10) -> f = (0.5, 0.1): adds 0.5 * 0.9 - 0.5 * 0.8 = 0.05.
    points = [(0.9, 20.0), (0.75, 10.0)]
    assert admissible_hypervolume(points, 0.5, 100.0) == pytest.approx(0.69)
    # Inadmissible points count for nothing, whatever their objectives.
    points += [(0.99, 101.0), (0.49, 1.0)]
    assert admissible_hypervolume(points, 0.5, 100.0) == pytest.approx(0.69)
    assert admissible_hypervolume([(0.4, 1.0)], 0.5, 100.0) == 0.0
    assert admissible_hypervolume([], 0.5, 100.0) == 0.0
    # No MAC constraint: f2 = 0, the volume is 1 - f1.
    assert admissible_hypervolume(
        [(0.9, 1e9)], 0.5, float("inf")
    ) == pytest.approx(0.8)


def test_non_dominated_and_constrained_fronts_by_hand():
    points = [(0.9, 100.0), (0.8, 50.0), (0.8, 120.0), (0.95, 300.0)]
    assert non_dominated(points) == [(0.9, 100.0), (0.8, 50.0), (0.95, 300.0)]
    fronts = constrained_fronts(points, 0.85, 200.0)
    # Admissible: (0.9, 100) only; then (0.8, 50) violation 0.05 / 0.15 = 1/3,
    # (0.95, 300) violation 0.5, (0.8, 120) violation 1/3 (ties with (0.8, 50)).
    assert fronts == [
        [(0.9, 100.0)],
        [(0.8, 50.0), (0.8, 120.0)],
        [(0.95, 300.0)],
    ]
