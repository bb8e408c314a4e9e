"""Tests of `keras_nachos.search.distribute.fault_tolerance`: silent
workers lose their trial to the next one, a trial released too often fails,
a late end is ignored, the timeline records hand-outs and ends."""

import time

import keras_tuner as kt
import pytest

from keras_nachos.search.distribute.fault_tolerance import MAX_SILENCES
from keras_nachos.search.distribute.fault_tolerance import FaultTolerantOracle
from tests.testing_utils import assert_invalid


class CountingOracle(FaultTolerantOracle):
    """Hands out `x = 0, 1, 2, ...`; records what `trial_ended` learns."""

    def __init__(self, **kwargs):
        hp = kt.HyperParameters()
        hp.Int("x", 0, 100)
        super().__init__(objective=kt.Objective("score", "max"), max_trials=10,
                         hyperparameters=hp, **kwargs)
        self.next_value = 0
        self.ended = []

    def populate_space(self, trial_id):
        self.next_value += 1
        return {"status": "RUNNING", "values": {"x": self.next_value - 1}}

    def trial_ended(self, trial, tuner_id):
        self.ended.append((trial.trial_id, trial.status, tuner_id))

    def predicted_cost(self, trial_id):
        return 100.0 + int(trial_id)


def oracle(tmp_path, **kwargs):
    result = CountingOracle(**kwargs)
    result._set_project_dir(str(tmp_path), "project")
    result.verbose = 0
    return result


def complete(oracle, trial, score=1.0):
    oracle.update_trial(trial.trial_id, {"score": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_a_released_trial_goes_to_the_next_worker_with_its_values(tmp_path):
    o = oracle(tmp_path)
    first = o.create_trial("tuner0")
    assert o.release_tuner("tuner0", "exited with code 9") == first.trial_id
    assert "tuner0" not in o.tuner_ids and not o.ongoing_trials
    again = o.create_trial("tuner1")
    assert again.trial_id == first.trial_id
    assert again.hyperparameters.values == {"x": 0}
    complete(o, again)
    assert o.ended == [(first.trial_id, "COMPLETED", "tuner1")]
    # Nothing to release for a worker without a trial.
    assert o.release_tuner("tuner7") is None


def test_a_trial_released_max_silences_times_fails(tmp_path):
    o = oracle(tmp_path)
    trial = o.create_trial("tuner0")
    o.release_tuner("tuner0")
    for i in range(MAX_SILENCES - 1):
        assert o.create_trial(f"w{i}").trial_id == trial.trial_id
        o.release_tuner(f"w{i}")
    assert o.trials[trial.trial_id].status == "FAILED"
    assert "went away 3 times" in o.trials[trial.trial_id].message
    assert o.ended[-1][:2] == (trial.trial_id, "FAILED")


def test_a_silent_worker_loses_its_trial_after_the_timeout(tmp_path):
    o = oracle(tmp_path, trial_timeout=0.2)
    trial = o.create_trial("tuner0")
    time.sleep(0.3)
    taken = o.create_trial("tuner1")  # tuner0 was silent: its trial moves.
    assert taken.trial_id == trial.trial_id and "tuner0" not in o.ongoing_trials
    # A heartbeat (get_trial) keeps a trial with its worker.
    o2 = oracle(tmp_path / "beating", trial_timeout=0.2)
    kept = o2.create_trial("tuner0")
    for _ in range(3):
        time.sleep(0.1)
        o2.get_trial(kept.trial_id)
    assert o2.create_trial("tuner1").trial_id != kept.trial_id


def test_a_late_end_is_ignored_and_frees_its_worker(tmp_path):
    o = oracle(tmp_path)
    trial = o.create_trial("tuner0")
    o.release_tuner("tuner0")
    again = o.create_trial("tuner1")
    complete(o, again, score=2.0)
    # The first worker was only slow: it ends the trial again.
    late = o.get_trial(trial.trial_id)
    late.status = "COMPLETED"
    o.end_trial(late)
    assert o.ended == [(trial.trial_id, "COMPLETED", "tuner1")]
    assert o.trials[trial.trial_id].metrics.get_last_value("score") == 2.0


def test_the_timeline_and_serving_status(tmp_path):
    o = oracle(tmp_path)
    first = o.create_trial("tuner0")
    second = o.create_trial("tuner1")
    complete(o, first)
    runs = o.timeline()
    assert [r["trial_id"] for r in runs] == [first.trial_id, second.trial_id]
    assert runs[0]["ended"] is not None and runs[1]["ended"] is None
    assert [r["predicted_macs"] for r in runs] == [100.0, 101.0]
    assert o.serving_status() == (False, 2)
    complete(o, second)
    assert o.serving_status() == (False, 2)  # Trials remain in the budget.


@pytest.mark.parametrize("value", [0, -1.0, "10"])
def test_bad_trial_timeout(tmp_path, value):
    assert_invalid("trial_timeout", CountingOracle, trial_timeout=value)
