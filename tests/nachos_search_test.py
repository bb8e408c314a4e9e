import json
import os

import keras
import numpy as np
import pytest

import keras_nachos_cli
from keras_nachos.search import NachosSearch
from keras_nachos.search import SearchSpace
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.pareto import non_dominated
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
def test_front_is_non_dominated_and_admissible_when_re_evaluated(tmp_path):
    (x, y), (xv, yv) = data()
    tuner = make_tuner(tmp_path)
    tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=32, verbose=0)
    assert tuner.oracle.total_evaluations == 8
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


@pytest.mark.slow
def test_killed_search_resumes_without_losing_or_retraining(tmp_path, monkeypatch):
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
        tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=32,
                     verbose=0)
    first = {r["trial_id"]: r for r in tuner.all_candidates()
             if r["status"] == "completed"}
    assert len(first) == 3
    first_calls = list(calls)
    resumed = make_tuner(tmp_path, overwrite=False)
    resumed.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=32,
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


def test_failed_trial_is_recorded_and_search_goes_on(tmp_path, monkeypatch):
    (x, y), (xv, yv) = data()
    original = CandidateEvaluator.__call__
    state = {"n": 0}

    def flaky(self, values, callbacks=None):
        state["n"] += 1
        if state["n"] == 2:
            raise FloatingPointError("training diverged (loss=nan)")
        return original(self, values, callbacks)

    monkeypatch.setattr(CandidateEvaluator, "__call__", flaky)
    tuner = make_tuner(tmp_path, generations=1)
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=64, verbose=0)
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


@pytest.mark.slow
def test_cli_search_report_export_on_digits(tmp_path, capsys):
    out = str(tmp_path / "run")
    keras_nachos_cli.main([
        "search", "--dataset", "digits", "--max-samples", "400",
        "--min-accuracy", "0.15", "--max-macs", "200000",
        "--population", "4", "--generations", "1", "--epochs", "4",
        "--batch-size", "64",
        "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
        "--kernel-sizes", "3", "--expansion-ratios", "2",
        "--head-types", "global_pool", "--out", out,
    ])
    printed = capsys.readouterr().out
    assert "[trial 4/4]" in printed and "Admissible Pareto front" in printed
    for name in ("results.json", "results.csv", "pareto.png", "search_config.json"):
        assert os.path.exists(os.path.join(out, name))
    results = json.load(open(os.path.join(out, "results.json")))
    front = results["admissible_front"]
    assert front and all(r["test_accuracy"] is not None for r in front)
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    assert "Admissible Pareto front" in capsys.readouterr().out
    assert keras_nachos_cli.main(["export", out, "--solution", "0"]) == 0
    model = keras.models.load_model(os.path.join(out, "solution_0.keras"))
    assert model.num_exits >= 2
    assert keras_nachos_cli.main(["export", out, "--solution", "99"]) == 2
    error = capsys.readouterr().err
    assert "argument `--solution`" in error and len(error.splitlines()) == 1


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


def test_pareto_plot_legend_hides_no_candidate(tmp_path, monkeypatch):
    """The legend must not cover a candidate, e.g. an infeasible one near
    M_max at low accuracy (the lower right corner)."""
    from keras_nachos.reporting.pareto_plot import plot_pareto

    candidates = [
        {"status": "completed", "accuracy": a, "macs": m}
        for a, m in ((0.7755, 798_014), (0.88, 640_000), (0.86, 260_000),
                     (0.85, 255_000), (0.83, 580_000), (0.79, 700_000))
    ]
    results = {
        "config": {"min_accuracy": 0.82, "max_macs": 800_000},
        "candidates": candidates,
        "admissible_front": [
            {"accuracy": 0.88, "expected_macs": 640_000},
            {"accuracy": 0.86, "expected_macs": 260_000},
        ],
    }
    fig = plot_pareto(results, str(tmp_path / "pareto.png"))
    assert os.path.getsize(tmp_path / "pareto.png") > 0
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    points = ax.transData.transform([(c["macs"], c["accuracy"]) for c in candidates])
    assert not any(box.contains(x, y) for x, y in points)
    low, high = ax.get_ylim()
    assert low < 0.7755 and high > 0.88
