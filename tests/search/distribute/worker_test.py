"""Tests of `keras_nachos.search.distribute.worker`: a patient client, the
heartbeat and the idle wait."""

import threading
import time

import grpc
import pytest

from keras_nachos.search.distribute import worker


class Unavailable(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNAVAILABLE


class Refused(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.PERMISSION_DENIED


class FlakyClient:
    tuner_ids = {"tuner0"}

    def __init__(self, failures, error=Unavailable):
        self.failures = failures
        self.error = error
        self.calls = 0

    def get_trial(self, trial_id):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error()
        return f"trial {trial_id}"


def test_a_patient_client_waits_for_the_chief(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    client = FlakyClient(failures=3)
    patient = worker.PatientClient(client, patience=600.0)
    assert patient.get_trial("7") == "trial 7" and client.calls == 4
    assert patient.tuner_ids == {"tuner0"}  # Attributes pass through.


def test_a_patient_client_gives_up_and_passes_other_errors():
    with pytest.raises(Unavailable):
        worker.PatientClient(FlakyClient(failures=10 ** 6), patience=0.0).get_trial("1")
    client = FlakyClient(failures=1, error=Refused)
    with pytest.raises(Refused):
        worker.PatientClient(client).get_trial("1")
    assert client.calls == 1


def test_the_heartbeat_asks_for_the_trial_while_it_runs():
    calls = []
    lock = threading.Lock()

    class Oracle:
        def get_trial(self, trial_id):
            with lock:
                calls.append(trial_id)
            if len(calls) == 2:
                raise RuntimeError("the chief is away")  # Ignored.

    with worker.heartbeat(Oracle(), "5", interval=0.05):
        time.sleep(0.33)
    count = len(calls)
    assert 4 <= count <= 7 and set(calls) == {"5"}
    time.sleep(0.15)
    assert len(calls) == count  # Stopped with the context.


def test_heartbeat_interval_and_idle_backoff(monkeypatch):
    assert worker.heartbeat_interval(None) == 10.0
    assert worker.heartbeat_interval(3.0) == 0.75
    assert worker.heartbeat_interval(0.1) == 0.2
    assert worker.heartbeat_interval(400.0) == 10.0
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    wait = worker.IdleWait()
    for _ in range(7):
        wait.sleep()
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert wait.total == pytest.approx(sum(slept))
    wait.reset()
    wait.sleep()
    assert slept[-1] == 0.05
