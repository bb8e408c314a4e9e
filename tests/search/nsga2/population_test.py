"""Tests of `keras_nachos.search.nsga2.population`: NSGA-II generations on
records, without Keras Tuner."""

import random

import keras_tuner as kt
import pytest

from keras_nachos.search.nsga2.archive import Archive
from keras_nachos.search.nsga2.population import Population
from keras_nachos.search.nsga2.preselection import OffspringPreselection
from keras_nachos.search.pareto import non_dominated
from keras_nachos.search.records import candidate_key
from tests.testing_utils import assert_invalid


def choices(count=4):
    hp = kt.HyperParameters()
    for i in range(count):
        hp.Choice(f"c{i}", [0, 1, 2])
    return hp


def population(size=8, generations=3, seed=0, preselect=1):
    return Population(
        size, generations, 0.5, 10.0, crossover_probability=0.9,
        mutation_probability=None, eta_crossover=15, eta_mutation=20,
        repair=None, preselection=OffspringPreselection(size, 0.5, 10.0),
        preselect=preselect, seed=seed,
    )


def score(population, archive, fitness):
    """Scores every queued offspring with `fitness(values)`."""
    for issue, record in enumerate(population.queued(), start=1):
        record.issue = issue
        outcome = {"fitness": list(fitness(record.values)), "failed": False}
        archive.record(record, outcome, "completed", None, trial_id=str(issue))
        record.assign(outcome)


def test_offspring_already_evaluated_are_re_mutated_before_they_cost_budget():
    hp = choices()
    pop = population()
    archive = Archive(0.5, 10.0)
    pop.start(hp, archive)
    for record in pop.offspring:
        archive.cache[record.key] = {"accuracy": 0.5, "expected_macs": 1.0}
    children = [list(r.genome) for r in pop.offspring]
    records = pop._distinct_records(children, hp, archive)
    keys = [r.key for r in records]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & set(archive.cache)


def test_generations_end_when_scored_and_survivors_are_the_best():
    hp = choices()
    pop = population(generations=2)
    archive = Archive(0.5, 10.0)
    pop.start(hp, archive)
    assert pop.generation == 0 and len(pop.queued()) == 8

    def fitness(values):  # Accuracy grows with c0, cost with c1.
        return 0.6 + 0.1 * values["c0"], 1.0 + values["c1"]

    score(pop, archive, fitness)
    pop.maybe_end_generation(hp, archive, budget_spent=lambda: False)
    assert pop.generation == 1 and not pop.finished
    assert len(pop.members) == 8 and len(pop.offspring) == 8
    assert all(r.generation == 1 for r in pop.offspring)
    assert archive.hypervolume_history == [archive.admissible_hypervolume()]
    # The next generation's values are new (none re-evaluated).
    assert not {r.key for r in pop.offspring} & set(archive.cache)
    for issue, record in enumerate(pop.queued(), start=9):
        record.issue = issue
        outcome = {"fitness": list(fitness(record.values)), "failed": False}
        archive.record(record, outcome, "completed", None)
        record.assign(outcome)
    pop.maybe_end_generation(hp, archive, budget_spent=lambda: False)
    assert pop.finished and pop.offspring == []
    # Survival keeps the first front of the 16 whole (it has at most 8).
    first_front = non_dominated(archive.entries, key=lambda e: (e.accuracy, e.macs))
    assert len(archive.entries) == 16 and len(first_front) <= 8
    kept = {r.key for r in pop.members}
    assert {candidate_key(e.values) for e in first_front} <= kept


def test_a_generation_does_not_end_while_one_is_unscored():
    hp = choices()
    pop = population()
    archive = Archive(0.5, 10.0)
    pop.start(hp, archive)
    pop.offspring[0].state = "pending"
    pop.maybe_end_generation(hp, archive, budget_spent=lambda: False)
    assert pop.generation == 0


def test_the_state_round_trips_and_the_random_stream_is_its_own():
    hp = choices()
    pop = population(seed=5)
    archive = Archive(0.5, 10.0)
    before = random.getstate()
    pop.start(hp, archive)
    assert random.getstate() == before
    copy = population(seed=99)
    copy.set_state(pop.get_state(hp))
    assert copy.get_state(hp) == pop.get_state(hp)
    # Same stream: the same next draws.
    with pop.own_random():
        first = [random.random() for _ in range(3)]
    with copy.own_random():
        assert [random.random() for _ in range(3)] == first


def test_requeue_orphans_queues_pending_records_of_dead_trials():
    hp = choices()
    pop = population()
    pop.start(hp, Archive(0.5, 10.0))
    a, b = pop.offspring[:2]
    a.state, a.trial_id = "pending", "1"
    b.state, b.trial_id = "pending", "2"
    assert pop.requeue_orphans({"2"}) == [a]
    assert a.state == "queued" and a.trial_id is None and b.state == "pending"
    assert pop.pending("2") == [b] and pop.in_flight(b.key) is b


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"size": 6}, "population_size"),
        ({"generations": 0}, "generations"),
        ({"crossover_probability": 1.5}, "crossover_probability"),
        ({"eta_mutation": -1}, "eta_mutation"),
        ({"preselect": 0}, "preselect"),
    ],
)
def test_bad_population_arguments(kwargs, argument):
    from keras_nachos.search.nsga2.population import check_population_arguments

    options = dict(size=8, generations=2, crossover_probability=0.9,
                   mutation_probability=None, eta_crossover=15,
                   eta_mutation=20, preselect=1)
    options.update(kwargs)
    assert_invalid(argument, check_population_arguments, **options)
