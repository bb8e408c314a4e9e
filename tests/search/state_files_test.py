"""Damaged or lost state files: named with what to do; nothing else lost."""

import json
import os
import shutil

import pytest

from keras_nachos.search import NachosSearch
from keras_nachos.search import SearchSpace
from keras_nachos.search.state_files import DamagedStateError
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically
from tests.testing_utils import toy_data

MIN_ACCURACY, MAX_MACS = 0.3, 400000


def tiny_space():
    return SearchSpace(
        (16, 16, 1), 4,
        stage_widths=((4, 8), (8,), (8, 12)),
        depths=(1,), kernel_sizes=(3,), expansion_ratios=(2,),
        head_types=("global_pool",), head_widths=(0,),
    )


def make_tuner(directory, overwrite=False):
    return NachosSearch(
        tiny_space(), MIN_ACCURACY, MAX_MACS, population_size=4, generations=1,
        preselect=1, seed=3, directory=str(directory), project_name="search",
        overwrite=overwrite, evaluator_options={"learning_rate": 1e-2},
    )


def run(tuner):
    x, y = toy_data(64)
    tuner.search(x, y, validation_data=toy_data(32, seed=7), epochs=1,
                 batch_size=32, verbose=0)
    return tuner


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny search, copied afresh for each test."""
    directory = tmp_path_factory.mktemp("finished")
    tuner = run(make_tuner(directory, overwrite=True))
    return directory, tuner.all_candidates()


def fresh_copy(finished, tmp_path):
    source, candidates = finished
    target = tmp_path / "search_copy"
    shutil.copytree(source, target)
    return target, candidates


def truncate(path):
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text[: len(text) // 2])


def test_read_json_names_the_file_what_is_wrong_and_what_to_do(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomically(str(path), {"a": [1, 2, 3]})
    assert read_json(str(path), "x", "y") == {"a": [1, 2, 3]}
    assert not os.path.exists(str(path) + ".tmp")
    truncate(path)
    with pytest.raises(DamagedStateError) as info:
        read_json(str(path), what="the test's state", remedy="restore it")
    message = str(info.value)
    assert str(path) in message and "not valid JSON" in message
    assert "truncated" in message and "restore it" in message
    path.write_text("")
    with pytest.raises(DamagedStateError, match="it is empty"):
        read_json(str(path), "x", "restore it")


def test_oracle_state_is_written_atomically_with_the_previous_one_kept(finished):
    directory, _ = finished
    oracle_file = os.path.join(directory, "search", "oracle.json")
    previous = json.load(open(oracle_file + ".previous"))
    current = json.load(open(oracle_file))
    assert previous["nsga2"]["total_evaluations"] <= current["nsga2"][
        "total_evaluations"]
    assert not any(name.endswith(".tmp") for name in os.listdir(
        os.path.dirname(oracle_file)))


def test_half_an_oracle_json_is_named_and_its_previous_copy_resumes(
    finished, tmp_path
):
    # Before: a raw JSONDecodeError from inside Keras Tuner.
    directory, candidates = fresh_copy(finished, tmp_path)
    oracle_file = os.path.join(directory, "search", "oracle.json")
    truncate(oracle_file)
    before = sorted(os.listdir(os.path.join(directory, "search")))
    with pytest.raises(DamagedStateError) as info:
        make_tuner(directory)
    message = str(info.value)
    assert oracle_file in message and "oracle.json.previous" in message
    # Nothing else was touched.
    assert sorted(os.listdir(os.path.join(directory, "search"))) == before
    # What the message says to do works.
    shutil.copy(oracle_file + ".previous", oracle_file)
    resumed = run(make_tuner(directory))
    done = [c for c in resumed.all_candidates() if c["status"] == "completed"]
    ours = {c["trial_id"]: c["accuracy"] for c in candidates
            if c["status"] == "completed"}
    assert {c["trial_id"]: c["accuracy"] for c in done if c["trial_id"] in ours
            } == {k: v for k, v in ours.items() if k in {c["trial_id"] for c in done}}
    assert resumed.oracle.finished


def test_truncated_trial_json_is_named_and_deleting_it_rebuilds_the_trial(
    finished, tmp_path
):
    directory, candidates = fresh_copy(finished, tmp_path)
    completed = [c for c in candidates if c["status"] == "completed"]
    victim = completed[0]
    trial_file = os.path.join(
        directory, "search", f"trial_{victim['trial_id']}", "trial.json"
    )
    truncate(trial_file)
    with pytest.raises(DamagedStateError) as info:
        make_tuner(directory)
    message = str(info.value)
    assert trial_file in message and "delete" in message
    os.remove(trial_file)
    tuner = make_tuner(directory)
    rebuilt = tuner.oracle.get_trial(victim["trial_id"])
    assert rebuilt.status == "COMPLETED"
    assert rebuilt.metrics.get_last_value("accuracy") == victim["accuracy"]
    assert os.path.exists(trial_file)
    # The front is unchanged and still finds the trained model.
    assert [s["trial_id"] for s in tuner.admissible_front()] == [
        s["trial_id"] for s in make_tuner(finished[0]).admissible_front()
    ]
    assert tuner.oracle.finished


def test_a_lost_tuner_file_resumes_instead_of_starting_over(finished, tmp_path):
    # Keras Tuner starts over (and writes over oracle.json) when its tuner
    # file is missing.
    directory, candidates = fresh_copy(finished, tmp_path)
    os.remove(os.path.join(directory, "search", "tuner0.json"))
    tuner = make_tuner(directory)
    assert tuner.oracle.finished
    assert len(tuner.all_candidates()) == len(candidates)
