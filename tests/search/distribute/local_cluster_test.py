"""Tests of `keras_nachos.search.distribute.local_cluster`."""

import os
import socket
import subprocess
import sys

import pytest

from keras_nachos.search.distribute import local_cluster
from keras_nachos.search.distribute.local_cluster import LocalCluster
from keras_nachos.search.distribute.local_cluster import WorkersLost
from keras_nachos.search.distribute.local_cluster import worker_devices


def test_workers_share_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert worker_devices(3) == [
        ({"CUDA_VISIBLE_DEVICES": "3"}, None), ({"CUDA_VISIBLE_DEVICES": "5"}, None),
        ({"CUDA_VISIBLE_DEVICES": "3"}, None)]


def test_workers_share_the_cores_without_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    cores = sorted(os.sched_getaffinity(0))
    devices = worker_devices(len(cores))
    assert [c for _, c in devices] == [[c] for c in cores]
    assert all(env == {"CUDA_VISIBLE_DEVICES": "-1"} for env, _ in devices)
    assert [c for _, c in worker_devices(1)] == [cores]
    # Eight cores: three workers get two each, the last two stay free; more
    # workers than cores wrap round.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {8, 9, 10, 11, 12, 13, 14, 15})
    assert [c for _, c in worker_devices(3)] == [[8, 9], [10, 11], [12, 13]]
    assert [c for _, c in worker_devices(10)][8:] == [[8], [9]]


def test_gpus_are_listed_by_nvidia_smi_when_the_variable_is_unset(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    listing = ("GPU 0: NVIDIA H100 (UUID: GPU-1)\n"
               "GPU 1: NVIDIA H100 (UUID: GPU-2)\n")
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout=listing)

    monkeypatch.setattr(local_cluster.subprocess, "run", fake_run)
    assert worker_devices(3) == [
        ({"CUDA_VISIBLE_DEVICES": "0"}, None), ({"CUDA_VISIBLE_DEVICES": "1"}, None),
        ({"CUDA_VISIBLE_DEVICES": "0"}, None)]
    assert calls == [["nvidia-smi", "-L"]] * 1

    def missing(command, **kwargs):
        raise FileNotFoundError(command[0])

    monkeypatch.setattr(local_cluster.subprocess, "run", missing)
    assert worker_devices(2)[0][0] == {"CUDA_VISIBLE_DEVICES": "-1"}


def test_free_port_can_be_bound():
    port = local_cluster.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    assert 0 < port < 65536


def test_workers_start_with_their_device_and_without_the_chiefs_role(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    script = (
        "import os, sys\n"
        "open(sys.argv[1], 'w').write(' '.join([os.environ['CUDA_VISIBLE_DEVICES'],"
        " os.environ.get('KERASTUNER_TUNER_ID', '-')] + sys.argv[2:]))\n"
    )

    def command(tuner_id, cores):
        return [sys.executable, "-c", script, str(tmp_path / tuner_id),
                tuner_id, ",".join(str(c) for c in cores)]

    with LocalCluster(2, command) as cluster:
        assert len(cluster.processes) == 2
    assert all(p.returncode == 0 for p in cluster.processes)
    shares = [c for _, c in worker_devices(2)]
    for i in range(2):
        assert (tmp_path / f"tuner{i}").read_text() == (
            f"-1 - tuner{i} {','.join(str(c) for c in shares[i])}")


class Process:
    """A worker process as the monitor sees it."""

    def __init__(self, returncode=None):
        self.returncode = returncode

    def poll(self):
        return self.returncode


class Oracle:
    """What the monitor asks of the oracle."""

    def __init__(self):
        self.released = []
        self.finished = False
        self.ongoing_trials = {}
        self.remaining = 3

    def release_tuner(self, tuner_id, reason):
        self.released.append((tuner_id, reason))

    def remaining_trials(self):
        return self.remaining


def test_the_monitor_releases_a_dead_workers_trial_once():
    cluster = LocalCluster(3, None)
    cluster.processes = [Process(), Process(-9), Process(0)]
    oracle = Oracle()
    cluster.monitor(oracle)
    cluster.monitor(oracle)
    # tuner2 ended cleanly (told to stop): nothing to release.
    assert oracle.released == [("tuner1", "exited with code -9")]


def test_workers_lost_when_all_are_gone_before_the_end():
    cluster = LocalCluster(2, None, resume_hint="keras-nachos search --out o --workers 2")
    cluster.processes = [Process(1), Process(1)]
    oracle = Oracle()
    with pytest.raises(WorkersLost) as info:
        cluster.monitor(oracle)
    assert str(info.value) == (
        "All 2 workers exited before the search ended (their output is "
        "above); resume with `keras-nachos search --out o --workers 2`.")
    assert [t for t, _ in oracle.released] == ["tuner0", "tuner1"]
    # A finished search, or one with nothing left to do, ends quietly.
    oracle.finished = True
    cluster.monitor(oracle)
    oracle.finished, oracle.remaining = False, 0
    cluster.monitor(oracle)
    oracle.ongoing_trials = {"tuner0": ["t1"]}
    with pytest.raises(WorkersLost):
        cluster.monitor(oracle)


def test_stop_ends_a_worker_that_does_not(monkeypatch):
    cluster = LocalCluster(1, lambda tuner_id, cores: [
        sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    cluster.start()
    cluster.stop(grace=0.5)
    assert cluster.processes[0].returncode is not None
    assert cluster.processes[0].returncode != 0
