"""Tests of `keras_nachos.search.nsga2.preselection`: the surrogate, the spread of
generation 0, and pre-selection through the oracle."""

import json
import math

import pytest

from keras_nachos.search import NSGA2Oracle
from tests.search.testing_utils import MAX_MACS
from tests.search.testing_utils import RESOLUTION
from tests.search.testing_utils import run_search


def static_costs(values):
    """Cumulative MACs at each switched-on exit and at the final one."""
    costs, total = [], 0.0
    for i in range(4):
        total += values[f"depth_{i}"] * values[f"width_{i}"] ** 2 * RESOLUTION[i] ** 2
        if i == 3 or values[f"exit_{i}"]:
            costs.append(total)
    return costs


def first_exit_over_budget(values):
    cost = static_costs(values)[0]
    if cost > MAX_MACS:
        return {"accuracy": 0.0, "expected_macs": cost, "skipped": "over budget"}
    return None


def test_gp_predict_interpolates_and_ranks():
    from keras_nachos.search.nsga2.preselection import gp_predict

    x = [[0.0], [0.25], [0.5], [0.75], [1.0]]
    y = [0.0, 1.0, 4.0, 9.0, 16.0]
    fitted = gp_predict(x, y, x, noise=1e-6)
    assert fitted == pytest.approx(y, abs=1e-3)
    between = gp_predict(x, y, [[0.125], [0.625], [0.875]], noise=1e-6)
    assert 0.0 < between[0] < 1.0 < 4.0 < between[1] < 9.0 < between[2] < 16.0
    # Constant targets: their value everywhere.
    assert gp_predict(x, [3.0] * 5, [[0.3], [7.0]]).tolist() == [3.0, 3.0]
    # Far from the data the prediction falls back to the mean.
    assert gp_predict(x, y, [[50.0]])[0] == pytest.approx(6.0)


def test_stratified_by_cost_by_hand():
    from keras_nachos.search.nsga2.preselection import stratified_by_cost

    costs = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0, 8.0, 6.0]
    # Ranks 0, 4, 8 of the order: costs 1, 5, 9.
    assert stratified_by_cost(costs, 3) == [0, 1, 5]
    # Ranks 0, 3 (2.67), 5 (5.33), 8: costs 1, 4, 6, 9.
    assert stratified_by_cost(costs, 4) == [1, 2, 5, 8]
    assert stratified_by_cost(costs, 1) == [1]
    assert stratified_by_cost(costs, 9) == list(range(9))
    assert stratified_by_cost(costs, 20) == list(range(9))
    # Ties are ordered by index: the cheapest is the first 1.0, the dearest
    # the last 2.0.
    assert stratified_by_cost([2.0, 1.0, 1.0, 2.0], 2) == [1, 3]
    # Every size picks distinct indices, the cheapest and the dearest.
    for size in range(2, 10):
        picked = stratified_by_cost(costs, size)
        assert len(set(picked)) == size
        assert 1 in picked and 5 in picked


def test_first_generation_spreads_over_the_mac_range(tmp_path):
    """With `static_costs`, generation 0 keeps candidates spread over their
    final exit's MACs; without, the first random ones that pass."""

    def span(oracle):
        costs = [
            static_costs(e["values"])[-1]
            for e in oracle.archive
            if e["generation"] == 0
        ]
        return math.log(max(costs) / min(costs))

    spread, first = [], []
    for seed in range(4):
        options = dict(
            seed=seed, generations=1, precheck=first_exit_over_budget,
            preselect=4,
        )
        oracle, _ = run_search(
            tmp_path / f"s{seed}", static_costs=static_costs, **options
        )
        spread.append(span(oracle))
        oracle, _ = run_search(tmp_path / f"f{seed}", **options)
        first.append(span(oracle))
    # Where few of the 4 x 8 draws pass the precheck both keep nearly the
    # same candidates; the stratified span is never narrower, and wider here.
    assert all(s >= f for s, f in zip(spread, first))
    assert sum(spread) > 1.1 * sum(first)


def test_preselection_trains_only_candidates_that_pass_the_precheck(tmp_path):
    oracle, tuner = run_search(
        tmp_path,
        seed=2,
        generations=3,
        precheck=first_exit_over_budget,
        static_costs=static_costs,
        preselect=4,
    )
    # Every slot of every generation went to a trained candidate that passes
    # the precheck; the rejected ones were dropped while breeding.
    assert oracle.total_evaluations == 24
    assert sum(tuner.completed_calls.values()) == 24
    assert max(tuner.completed_calls.values()) == 1
    for key in tuner.calls:
        assert first_exit_over_budget(json.loads(key)) is None
    assert all(e["status"] == "completed" for e in oracle.archive)
    screened = oracle.screened
    # At least 4 x 8 bred per generation, 8 kept.
    assert screened["total"] >= 3 * 24
    assert 0 < screened["infeasible"] <= screened["total"]
    # Plain NSGA-II spends slots on the same rejected candidates.
    plain, plain_tuner = run_search(
        tmp_path / "plain",
        seed=2,
        generations=3,
        precheck=first_exit_over_budget,
        static_costs=static_costs,
    )
    assert plain.screened == {"total": 0, "infeasible": 0}
    assert sum(plain_tuner.completed_calls.values()) < 24


def test_preselection_finds_a_better_front_for_the_same_trainings(tmp_path):
    with_preselection, plain = [], []
    for seed in range(4):
        for preselect, volumes in ((4, with_preselection), (1, plain)):
            oracle, tuner = run_search(
                tmp_path / f"{seed}_{preselect}",
                seed=seed,
                generations=4,
                precheck=first_exit_over_budget,
                static_costs=static_costs,
                preselect=preselect,
            )
            assert sum(tuner.completed_calls.values()) <= 32
            volumes.append(oracle.admissible_hypervolume())
    assert sum(with_preselection) / 4 >= 1.1 * sum(plain) / 4
    assert min(with_preselection) > 0


def test_preselection_is_deterministic_and_resumes(tmp_path):
    options = dict(
        seed=6,
        precheck=first_exit_over_budget,
        static_costs=static_costs,
        preselect=3,
    )
    reference, reference_tuner = run_search(tmp_path / "ref", **options)
    again, _ = run_search(tmp_path / "again", **options)
    assert again.archive == reference.archive
    _, killed_tuner = run_search(
        tmp_path / "run", kill=("run_trial", 13), **options
    )
    resumed, resumed_tuner = run_search(
        tmp_path / "run", overwrite=False, **options
    )
    assert resumed.archive == reference.archive
    assert resumed.screened == reference.screened
    completed = killed_tuner.completed_calls + resumed_tuner.completed_calls
    assert completed == reference_tuner.completed_calls


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"preselect": 0}, "preselect"),
        ({"preselect": 2.5}, "preselect"),
        ({"static_costs": 3}, "static_costs"),
    ],
)
def test_bad_preselection_arguments(kwargs, argument):
    with pytest.raises(
        (TypeError, ValueError),
        match=f"received for argument `{argument}`",
    ):
        NSGA2Oracle(population_size=8, generations=2, **kwargs)
