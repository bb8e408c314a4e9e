"""Tests of `keras_nachos.search.nachos_search`: whole searches on a tiny
space (front, resume, failures, arguments, pre-selection)."""

import json

import keras
import pytest

from keras_nachos.search import NachosSearch
from keras_nachos.search import SearchSpace
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.pareto import non_dominated
from tests.search.testing_utils import FormulaEvaluator
from tests.search.testing_utils import formula_search
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid
from tests.testing_utils import toy_data

MIN_ACCURACY, MAX_MACS = 0.3, 400000


def tiny_space():
    return SearchSpace(
        (16, 16, 1), 4,
        stage_widths=((4, 8), (8,), (8, 12)),
        depths=(1, 2), kernel_sizes=(3, 5), expansion_ratios=(2, 3),
        head_types=("global_pool", "sdn"), head_widths=(0, 8),
    )


def data():
    return (toy_data(128, input_shape=(16, 16, 1)),
            toy_data(64, input_shape=(16, 16, 1), seed=7))


def make_tuner(tmp_path, overwrite=True, **kwargs):
    options = dict(population_size=4, generations=2, seed=3,
                   evaluator_options={"learning_rate": 1e-2})
    options.update(kwargs)
    return NachosSearch(
        tiny_space(), MIN_ACCURACY, MAX_MACS, directory=str(tmp_path),
        project_name="search", overwrite=overwrite, **options,
    )


@pytest.mark.slow
def test_a_killed_search_resumes_and_its_front_is_admissible_when_re_evaluated(
        tmp_path, monkeypatch):
    # One search for both (it trained twice before): killed mid-trial,
    # resumed without losing or retraining, then its front re-evaluated.
    (x, y), (xv, yv) = data()
    calls = []
    original = CandidateEvaluator.__call__

    def counting(self, values, callbacks=None):
        calls.append(json.dumps(values, sort_keys=True))
        if len(calls) == 4:
            raise KeyboardInterrupt  # killed in the middle of a trial
        return original(self, values, callbacks)

    monkeypatch.setattr(CandidateEvaluator, "__call__", counting)
    tuner = make_tuner(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=32,
                     verbose=0)
    first = {r["trial_id"]: r for r in tuner.all_candidates()
             if r["status"] == "completed"}
    assert len(first) == 3
    first_calls = list(calls)
    resumed = make_tuner(tmp_path, overwrite=False)
    resumed.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=32,
                   verbose=0)
    after = {r["trial_id"]: r for r in resumed.all_candidates()
             if r["status"] == "completed"}
    for trial_id, record in first.items():
        assert after[trial_id]["accuracy"] == record["accuracy"]
        assert after[trial_id]["macs"] == record["macs"]
    retrained = calls[len(first_calls):]
    assert retrained[0] == first_calls[3]  # the interrupted trial is re-run
    assert not set(retrained) & set(first_calls[:3])
    assert resumed.oracle.total_evaluations == 8
    tuner = resumed
    front = tuner.pareto_front()
    points = [(s["accuracy"], s["expected_macs"]) for s in front]
    assert len(non_dominated(points, key=lambda p: p)) == len(points)
    for a in points:
        assert not any(b[0] >= a[0] and b[1] <= a[1] and b != a for b in points)
    admissible = tuner.admissible_front()
    assert admissible, "the toy problem has admissible solutions"
    for s in admissible:
        model = keras.models.load_model(s["model_path"])
        result = model.predict_early_exit(xv, s["thresholds"])
        assert result.accuracy(yv) == pytest.approx(s["accuracy"])
        assert result.accuracy(yv) >= MIN_ACCURACY
        assert result.expected_macs == pytest.approx(s["expected_macs"])
        assert result.expected_macs <= MAX_MACS
        assert s["static_macs"] == model.exit_macs
        assert len(s["exit_fractions"]) == model.num_exits
    assert len(tuner.hypervolume_history) == 2
    assert all(0 <= v <= 1 for v in tuner.hypervolume_history)
    best = tuner.get_best_models(1)[0]
    assert best.count_params() > 0




def test_failed_trial_is_recorded_and_search_goes_on(tmp_path, monkeypatch):
    # Scored by a formula: what is tested is the failure policy, not training.
    original = FormulaEvaluator.__call__
    state = {"n": 0}

    def flaky(self, values):
        state["n"] += 1
        if state["n"] == 2:
            raise FloatingPointError("training diverged (loss=nan)")
        return original(self, values)

    monkeypatch.setattr(FormulaEvaluator, "__call__", flaky)
    tuner = formula_search(tmp_path, generations=1)
    tuner.search(verbose=0)
    statuses = [r["status"] for r in tuner.all_candidates()]
    assert statuses.count("failed") == 1
    failed = next(r for r in tuner.all_candidates() if r["status"] == "failed")
    assert "diverged" in failed["reason"]
    assert statuses.count("completed") + statuses.count("skipped") == 3


def test_bad_search_arguments(tmp_path):
    with pytest.raises(ValueError, match="argument `min_accuracy`"):
        NachosSearch(tiny_space(), 1.0, 1e5, directory=str(tmp_path))
    with pytest.raises(ValueError, match="argument `max_macs`"):
        NachosSearch(tiny_space(), 0.5, 0, directory=str(tmp_path))
    with pytest.raises(ValueError, match="argument `population_size`"):
        NachosSearch(tiny_space(), 0.5, 1e5, population_size=6,
                     directory=str(tmp_path))


def test_preselection_trains_only_candidates_within_the_budget(tmp_path, monkeypatch):
    """`preselect > 1`: bred candidates whose first exit alone is over
    `max_macs` are dropped before they take a slot (training faked here: the
    test is about which candidates reach it)."""
    space = tiny_space()
    first_costs = sorted(
        space.build(space.random_values(seed)).exit_macs[0] for seed in range(16)
    )
    max_macs = float(first_costs[len(first_costs) // 2])  # about half fail
    trained, built = [], []
    original_build = SearchSpace.build

    def counting_build(self, values):
        built.append(self.candidate_key(values))
        return original_build(self, values)

    def fake_training(self, values, callbacks=None):
        trained.append(values)
        costs = self.static_costs(values)
        accuracy = 0.5 + 0.01 * len(self.space.candidate_key(values)) % 0.5
        return {"accuracy": accuracy, "expected_macs": float(costs[0])}, None

    monkeypatch.setattr(SearchSpace, "build", counting_build)
    monkeypatch.setattr(CandidateEvaluator, "__call__", fake_training)
    monkeypatch.setattr(
        NachosSearch, "run_trial",
        lambda self, trial, *a, **k: self.evaluator(trial.hyperparameters.values)[0],
    )
    (x, y), (xv, yv) = data()
    tuner = NachosSearch(
        space, 0.3, max_macs, population_size=4, generations=3, preselect=3,
        seed=1, directory=str(tmp_path), project_name="search",
    )
    tuner.search(x, y, validation_data=(xv, yv), verbose=0)
    assert len(trained) == 12
    evaluator = tuner.evaluator
    for values in trained:
        assert evaluator.precheck(values) is None
    assert tuner.oracle.screened["infeasible"] > 0
    assert tuner.oracle.screened["total"] >= 2 * 4 * 3
    # Each candidate was built once for its costs, however often screened.
    assert len(built) == len(set(built))


def test_nachos_search(tmp_path):
    from keras_nachos.search import NachosSearch

    space = SearchSpace((16, 16, 1), 4, stage_widths=((8,), (8,)))
    assert_invalid("search_space", NachosSearch, "space", 0.5, 1e5)
    assert_invalid("min_accuracy", NachosSearch, space, NAN, 1e5,
            directory=str(tmp_path))
    assert_invalid("max_macs", NachosSearch, space, 0.5, None, directory=str(tmp_path))
    assert_invalid("evaluator_options", NachosSearch, space, 0.5, 1e5,
            evaluator_options=[1], directory=str(tmp_path))


def test_device_budgets_drop_candidates_before_training(tmp_path, monkeypatch):
    """`max_ram_bytes` / `max_flash_bytes`: candidates whose estimated int8
    arena or files exceed the budget are screened out like those over
    `max_macs` (training faked: the test is about which reach it)."""
    space = tiny_space()
    candidates = [space.build(space.random_values(seed)) for seed in range(16)]
    rams = sorted(m.device_costs.ram_bytes for m in candidates)
    flashes = sorted(m.device_costs.flash_bytes for m in candidates)
    max_ram, max_flash = float(rams[10]), float(flashes[12])
    trained = []

    def fake_training(self, values, callbacks=None):
        trained.append(values)
        costs = self.static_costs(values)
        return {"accuracy": 0.6, "expected_macs": float(costs[0])}, None

    monkeypatch.setattr(CandidateEvaluator, "__call__", fake_training)
    monkeypatch.setattr(
        NachosSearch, "run_trial",
        lambda self, trial, *a, **k: self.evaluator(trial.hyperparameters.values)[0],
    )
    (x, y), (xv, yv) = data()
    tuner = NachosSearch(
        space, 0.3, 1e9, population_size=4, generations=3, preselect=3,
        seed=1, directory=str(tmp_path), project_name="search",
        max_ram_bytes=max_ram, max_flash_bytes=max_flash,
    )
    tuner.search(x, y, validation_data=(xv, yv), verbose=0)
    assert len(trained) == 12
    for values in trained:
        costs = space.build(values).device_costs
        assert costs.ram_bytes <= max_ram and costs.flash_bytes <= max_flash
    assert tuner.oracle.screened["infeasible"] > 0
    largest = max(range(16), key=lambda i: candidates[i].device_costs.ram_bytes)
    skipped = tuner.evaluator.precheck(space.random_values(largest))
    assert skipped["accuracy"] == 0.0
    assert "max_ram_bytes" in skipped["skipped"], skipped


def test_device_budget_arguments(tmp_path):
    assert_invalid("max_ram_bytes", NachosSearch, tiny_space(), 0.5, 1e5,
                   max_ram_bytes=0, directory=str(tmp_path))
    with pytest.raises(TypeError, match="argument `max_flash_bytes`"):
        NachosSearch(tiny_space(), 0.5, 1e5, max_flash_bytes="64k",
                     directory=str(tmp_path))


@pytest.mark.slow
def test_floor_confidence_ranks_and_admits_on_the_guaranteed_accuracy(tmp_path):
    import numpy as np

    from keras_nachos.calibration import guarantee
    from keras_nachos.reporting.pareto_plot import plot_pareto

    (x, y), (xv, yv) = data()
    tuner = make_tuner(tmp_path, generations=1, floor_confidence=0.9)
    tuner.search(x, y, validation_data=(xv, yv), epochs=2, batch_size=32, verbose=0)
    calibrating, scoring = guarantee.split_indices(64, 0.3, tuner.evaluator.seed)
    assert len(scoring) == 45 and not set(calibrating) & set(scoring)
    solutions = [s for s in tuner.pareto_front() if "measured_accuracy" in s]
    assert solutions
    for s in solutions:
        model = keras.models.load_model(s["model_path"])
        result = model.predict_early_exit(xv[scoring], s["thresholds"])
        # Measured on the samples the thresholds never saw ...
        assert result.accuracy(yv[scoring]) == pytest.approx(s["measured_accuracy"])
        assert result.expected_macs == pytest.approx(s["expected_macs"])
        # ... and the objective is its exact Clopper-Pearson lower bound.
        errors = int(np.sum(result.predictions != yv[scoring]))
        bound = 1 - guarantee.risk_upper_bound(errors, 45, 0.9)
        assert s["accuracy"] == pytest.approx(bound)
        assert s["accuracy"] < s["measured_accuracy"]
        assert s["scoring_samples"] == 45 and s["floor_confidence"] == 0.9
    for s in tuner.admissible_front():
        assert s["accuracy"] >= MIN_ACCURACY  # the bound, not the estimate
    figure = plot_pareto({
        "config": {"min_accuracy": MIN_ACCURACY, "max_macs": MAX_MACS,
                   "floor_confidence": 0.9},
        "candidates": [], "admissible_front": [],
    })
    assert "lower bound at 0.9" in figure.axes[0].get_ylabel()


def test_floor_confidence_arguments_are_checked_before_any_training(tmp_path):
    (x, y), (xv, yv) = data()
    assert_invalid("floor_confidence", make_tuner, tmp_path, floor_confidence=1.5)
    assert_invalid("evaluator_options", make_tuner, tmp_path,
                   evaluator_options={"floor_confidence": 0.9})
    tuner = NachosSearch(
        tiny_space(), 0.99, MAX_MACS, population_size=4, generations=1,
        floor_confidence=0.9, directory=str(tmp_path), project_name="tight",
        overwrite=True,
    )
    # 0.99 at 0.9 needs 230 scoring samples; 70% of 64 is 45.
    with pytest.raises(ValueError, match="needs 230 scoring samples; the split "
                       "gives 45"):
        tuner.search(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    assert not tuner.oracle.trials


def test_search_checks_its_data_once_before_any_trial(tmp_path, monkeypatch):
    # Before: each of these failed every trial (after training, or during),
    # printed a traceback per trial and returned an empty front.
    import numpy as np

    evaluated = []
    monkeypatch.setattr(CandidateEvaluator, "__call__",
                        lambda self, values, callbacks=None: evaluated.append(1))
    (x, y), (xv, yv) = data()
    nan = xv.copy()
    nan[3, 0, 0, 0] = np.nan
    cases = [
        ({"x": x[:, :8, :8]}, "x", r"inputs of shape \(n, 16, 16, 1\)"),
        ({"validation_data": (xv[:, :8, :8], yv)}, "validation_data",
         r"inputs \(the pair's first item\) of shape \(n, 16, 16, 1\)"),
        ({"y": np.where(y == 0, 9, y)}, "y",
         r"class ids in \[0, 4\) \(num_classes=4\).*Received: y=\[9\]"),
        ({"validation_data": (xv, np.where(yv == 0, 12, yv))},
         "validation_data", r"labels \(the pair's second item\).*"
         r"Received: validation_data=\[12\]"),
        ({"validation_data": (xv, np.where(yv == 0, -1, yv))},
         "validation_data", r"Received: validation_data=\[-1\]"),
        ({"validation_data": (xv, np.full_like(yv, 4))}, "validation_data",
         r"64 of 64 are outside"),
        ({"y": y[:-1]}, "y", r"128 labels, one per sample"),
        ({"validation_data": (xv, yv[:-1])}, "validation_data",
         r"one label per sample \(64\)"),
        ({"validation_data": (nan, yv)}, "validation_data",
         r"finite numbers: 1 of 64 samples"),
        ({"y": np.full((128, 4), 0.25)}, "y", "one-hot rows"),
        ({"x": x[:0], "y": y[:0]}, "x", "at least one sample"),
        ({"epochs": 0}, "epochs", "a positive integer"),
        ({"batch_size": 0}, "batch_size", "a positive integer"),
    ]
    tuner = make_tuner(tmp_path)
    for change, argument, message in cases:
        arguments = dict(x=x, y=y, validation_data=(xv, yv), verbose=0)
        arguments.update(change)
        with pytest.raises(ValueError, match=f"argument `{argument}`. "
                           f"Expected .*{message}"):
            tuner.search(**arguments)
    assert evaluated == [] and tuner.oracle.trials == {}
    assert not list((tmp_path / "search").glob("trial_*"))
    # One-hot rows are the class ids they encode (no trial needed to see it).
    monkeypatch.setattr(NachosSearch, "_run_trials", lambda self: None)
    tuner.search(x, np.eye(4)[y], validation_data=(xv, np.eye(4)[yv]),
                 verbose=0)
    np.testing.assert_array_equal(tuner.evaluator.train_data[1], y)
    np.testing.assert_array_equal(tuner.evaluator.validation_data[1], yv)
