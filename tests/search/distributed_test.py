"""A distributed NachosSearch on loopback: a chief and workers, each a real
process (`tests/search/distributed_run.py`), against the same search in one
process recorded before the search package was reorganised.

Slow: each process starts TensorFlow, and the tiny search trains 8
candidates.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.search.golden_test import assert_same

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = [sys.executable, "-m", "tests.search.distributed_run"]
GOLDEN = os.path.join(ROOT, "tests", "data", "golden")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Processes of one search, each ended by its pid when the test ends."""

    def __init__(self, tmp_path, port=None):
        self.tmp_path = tmp_path
        self.port = port or free_port()
        self.processes = {}

    def start(self, name, tuner_id, directory, *args):
        env = dict(os.environ)
        env.pop("KERASTUNER_TUNER_ID", None)
        if tuner_id is not None:
            env.update(KERASTUNER_TUNER_ID=tuner_id,
                       KERASTUNER_ORACLE_IP="127.0.0.1",
                       KERASTUNER_ORACLE_PORT=str(self.port))
        log = open(self.tmp_path / f"{name}.log", "w")
        process = subprocess.Popen(
            RUN + [str(directory)] + list(args), cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes[name] = process
        return process

    def wait(self, name, timeout=240):
        try:
            return self.processes[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} did not end in {timeout} s:\n{self.log(name)}")

    def kill(self, name):
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log(self, name):
        return (self.tmp_path / f"{name}.log").read_text()[-3000:]

    def close(self):
        for name in list(self.processes):
            self.kill(name)


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def single():
    """The same search in one process, as the code before the search package
    was reorganised gave it (`python -m tests.search.distributed_run DIR
    --result FILE` on db81455; see tests/search/golden_test.py)."""
    return read_result(os.path.join(GOLDEN, "distributed_run.json"))


def read_result(path):
    with open(path) as f:
        result = json.load(f)
    for solution in result["front"]:
        solution.pop("tuner_id")  # The one thing that may differ.
    return result


def wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def assert_same_search(result, single):
    # Trained figures to 1e-6: another CPU may round the training otherwise.
    assert_same(result, single)


@pytest.mark.slow
def test_chief_and_two_workers_without_a_shared_folder_match_one_process(
        cluster, tmp_path, single):
    chief_dir = tmp_path / "chief"
    cluster.start("chief", "chief", chief_dir, "--result", str(tmp_path / "result.json"))
    # Each worker in its own folder: nothing reaches the chief but gRPC.
    cluster.start("tuner0", "tuner0", tmp_path / "worker0")
    cluster.start("tuner1", "tuner1", tmp_path / "worker1")
    for name in ("chief", "tuner0", "tuner1"):
        assert cluster.wait(name) == 0, cluster.log(name)
    result = read_result(tmp_path / "result.json")
    assert_same_search(result, single)
    # The details travelled in the metrics: the chief has no candidate files.
    assert not list(chief_dir.glob("search/trial_*/candidate.json"))
    for solution in result["front"]:
        assert len(solution["thresholds"]) == len(solution["static_macs"]) - 1
        assert len(solution["exit_accuracies"]) == len(solution["exit_fractions"])
    # Both workers trained (one line per trial each).
    lines = [cluster.log(n).count("] trial ") for n in ("tuner0", "tuner1")]
    assert min(lines) >= 1 and sum(lines) == 8
    # Only the chief wrote the search's state.
    assert not (tmp_path / "worker0" / "search" / "oracle.json").exists()
    assert (chief_dir / "search" / "oracle.json").exists()


@pytest.mark.slow
def test_a_worker_killed_mid_trial_loses_nothing(cluster, tmp_path, single):
    folder = tmp_path / "shared"
    timeout = ["--trial-timeout", "3"]
    cluster.start("chief", "chief", folder, "--result", str(tmp_path / "result.json"),
                  *timeout)
    cluster.start("victim", "tuner1", folder, "--slow-trial", "600", *timeout)
    marker = folder / "running_tuner1"
    wait_for(marker.exists, 120, "the victim to start a trial")
    cluster.start("tuner0", "tuner0", folder, *timeout)
    time.sleep(1.0)
    cluster.kill("victim")
    for name in ("chief", "tuner0"):
        assert cluster.wait(name) == 0, cluster.log(name)
    assert_same_search(read_result(tmp_path / "result.json"), single)
    taken = marker.read_text()
    assert f"Trial {taken}: its worker tuner1 was silent" in cluster.log("chief")


@pytest.mark.slow
def test_a_chief_killed_and_restarted_resumes(cluster, tmp_path, single):
    folder = tmp_path / "shared"
    result = str(tmp_path / "result.json")
    cluster.start("chief", "chief", folder, "--result", result)
    cluster.start("tuner0", "tuner0", folder)
    cluster.start("tuner1", "tuner1", folder)

    def trained(n):
        return lambda: cluster.log("chief").count("[trial ") >= n

    wait_for(trained(3), 200, "three trials")
    cluster.kill("chief")
    time.sleep(2.0)
    cluster.start("chief_again", "chief", folder, "--result", result)
    for name in ("chief_again", "tuner0", "tuner1"):
        assert cluster.wait(name) == 0, cluster.log(name)
    assert_same_search(read_result(tmp_path / "result.json"), single)


def test_overwrite_on_a_worker_is_refused(tmp_path, monkeypatch):
    from keras_nachos.search import NachosSearch
    from tests.search.nachos_search_test import tiny_space

    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "keep").write_text("the chief's")
    with pytest.raises(ValueError, match="overwrite.*distributed worker.*Received: overwrite=True"):
        NachosSearch(tiny_space(), 0.3, 4e5, population_size=4, generations=1,
                     directory=str(tmp_path), project_name="search", overwrite=True)
    assert (tmp_path / "search" / "keep").exists()
