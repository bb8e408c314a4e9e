"""Tests of `keras_nachos.search.distribute.chief`: the role from Keras
Tuner's variables, and a chief that ends as soon as its search is done."""

import json
import socket

from keras_nachos.search.distribute import chief
from tests.search.distribute.fault_tolerance_test import oracle


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_role_comes_from_keras_tuner_variables(monkeypatch):
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert chief.distributed_role() is None
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert chief.distributed_role() == "chief"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner3")
    assert chief.distributed_role() == "worker"


def test_a_chief_with_nothing_left_ends_and_writes_its_timeline(
        tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    o = oracle(tmp_path)
    o.max_trials = 1
    trial = o.create_trial("tuner0")
    o.update_trial(trial.trial_id, {"score": 1.0})
    trial.status = "COMPLETED"
    o.end_trial(trial)
    o.create_trial("tuner0")  # STOPPED: the worker was told.
    polls = []
    chief.serve(o, tmp_path, on_poll=polls.append, verbose=0)
    assert polls == [o]
    timeline = json.load(open(tmp_path / chief.TIMELINE_FILE))
    assert [r["trial_id"] for r in timeline["trials"]] == [trial.trial_id]
    assert timeline["served_to"] >= timeline["served_from"]
