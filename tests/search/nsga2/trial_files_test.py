"""Tests of `keras_nachos.search.nsga2.trial_files`: a damaged oracle or
trial file is named with what to do, and nothing else is lost."""

import os
import shutil

import pytest

from keras_nachos.search.state_files import DamagedStateError
from tests.search.testing_utils import fresh_copy
from tests.search.testing_utils import make_formula_tuner as make_tuner
from tests.search.testing_utils import truncate


def run(tuner):
    tuner.search(verbose=0)
    return tuner


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
