"""Tests of `keras_nachos.search.nsga2.oracle` on the synthetic problem of
tests/search/testing_utils.py: arguments, determinism, the cache, quality,
resuming, failures, the precheck, distributed workers."""

import json
import math
import random

import keras_tuner
import pytest

from keras_nachos.search import NSGA2Oracle
from keras_nachos.search import admissible_hypervolume
from keras_nachos.search import non_dominated
from tests.search.testing_utils import MAX_MACS
from tests.search.testing_utils import MIN_ACCURACY
from tests.search.testing_utils import RESOLUTION
from tests.search.testing_utils import build_space
from tests.search.testing_utils import evaluate
from tests.search.testing_utils import key_of
from tests.search.testing_utils import run_search
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid


def test_population_size_must_be_a_multiple_of_4():
    with pytest.raises(
        ValueError,
        match="Invalid value received for argument `population_size`. "
        "Expected a positive multiple of 4",
    ):
        NSGA2Oracle(population_size=10, generations=2)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"population_size": 8}, "max_trials"),
        ({"generations": 2, "min_accuracy": 1.0}, "min_accuracy"),
        ({"generations": 2, "max_macs": 0}, "max_macs"),
        (
            {"generations": 2, "crossover_probability": 1.5},
            "crossover_probability",
        ),
        ({"generations": 0}, "generations"),
    ],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(
        ValueError, match=f"Invalid value received for argument `{argument}`"
    ):
        NSGA2Oracle(**kwargs)


def test_max_trials_defaults_to_population_times_generations():
    oracle = NSGA2Oracle(population_size=8, generations=3)
    assert oracle.max_trials == 24
    assert oracle.objective.name == "accuracy"


def test_same_seed_same_archive_other_seed_differs(tmp_path):
    first, _ = run_search(tmp_path / "a", seed=7)
    second, _ = run_search(tmp_path / "b", seed=7)
    other, _ = run_search(tmp_path / "c", seed=8)
    assert first.archive == second.archive
    assert first.hypervolume_history == second.hypervolume_history
    assert first.archive != other.archive
    # A single process never sees IDLE (`BaseTuner.search` would spin on it).
    assert "IDLE" not in first.answers
    assert first.total_evaluations == 32
    assert len(first.hypervolume_history) == 4


def test_search_leaves_the_global_random_state_alone(tmp_path):
    random.seed(123)
    expected = [random.random() for _ in range(3)]
    random.seed(123)
    run_search(tmp_path, seed=3, generations=2)
    assert [random.random() for _ in range(3)] == expected


def test_duplicates_are_served_from_the_cache(tmp_path):
    def tiny_space(hp):
        hp.Boolean("a")
        hp.Boolean("b")

    def tiny_objective(values):
        return {
            "accuracy": 0.5 + 0.2 * values["a"] + 0.1 * values["b"],
            "expected_macs": 10.0 + 5 * values["a"] + 3 * values["b"],
        }

    oracle, tuner = run_search(
        tmp_path,
        population_size=4,
        generations=None,
        max_trials=40,
        build=tiny_space,
        objective_fn=tiny_objective,
    )
    assert oracle.unique_evaluations <= 4
    assert sum(tuner.calls.values()) <= 4
    assert max(tuner.calls.values()) == 1
    assert oracle.total_evaluations == 40
    assert len(oracle.trials) == oracle.unique_evaluations
    assert oracle.generation >= 9


def test_quality_beats_random_sampling_and_front_is_admissible(tmp_path):
    population_size, generations = 16, 6
    budget = population_size * generations
    space = keras_tuner.HyperParameters()
    build_space(space)
    ga_volumes, random_volumes = [], []
    for seed in range(3):
        oracle, _ = run_search(
            tmp_path / str(seed),
            seed=seed,
            population_size=population_size,
            generations=generations,
        )
        ga_volumes.append(oracle.hypervolume_history[-1])
        rng = random.Random(seed)
        points = []
        for _ in range(budget):
            sample = space.copy()
            for hp in sample.space:
                if sample.is_active(hp):
                    sample.values[hp.name] = hp.prob_to_value(rng.random())
            result = evaluate(sample.values)
            points.append((result["accuracy"], result["expected_macs"]))
        random_volumes.append(
            admissible_hypervolume(points, MIN_ACCURACY, MAX_MACS)
        )

        history = oracle.hypervolume_history
        assert len(history) == generations
        assert all(b >= a for a, b in zip(history, history[1:]))
        front = oracle.admissible_front()
        assert front
        objectives = [(e["accuracy"], e["macs"]) for e in front]
        assert non_dominated(objectives) == objectives
        for entry in front:
            assert entry["accuracy"] >= MIN_ACCURACY
            assert entry["macs"] <= MAX_MACS
            assert entry["feasible"] and entry["violation"] == 0.0
            # The archive holds what the objective really gives.
            result = evaluate(entry["values"])
            assert entry["accuracy"] == result["accuracy"]
        assert history[-1] == pytest.approx(
            admissible_hypervolume(objectives, MIN_ACCURACY, MAX_MACS)
        )
        # Keras Tuner's best trials: the admissible front, best accuracy first.
        best = oracle.get_best_trials(len(front))
        assert [t.trial_id for t in best] == [e["trial_id"] for e in front]
        pareto = [(e["accuracy"], e["macs"]) for e in oracle.pareto_front()]
        assert non_dominated(pareto) == pareto
    assert sum(ga_volumes) / 3 >= sum(random_volumes) / 3 > 0


@pytest.mark.parametrize(
    "kill",
    [("run_trial", 11), ("pre_create_trial", 8), ("run_trial", 17)],
    ids=["mid_trial", "between_generations", "mid_generation"],
)
def test_resume_after_a_kill_loses_and_retrains_nothing(tmp_path, kill):
    reference, reference_tuner = run_search(tmp_path / "ref", seed=5)
    _, killed_tuner = run_search(tmp_path / "run", seed=5, kill=kill)
    assert killed_tuner.num_calls == kill[1]
    resumed, resumed_tuner = run_search(
        tmp_path / "run", seed=5, overwrite=False
    )

    assert resumed.archive == reference.archive
    assert resumed.hypervolume_history == reference.hypervolume_history
    assert resumed.total_evaluations == reference.total_evaluations
    completed = killed_tuner.completed_calls + resumed_tuner.completed_calls
    assert completed == reference_tuner.completed_calls
    assert max(completed.values()) == 1
    if kill[0] == "run_trial":
        # The trial running at the kill is handed out again, same values.
        interrupted = [
            key
            for key, n in killed_tuner.calls.items()
            if n > killed_tuner.completed_calls[key]
        ]
        assert len(interrupted) == 1
        assert resumed_tuner.completed_calls[interrupted[0]] == 1


# Keras Tuner's `get_best_value` warns on an all-NaN metric history.
@pytest.mark.filterwarnings("ignore:All-NaN")
def test_failed_trials_are_recorded_and_the_search_goes_on(tmp_path):
    def flaky(values):
        if values["depth_0"] == 4:
            raise RuntimeError("out of memory")
        result = evaluate(values)
        if values["width_0"] == 32:
            result["accuracy"] = float("nan")
        return result

    oracle, tuner = run_search(tmp_path, objective_fn=flaky, generations=3)
    assert oracle.total_evaluations == 24
    failed = [e for e in oracle.archive if e["status"] == "failed"]
    assert failed
    for entry in failed:
        assert entry["feasible"] is False and entry["violation"] == math.inf
        assert entry["accuracy"] is None
        if entry["values"]["depth_0"] == 4:
            assert "out of memory" in entry["reason"]
        else:
            assert "NaN" in entry["reason"]
        assert oracle.get_trial(entry["trial_id"]).status == "FAILED"
    reasons = " ".join(e["reason"] for e in failed)
    assert "out of memory" in reasons and "NaN" in reasons
    completed = [e for e in oracle.archive if e["status"] == "completed"]
    assert all(
        e["values"]["depth_0"] != 4 and e["values"]["width_0"] != 32
        for e in completed
    )
    best = oracle.get_best_trials(len(oracle.trials))
    statuses = [t.status for t in best]
    assert statuses == sorted(statuses, key=lambda s: s != "COMPLETED")


def test_an_invalid_trial_is_retried_before_it_counts(tmp_path):
    failed_once = set()

    def fails_once(values):
        key = key_of(values)
        if key not in failed_once:
            failed_once.add(key)
            raise RuntimeError("transient")
        return evaluate(values)

    oracle, tuner = run_search(
        tmp_path,
        objective_fn=fails_once,
        generations=2,
        max_retries_per_trial=1,
    )
    assert all(e["status"] == "completed" for e in oracle.archive)
    assert set(tuner.calls.values()) == {2}
    assert oracle.total_evaluations == 16


def test_list_objective_needs_multi_objective_in_the_results(tmp_path):
    def with_multi_objective(values):
        result = evaluate(values)
        result["multi_objective"] = result["expected_macs"] - result["accuracy"]
        return result

    objective = [
        keras_tuner.Objective("accuracy", "max"),
        keras_tuner.Objective("expected_macs", "min"),
    ]
    oracle, _ = run_search(
        tmp_path,
        objective=objective,
        objective_fn=with_multi_objective,
        generations=2,
    )
    assert all(e["status"] == "completed" for e in oracle.archive)
    best = oracle.get_best_trials(1)[0]
    assert best.score == oracle.admissible_front()[0]["accuracy"]


def test_precheck_scores_without_training(tmp_path):
    def too_big(values):
        if values["depth_0"] * values["width_0"] >= 64:
            macs = values["depth_0"] * values["width_0"] ** 2 * 256
            return {
                "accuracy": 0.0,
                "expected_macs": macs,
                "skipped": "over budget",
            }
        return None

    oracle, tuner = run_search(tmp_path, precheck=too_big, generations=3)
    for key in tuner.calls:
        values = json.loads(key)
        assert values["depth_0"] * values["width_0"] < 64
    skipped = [e for e in oracle.archive if e["status"] == "skipped"]
    assert skipped
    for entry in skipped:
        assert entry["trial_id"] is None and entry["reason"] == "over budget"
        assert not entry["feasible"] and entry["violation"] > 0
    assert len(oracle.trials) == sum(tuner.calls.values())
    assert oracle.total_evaluations == 24


def test_distributed_workers_get_idle_while_a_generation_runs(tmp_path):
    space = keras_tuner.HyperParameters()
    build_space(space)
    oracle = NSGA2Oracle(
        population_size=4, generations=2, hyperparameters=space, seed=2
    )
    oracle._set_project_dir(str(tmp_path), "distributed")
    oracle.verbose = 0
    oracle.idle_sleep = 0.0
    trials = [oracle.create_trial(f"worker{i}") for i in range(4)]
    assert [t.status for t in trials] == ["RUNNING"] * 4
    assert oracle.create_trial("worker4").status == "IDLE"
    for trial in trials:
        oracle.update_trial(
            trial.trial_id, evaluate(trial.hyperparameters.values)
        )
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert oracle.generation == 1
    assert oracle.create_trial("worker4").status == "RUNNING"


def test_distributed_duplicates_wait_on_the_running_trial(tmp_path):
    space = keras_tuner.HyperParameters()
    space.Boolean("a")
    space.Boolean("b")
    oracle = NSGA2Oracle(
        population_size=8, generations=2, hyperparameters=space, seed=3
    )
    oracle._set_project_dir(str(tmp_path), "duplicates")
    oracle.verbose = 0
    oracle.idle_sleep = 0.0
    trials = []
    while True:
        trial = oracle.create_trial(f"worker{len(trials)}")
        if trial.status != "RUNNING":
            break
        trials.append(trial)
    assert trial.status == "IDLE"
    assert len(trials) == len(
        {key_of(t.hyperparameters.values) for t in trials}
    )
    assert len(trials) < 8  # 8 genomes over 4 possible values.
    for trial in trials:
        values = trial.hyperparameters.values
        oracle.update_trial(
            trial.trial_id,
            {
                "accuracy": 0.5 + 0.2 * values["a"],
                "expected_macs": 1.0 + values["b"],
            },
        )
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert oracle.total_evaluations == 8
    assert oracle.unique_evaluations == len(trials)
    assert oracle.generation == 1
    assert oracle.create_trial("worker9").status != "IDLE"


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"population_size": 6}, "population_size"),
        ({"population_size": 8.0}, "population_size"),
        ({"generations": 0}, "generations"),
        ({"max_trials": -1}, "max_trials"),
        ({"min_accuracy": NAN}, "min_accuracy"),
        ({"max_macs": 0}, "max_macs"),
        ({"crossover_probability": 1.5}, "crossover_probability"),
        ({"mutation_probability": NAN}, "mutation_probability"),
        ({"eta_crossover": -1}, "eta_crossover"),
        ({"preselect": 0}, "preselect"),
        ({"precheck": "yes"}, "precheck"),
        ({"accuracy_key": 3}, "accuracy_key"),
    ],
)
def test_oracle(kwargs, argument):
    options = {"population_size": 4, "generations": 2}
    options.update(kwargs)
    assert_invalid(argument, NSGA2Oracle, **options)


def _full_macs(values):
    """Static costs for the synthetic space: the full network's MACs."""
    return [sum(
        values[f"depth_{i}"] * values[f"width_{i}"] ** 2 * RESOLUTION[i] ** 2
        for i in range(4)
    )]


def _hand_out(directory, **kwargs):
    """The values of the first generation, as 8 workers are handed them."""
    space = keras_tuner.HyperParameters()
    build_space(space)
    oracle = NSGA2Oracle(
        population_size=8, generations=2, hyperparameters=space, seed=4,
        **kwargs,
    )
    oracle._set_project_dir(str(directory), "hand_out")
    oracle.verbose = 0
    values = []
    for i in range(8):
        trial = oracle.create_trial(f"worker{i}")
        if trial.status != "RUNNING":
            break
        values.append(dict(trial.hyperparameters.values))
    return values, oracle


def test_a_generation_is_handed_out_costliest_first(tmp_path):
    bred, _ = _hand_out(tmp_path / "bred")
    ordered, oracle = _hand_out(tmp_path / "ordered", static_costs=_full_macs)
    assert sorted(map(key_of, ordered)) == sorted(map(key_of, bred))
    costs = [_full_macs(v)[0] for v in ordered]
    assert costs == sorted(costs, reverse=True)
    assert [_full_macs(v)[0] for v in bred] != costs  # Not sorted as bred.
    # The timeline says which cost the order used.
    assert [r["predicted_macs"] for r in oracle.timeline()] == costs
    # The budget ends inside the generation: the bred order, unbiased.
    truncated, _ = _hand_out(
        tmp_path / "truncated", static_costs=_full_macs, max_trials=6
    )
    assert list(map(key_of, truncated)) == list(map(key_of, bred[:6]))


def test_the_hand_out_order_changes_no_result(tmp_path):
    def outcome(oracle):
        return sorted(
            (e["generation"], key_of(e["values"]), e["accuracy"], e["macs"])
            for e in oracle.archive
        )

    bred, _ = run_search(tmp_path / "bred", generations=3)
    ordered, _ = run_search(
        tmp_path / "ordered", generations=3, static_costs=_full_macs
    )
    assert len(ordered.archive) == 24
    assert outcome(ordered) == outcome(bred)
    assert [
        (key_of(e["values"]), e["accuracy"], e["macs"])
        for e in ordered.admissible_front()
    ] == [
        (key_of(e["values"]), e["accuracy"], e["macs"])
        for e in bred.admissible_front()
    ]
    assert ordered.hypervolume_history == bred.hypervolume_history
