"""Tests of `keras_nachos.search.folder_lock`: one search per folder, against
a real second process holding the lock (the module loaded from its file:
standard library only, so the process starts without TensorFlow)."""

import json
import os
import socket
import subprocess
import sys
import types

import pytest

from keras_nachos.search import SearchCallback
from keras_nachos.search import folder_lock
from keras_nachos.search.folder_lock import FolderInUseError
from tests.search.testing_utils import formula_search

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "keras_nachos", "search", "folder_lock.py")

# `python -c HOLDER MODULE DIRECTORY HOW`: takes DIRECTORY's search lock,
# prints "held", then ends as HOW says: "wait" (until stdin closes, then
# the `with` block releases it), "exit" (acquired without `with`: only
# `atexit` releases it) or "raise" (an uncaught exception).
HOLDER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("folder_lock", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
lock = module.search_lock(sys.argv[2], "search")
how = sys.argv[3]
if how == "wait":
    with lock:
        print("held", flush=True)
        sys.stdin.read()
else:
    lock.acquire()
    print("held", flush=True)
    if how == "raise":
        raise RuntimeError("the holder's own error")
"""


def start_holder(directory, how="wait"):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, MODULE, str(directory), how],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held", process.stderr.read()
    return process


def write_lock(directory, **holder):
    """A lock file as another process would have written it."""
    path = os.path.join(str(directory), "search.lock")
    with open(path, "w") as f:
        json.dump(dict({"host": socket.gethostname(), "since": "2025-01-31 "
                        "12:00:00", "time": 1.0}, **holder), f)
    return path


def test_a_second_process_is_refused_with_the_holder_named(tmp_path):
    path = str(tmp_path / "search.lock")
    holder = start_holder(tmp_path)
    lock = folder_lock.search_lock(str(tmp_path), "search")
    try:
        stored = json.load(open(path))
        assert stored["pid"] == holder.pid
        assert stored["host"] == socket.gethostname()
        with pytest.raises(FolderInUseError) as info:
            lock.acquire()
        message = str(info.value)
        assert message.startswith(
            f"The search folder {tmp_path} is in use by process {holder.pid} "
            f"on host {socket.gethostname()} since {stored['since']} (")
        assert f"(lock file {path})" in message
        assert f"stop it (kill {holder.pid})" in message
        with pytest.raises(FolderInUseError, match=f"process {holder.pid}"):
            lock.check()
        assert lock.running_holder().startswith(f"process {holder.pid} on host")
        assert json.load(open(path)) == stored  # The refusal wrote nothing.
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    assert not os.path.exists(path)  # Released when its `with` ended.
    assert lock.running_holder() is None
    with lock:
        assert json.load(open(path))["pid"] == os.getpid()
    assert not os.path.exists(path)
    assert os.listdir(tmp_path) == []


def test_a_killed_holders_lock_is_taken_over_with_a_message(tmp_path, capsys):
    path = str(tmp_path / "search.lock")
    holder = start_holder(tmp_path)
    holder.kill()
    holder.wait(timeout=30)
    assert json.load(open(path))["pid"] == holder.pid  # Nobody released it.
    lock = folder_lock.search_lock(str(tmp_path), "search")
    assert lock.running_holder() is None
    lock.check()  # A stale lock does not refuse.
    with lock:
        printed = capsys.readouterr().out
        assert printed.startswith(
            f"Taking over the lock {path}: its holder, process {holder.pid} "
            f"on host {socket.gethostname()} since ")
        assert printed.strip().endswith("is gone (killed?).")
        assert json.load(open(path))["pid"] == os.getpid()
    assert not os.path.exists(path)


@pytest.mark.parametrize("how", ["exit", "raise"])
def test_the_lock_goes_with_its_process(tmp_path, how):
    holder = start_holder(tmp_path, how)
    assert holder.wait(timeout=30) == (0 if how == "exit" else 1)
    assert "the holder's own error" in holder.stderr.read() or how == "exit"
    assert os.listdir(tmp_path) == []


def test_a_lock_from_another_host_or_damaged_is_refused_with_the_remedy(tmp_path):
    path = write_lock(tmp_path, host="elsewhere.example", pid=4242)
    before = open(path).read()
    lock = folder_lock.search_lock(str(tmp_path), "search")
    with pytest.raises(FolderInUseError) as info:
        lock.acquire()
    assert str(info.value) == (
        f"The search folder {tmp_path} is in use by process 4242 on host "
        f"elsewhere.example since 2025-01-31 12:00:00 (lock file {path}). Its "
        f"process cannot be checked from {socket.gethostname()}: if it has "
        f"ended, delete {path} and run the command again.")
    assert open(path).read() == before
    assert lock.running_holder().startswith("process 4242 on host elsewhere")
    with open(path, "w") as f:
        f.write('{"host": "a", "pi')
    with pytest.raises(FolderInUseError,
                       match=f"damaged lock file {path}. If no process is "
                       f"using it, delete {path}"):
        lock.acquire()


def test_a_live_holder_refuses_and_a_reused_process_id_does_not(tmp_path):
    # The parent process (pytest's) is alive on this host.
    write_lock(tmp_path, pid=os.getppid())
    lock = folder_lock.search_lock(str(tmp_path), "search")
    with pytest.raises(FolderInUseError, match=f"process {os.getppid()} "):
        lock.acquire()
    # The same process id, started at another time: another process now.
    write_lock(tmp_path, pid=os.getppid(), process_start=-1)
    with lock:
        assert json.load(open(tmp_path / "search.lock"))["pid"] == os.getpid()


def test_reentrant_and_a_refusal_leaves_no_folder(tmp_path, monkeypatch):
    folder = tmp_path / "a" / "b"
    lock = folder_lock.search_lock(str(folder), "search")
    with lock:
        with folder_lock.search_lock(str(folder), "search"):  # Again: fine.
            assert (folder / "search.lock").exists()
        assert (folder / "search.lock").exists()  # Still held once.
        (folder / "kept").write_text("a search's file")
    assert os.listdir(folder) == ["kept"]
    with pytest.raises(KeyError), lock:
        raise KeyError("released on an error too")
    assert os.listdir(folder) == ["kept"]
    # Not taken (here: a full disk): the folders made for it go again.
    def no_space(self, holder):
        raise OSError(28, "No space left on device", self.path)

    monkeypatch.setattr(folder_lock.FolderLock, "_create", no_space)
    with pytest.raises(OSError, match="No space left"):
        folder_lock.search_lock(str(folder / "c" / "d"), "search").acquire()
    assert os.listdir(folder) == ["kept"]


def test_a_search_holds_its_folder_and_overwrite_is_refused_meanwhile(tmp_path):
    path = tmp_path / "search.lock"
    seen = []

    class Spy(SearchCallback):
        def on_trial_begin(self, tuner, trial):
            seen.append(json.load(open(path))["pid"])

    tuner = formula_search(tmp_path, generations=1)
    tuner.search(trial_callbacks=[Spy()])
    assert seen and set(seen) == {os.getpid()}
    assert not path.exists()
    trials = sorted(p.name for p in (tmp_path / "search").iterdir())

    write_lock(tmp_path, pid=os.getppid())  # Another search runs here.
    with pytest.raises(FolderInUseError, match=f"process {os.getppid()}"):
        formula_search(tmp_path, overwrite=True, generations=1)
    assert sorted(p.name for p in (tmp_path / "search").iterdir()) == trials

    other = tmp_path / "other"
    tuner = formula_search(other, generations=1)
    write_lock(other, pid=os.getppid())
    with pytest.raises(FolderInUseError, match=f"process {os.getppid()}"):
        tuner.search()
    assert tuner.evaluation.evaluator.calls == []  # Refused before any trial.
    assert not (other / "search" / "oracle.json").exists()


def test_a_distributed_worker_takes_no_lock(tmp_path):
    worker = types.SimpleNamespace(role="worker", directory=str(tmp_path),
                                   project_name="search")
    write_lock(tmp_path, pid=os.getppid())  # Its chief's.
    with folder_lock.tuner_lock(worker):
        pass
    chief = types.SimpleNamespace(**dict(vars(worker), role="chief"))
    with pytest.raises(FolderInUseError):
        with folder_lock.tuner_lock(chief):
            pass
    assert folder_lock.overwrite_lock(
        {"overwrite": True, "directory": str(tmp_path)}, "worker"
    ).__class__ is not folder_lock.FolderLock
    assert folder_lock.overwrite_lock(
        {"overwrite": True, "directory": str(tmp_path), "project_name": "p"},
        None).path == os.path.join(str(tmp_path), "p.lock")


def test_the_lock_of_a_supernet_file(tmp_path):
    lock = folder_lock.file_lock(str(tmp_path / "net.keras"), "The supernet x")
    assert lock.path == str(tmp_path / "net.keras.lock")
    with lock:
        assert (tmp_path / "net.keras.lock").exists()
