import collections
import copy
import json
import math
import random

import keras_tuner
import pytest
from deap import tools
from keras_tuner.engine.base_tuner import BaseTuner

from keras_nachos.search import ConstrainedFitness
from keras_nachos.search import NSGA2Oracle
from keras_nachos.search import admissible_hypervolume
from keras_nachos.search import constrained_fronts
from keras_nachos.search import non_dominated
from keras_nachos.search import normalised_violation

# A NAS-like synthetic problem: 4 stages at decreasing resolution (MACs are
# dominated by the early stages), capacity weighted towards the late stages
# (cheap there), and 3 early exits whose shared threshold trades accuracy for
# expected MACs. No training anywhere.
RESOLUTION = [16, 8, 4, 2]
CAPACITY_WEIGHT = [0.25, 0.5, 1.0, 2.0]
EXIT_FRACTION = [0.2, 0.3, 0.4]
EXIT_PENALTY = [0.06, 0.04, 0.02]
MIN_ACCURACY = 0.9
MAX_MACS = 150_000.0


def build_space(hp):
    for i in range(4):
        hp.Int(f"depth_{i}", 1, 4)
        hp.Choice(f"width_{i}", [8, 16, 24, 32])
    for k in range(3):
        hp.Boolean(f"exit_{k}")
    hp.Boolean("use_threshold")
    with hp.conditional_scope("use_threshold", [True]):
        hp.Float("threshold", 0.0, 1.0)
    hp.Fixed("classes", 10)


def evaluate(values):
    macs = [
        values[f"depth_{i}"] * values[f"width_{i}"] ** 2 * RESOLUTION[i] ** 2
        for i in range(4)
    ]
    capacity = sum(
        values[f"depth_{i}"] * values[f"width_{i}"] * CAPACITY_WEIGHT[i]
        for i in range(4)
    )
    accuracy = 0.97 - 0.6 * math.exp(-capacity / 60)
    threshold = values.get("threshold", 0.5)
    reach, expected_macs = 1.0, 0.0
    for i in range(4):
        expected_macs += reach * macs[i]
        if i < 3 and values[f"exit_{i}"]:
            reach *= 1 - threshold * EXIT_FRACTION[i]
            accuracy -= threshold**2 * EXIT_PENALTY[i]
    return {"accuracy": accuracy, "expected_macs": expected_macs}


def key_of(values):
    return json.dumps(values, sort_keys=True)


class Kill(BaseException):
    """Not an `Exception`: Keras Tuner lets it through, like a real kill."""


class SyntheticTuner(BaseTuner):
    """Scores trials with a synthetic function; counts calls per values."""

    def __init__(self, *args, objective_fn=evaluate, kill=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective_fn = objective_fn
        self.kill = kill  # ("run_trial" | "pre_create_trial", call number)
        self.calls = collections.Counter()
        self.completed_calls = collections.Counter()
        self.num_calls = 0

    def pre_create_trial(self):
        if self.kill and self.kill[0] == "pre_create_trial":
            if self.num_calls == self.kill[1]:
                raise Kill()

    def run_trial(self, trial, *args, **kwargs):
        values = dict(trial.hyperparameters.values)
        self.num_calls += 1
        self.calls[key_of(values)] += 1
        if self.kill and self.kill[0] == "run_trial":
            if self.num_calls == self.kill[1]:
                raise Kill()
        result = self.objective_fn(values)
        self.completed_calls[key_of(values)] += 1
        return result


class RecordingOracle(NSGA2Oracle):
    """Records every status `populate_space` answers."""

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        self.__dict__.setdefault("answers", []).append(response["status"])
        return response


def run_search(
    directory,
    seed=1,
    population_size=8,
    generations=4,
    build=build_space,
    overwrite=True,
    objective_fn=evaluate,
    kill=None,
    **oracle_kwargs,
):
    oracle = RecordingOracle(
        population_size=population_size,
        generations=generations,
        min_accuracy=MIN_ACCURACY,
        max_macs=MAX_MACS,
        seed=seed,
        **oracle_kwargs,
    )
    tuner = SyntheticTuner(
        oracle=oracle,
        hypermodel=build,
        directory=str(directory),
        project_name="search",
        overwrite=overwrite,
        objective_fn=objective_fn,
        kill=kill,
    )
    try:
        tuner.search(verbose=0)
    except Kill:
        pass
    return oracle, tuner


def fitness(accuracy, macs, violation=0.0):
    return ConstrainedFitness((accuracy, macs), violation)


# --- Constrained domination and the hypervolume, by hand. ---


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


def test_normalised_violation_by_hand():
    # (0.8 - 0.7) / (1 - 0.8) + (150 - 100) / 100 = 0.5 + 0.5.
    assert normalised_violation(0.7, 150.0, 0.8, 100.0) == pytest.approx(1.0)
    assert normalised_violation(0.85, 100.0, 0.8, 100.0) == 0.0
    assert normalised_violation(0.1, 1e12, 0.0, float("inf")) == 0.0


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


# --- The oracle. ---


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


def test_repair_is_applied_and_the_genome_re_encoded(tmp_path):
    def at_least_one_exit(values):
        if not any(values[f"exit_{k}"] for k in range(3)):
            values["exit_2"] = True
        return values

    oracle, tuner = run_search(
        tmp_path, repair=at_least_one_exit, generations=3
    )
    assert all(
        any(e["values"][f"exit_{k}"] for k in range(3)) for e in oracle.archive
    )
    for record in oracle._population + oracle._offspring:
        decoded, _ = oracle._codec.decode(oracle.hyperparameters, record.genome)
        assert decoded == record.values


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


def test_state_round_trip(tmp_path):
    oracle, _ = run_search(tmp_path, seed=4, generations=2)
    state = oracle.get_state()
    json.dumps(state)
    oracle.set_state(state)
    restored = oracle.get_state()
    # Keras Tuner stores a set as a list: its order is arbitrary.
    for s in (state, restored):
        s["tried_so_far"] = sorted(s["tried_so_far"])
    assert restored == state
    assert oracle.archive == state["nsga2"]["archive"]
    assert state["nsga2"]["population"] and state["nsga2"]["random_state"]


def test_offspring_already_evaluated_are_re_mutated_before_they_cost_budget():
    import keras_tuner as kt

    from keras_nachos.search import NSGA2Oracle

    hp = kt.HyperParameters()
    for i in range(4):
        hp.Choice(f"c{i}", [0, 1, 2])
    oracle = NSGA2Oracle(population_size=8, generations=3, hyperparameters=hp, seed=0)
    oracle._start()
    for record in oracle._offspring:
        oracle._cache[record.key] = {"accuracy": 0.5, "expected_macs": 1.0}
    children = [list(r.genome) for r in oracle._offspring]
    records = oracle._distinct_records(children)
    keys = [r.key for r in records]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & set(oracle._cache)


# --- Offspring pre-selection (`preselect > 1`). ---


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
    from keras_nachos.search.preselection import gp_predict

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
    from keras_nachos.search.preselection import stratified_by_cost

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
