"""Tests of `NachosSearch(..., supernet=...)` and `InheritedEvaluator`:
inherited scores, the fine-tuned front, resume after a kill, arguments."""

import json
import os

import keras
import pytest

from keras_nachos.search import InheritedEvaluator
from keras_nachos.search import NachosSearch
from keras_nachos.search import SearchSpace
from keras_nachos.search import Supernet
from tests.testing_utils import assert_invalid
from tests.testing_utils import toy_data

MIN_ACCURACY, MAX_MACS = 0.3, 400000


def tiny_space(**overrides):
    options = dict(
        stage_widths=((4, 8), (8,), (8, 12)),
        depths=(1, 2), kernel_sizes=(3, 5), expansion_ratios=(2, 3),
        head_types=("global_pool", "sdn"), head_widths=(0, 8),
    )
    options.update(overrides)
    return SearchSpace((16, 16, 1), 4, **options)


def data():
    return (toy_data(128, input_shape=(16, 16, 1)),
            toy_data(64, input_shape=(16, 16, 1), seed=7))


@pytest.fixture(scope="module")
def supernet_file(tmp_path_factory):
    (x, y), _ = data()
    supernet = Supernet(tiny_space(), seed=0)
    supernet.compile(optimizer=keras.optimizers.Adam(1e-2))
    supernet.fit(x, y, epochs=6, batch_size=32, verbose=0)
    path = str(tmp_path_factory.mktemp("supernet") / "supernet.keras")
    supernet.save(path)
    return path


def make_tuner(tmp_path, supernet, overwrite=True, **kwargs):
    options = dict(population_size=4, generations=2, seed=3,
                   evaluator_options={"learning_rate": 1e-2})
    options.update(kwargs)
    return NachosSearch(
        tiny_space(), MIN_ACCURACY, MAX_MACS, directory=str(tmp_path),
        project_name="search", overwrite=overwrite, supernet=supernet,
        **options,
    )


def test_inherited_scores_are_the_extracted_models_and_the_front_is_finetuned(
    tmp_path, supernet_file,
):
    (x, y), (xv, yv) = data()
    tuner = make_tuner(tmp_path, supernet_file)
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=32,
                 verbose=0)
    completed = [r for r in tuner.all_candidates() if r["status"] == "completed"]
    assert completed
    for record in completed:
        assert record["details"]["train_seconds"] < 30
    front = tuner.admissible_front()
    assert front, "the toy problem has admissible inherited candidates"
    for s in front:
        assert s["inherited"] is True
        # The saved model is the inherited candidate: its early exit gives
        # the search's figures.
        model = keras.models.load_model(s["model_path"])
        result = model.predict_early_exit(xv, s["thresholds"])
        assert result.accuracy(yv) == pytest.approx(s["accuracy"])
        assert result.expected_macs == pytest.approx(s["expected_macs"])
        # And the fine-tuned one its own.
        tuned = s["finetuned"]
        assert tuned["finetune_epochs"] == 1
        model = keras.models.load_model(s["finetuned_model_path"])
        result = model.predict_early_exit(xv, tuned["thresholds"])
        assert result.accuracy(yv) == pytest.approx(tuned["accuracy"])
        assert result.expected_macs == pytest.approx(tuned["expected_macs"])
        assert tuned["admissible"] == (
            tuned["accuracy"] >= MIN_ACCURACY
            and tuned["expected_macs"] <= MAX_MACS
        )
        assert s["static_macs"] == model.exit_macs


def test_only_candidates_that_may_end_on_the_admissible_front_are_saved(
    tmp_path, supernet_file,
):
    (x, y), (xv, yv) = data()
    tuner = make_tuner(tmp_path, supernet_file, population_size=8,
                       generations=2)
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=32,
                 verbose=0, finetune_epochs=0)
    records = tuner.all_candidates()
    front_ids = {s["trial_id"] for s in tuner.admissible_front()}
    assert front_ids
    # In the order they completed, a model is saved exactly when the
    # candidate is admissible and no admissible one completed before
    # dominates it (checked here by hand on the archive).
    completed = [r for r in records if r["status"] == "completed"]
    for i, record in enumerate(completed):
        path = os.path.join(tuner.get_trial_dir(record["trial_id"]),
                            "eenn.keras")
        earlier = [r for r in completed[:i] if r["feasible"]]
        dominated = any(
            r["accuracy"] >= record["accuracy"] and r["macs"] <= record["macs"]
            and (r["accuracy"] > record["accuracy"] or r["macs"] < record["macs"])
            for r in earlier
        )
        assert os.path.exists(path) == (record["feasible"] and not dominated), (
            record
        )
    # Every front member has its model; some candidates were left out.
    for trial_id in front_ids:
        assert os.path.exists(
            os.path.join(tuner.get_trial_dir(trial_id), "eenn.keras"))
    assert any(not os.path.exists(os.path.join(
        tuner.get_trial_dir(r["trial_id"]), "eenn.keras")) for r in completed)
    # One without a model says how to get it.
    missing = next(r for r in completed if not os.path.exists(os.path.join(
        tuner.get_trial_dir(r["trial_id"]), "eenn.keras")))
    with pytest.raises(FileNotFoundError, match="supernet.extract"):
        tuner.load_model(tuner.oracle.get_trial(missing["trial_id"]))


def test_a_killed_supernet_search_resumes_without_scoring_again(
    tmp_path, supernet_file, monkeypatch,
):
    (x, y), (xv, yv) = data()
    calls, tuned = [], []
    original = InheritedEvaluator.__call__
    original_finetune = InheritedEvaluator.finetune

    def counting(self, values, callbacks=None):
        calls.append(json.dumps(values, sort_keys=True))
        if len(calls) == 4:
            raise KeyboardInterrupt  # killed in the middle of a trial
        return original(self, values, callbacks)

    def counting_finetune(self, values, epochs=None, callbacks=None):
        tuned.append(json.dumps(values, sort_keys=True))
        return original_finetune(self, values, epochs, callbacks)

    monkeypatch.setattr(InheritedEvaluator, "__call__", counting)
    monkeypatch.setattr(InheritedEvaluator, "finetune", counting_finetune)
    tuner = make_tuner(tmp_path, supernet_file)
    with pytest.raises(KeyboardInterrupt):
        tuner.search(x, y, validation_data=(xv, yv), verbose=0)
    first = {r["trial_id"]: r for r in tuner.all_candidates()
             if r["status"] == "completed"}
    assert len(first) == 3 and not tuned
    first_calls = list(calls)
    resumed = make_tuner(tmp_path, supernet_file, overwrite=False)
    resumed.search(x, y, validation_data=(xv, yv), verbose=0)
    after = {r["trial_id"]: r for r in resumed.all_candidates()
             if r["status"] == "completed"}
    for trial_id, record in first.items():
        assert after[trial_id]["accuracy"] == record["accuracy"]
    again = calls[len(first_calls):]
    assert again[0] == first_calls[3]  # the interrupted trial is re-run
    assert not set(again) & set(first_calls[:3])
    assert resumed.oracle.total_evaluations == 8
    front = resumed.admissible_front()
    assert len(tuned) == len(front) and all("finetuned" in s for s in front)
    # Fine-tuned candidates are not fine-tuned again.
    third = make_tuner(tmp_path, supernet_file, overwrite=False)
    third.search(x, y, validation_data=(xv, yv), verbose=0)
    assert len(tuned) == len(front)
    # A damaged fine-tune file is named, with what to do.
    path = os.path.join(third.get_trial_dir(front[0]["trial_id"]),
                        "finetuned.json")
    with open(path, "w") as f:
        f.write("{")
    with pytest.raises(ValueError, match="finetuned.json.*delete it"):
        third.admissible_front()


def test_supernet_arguments(tmp_path, supernet_file):
    assert_invalid("supernet", make_tuner, tmp_path,
                   str(tmp_path / "missing.keras"))
    other = Supernet(tiny_space(depths=(1,)))
    assert_invalid("supernet", make_tuner, tmp_path, other)
    model = tiny_space().build(tiny_space().random_values(seed=0))
    path = str(tmp_path / "model.keras")
    model.save(path)
    assert_invalid("supernet", make_tuner, tmp_path, path)
    (x, y), (xv, yv) = data()
    plain = make_tuner(tmp_path, None)
    assert_invalid("finetune_epochs", plain.search, x, y, (xv, yv),
                   finetune_epochs=2)
    tuner = make_tuner(tmp_path, supernet_file)
    assert_invalid("finetune_epochs", tuner.search, x, y, (xv, yv),
                   finetune_epochs=-1)
    assert_invalid("supernet", InheritedEvaluator, "x", (x, y), (xv, yv),
                   0.5, 1e5)
