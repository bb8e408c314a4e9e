"""Tests of `keras_nachos_cli.commands.search`: real tiny searches on
digits (new, killed and resumed, with local workers, written before the
schema)."""

import json
import os
import sys

import pytest

import keras_nachos_cli
from keras_nachos.search import SearchSpace
from keras_nachos_cli.commands import search as search_command
from tests.cli.testing_utils import TINY
from tests.cli.testing_utils import main_output


@pytest.mark.slow
def test_a_search_writes_its_results(finished_search):
    out, printed = finished_search
    assert "[trial 4/4]" in printed and "Admissible Pareto front" in printed
    for name in ("results.json", "results.csv", "pareto.png", "search_config.json"):
        assert os.path.exists(os.path.join(out, name))
    results = json.load(open(os.path.join(out, "results.json")))
    front = results["admissible_front"]
    assert front and all(r["test_accuracy"] is not None for r in front)
    config = json.load(open(os.path.join(out, "search_config.json")))
    assert config["space"]["depths"] == [1] and config["preselect"] == 4


@pytest.mark.slow
def test_a_folder_written_before_the_schema_resumes_and_reports_as_before(
    finished_search, copy_of
):
    # search_config.json as `keras-nachos search` wrote it before
    # `preselect`, the device budgets and the space's keys were stored.
    out = copy_of(finished_search[0])
    stored = json.load(open(os.path.join(out, "search_config.json")))
    old = {k: stored[k] for k in (
        "dataset", "validation_split", "max_samples", "image_size", "seed",
        "min_accuracy", "max_macs", "population", "generations", "epochs",
        "batch_size", "space")}
    with open(os.path.join(out, "search_config.json"), "w") as f:
        json.dump(old, f, indent=2)
    before = json.load(open(os.path.join(out, "results.json")))
    code, printed, err = main_output(["search", "--out", out, "--verbose", "0"])
    assert code == 0, err
    assert "Resuming the search" in printed and "Admissible Pareto front" in printed
    code, printed, err = main_output(["report", out, "--no-test"])
    assert code == 0, err
    assert "unfinished" not in printed
    after = json.load(open(os.path.join(out, "results.json")))
    assert after["config"] == old  # the stored file is never rewritten
    assert json.load(open(os.path.join(out, "search_config.json"))) == old

    def figures(results):
        return [(r["values"], r["accuracy"], r["expected_macs"], r["thresholds"])
                for r in results["admissible_front"]]

    assert figures(after) and figures(after) == figures(before)
    # The config lacks `preselect`: it means 1, so `--preselect 4` differs.
    code, _, err = main_output(["search", "--out", out, "--preselect", "4"])
    assert code == 2 and "--preselect 4 (stored: 1)" in err


@pytest.mark.slow
def test_resume_refuses_other_arguments_and_report_says_unfinished(
    tmp_path, capsys, monkeypatch
):
    from keras_nachos.search.candidate_evaluator import CandidateEvaluator

    out = str(tmp_path / "run")
    original = CandidateEvaluator.__call__
    calls = []

    def killed_at_the_second(self, values, callbacks=None):
        calls.append(values)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, values, callbacks)

    monkeypatch.setattr(CandidateEvaluator, "__call__", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        keras_nachos_cli.main(["search", "--out", out, *TINY])
    stored = json.load(open(os.path.join(out, "search_config.json")))
    assert stored["epochs"] == 1
    capsys.readouterr()

    # Before: the report of an unfinished search looked like a finished one.
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    printed = capsys.readouterr().out
    assert "is unfinished" in printed and "holds 2 trials" in printed

    # Before: a resume with other arguments silently used the stored ones.
    assert keras_nachos_cli.main(
        ["search", "--out", out, "--epochs", "3", "--max-macs", "200000"]) == 2
    err = capsys.readouterr().err
    assert "--epochs 3 (stored: 1)" in err and "--max-macs" not in err
    assert len(err.strip().splitlines()) == 1
    assert json.load(open(os.path.join(out, "search_config.json"))) == stored

    monkeypatch.setattr(CandidateEvaluator, "__call__", original)
    assert keras_nachos_cli.main(["search", "--out", out, "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    assert "Resuming the search" in printed and "Admissible Pareto front" in printed
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    assert "unfinished" not in capsys.readouterr().out

    # --overwrite starts over with the new arguments (killed at once here:
    # the new configuration is what was written).
    calls.clear()
    monkeypatch.setattr(CandidateEvaluator, "__call__", killed_at_the_second)
    calls.append(None)  # the next call is the second
    with pytest.raises(KeyboardInterrupt):
        keras_nachos_cli.main(
            ["search", "--out", out, "--overwrite", *TINY, "--epochs", "2"])
    assert json.load(open(os.path.join(out, "search_config.json")))["epochs"] == 2
    assert not os.path.exists(os.path.join(out, "results.json"))


def test_head_types_come_from_the_registry(tmp_path, monkeypatch):
    from keras_nachos.search import head_designs

    config = {"head_types": ["global_pool", "mine"]}
    with pytest.raises(ValueError) as info:
        search_command.check_registered(config)
    assert str(info.value).startswith(
        "Invalid value received for argument `--head-types`. Expected names "
        "among conv, global_pool, sdn")
    # A design registered in the library is one the command takes (the
    # registry's dict is restored after the test).
    monkeypatch.setitem(head_designs._HEAD_BUILDERS, "mine", lambda *a: None)
    search_command.check_registered(config)
    # An old configuration keeps its head types in its space only.
    search_command.check_registered({"space": {"head_types": ["sdn"]}})
    with pytest.raises(ValueError, match="`--head-types`"):
        search_command.check_registered({"space": {"head_types": ["x"]}})


def test_the_space_of_a_config(tmp_path):
    from keras_nachos.datasets import DatasetSplits
    import numpy as np

    x = np.zeros((4, 8, 8, 1), "float32")
    y = np.arange(4) % 2
    data = DatasetSplits("toy", (x, y), (x, y), (x, y), 2, (8, 8, 1))
    config = {"stage_widths": [[4, 8], [8]], "depths": [1, 2],
              "kernel_sizes": [3], "expansion_ratios": [2],
              "head_types": ["sdn"], "confidence": True,
              "threshold_mode": "genes"}
    space = search_command.space_for(data, config)
    assert space.get_config() == SearchSpace(
        (8, 8, 1), 2, stage_widths=((4, 8), (8,)), depths=(1, 2),
        kernel_sizes=(3,), expansion_ratios=(2,), head_types=("sdn",),
        confidence=True, threshold_mode="genes").get_config()


def test_a_local_worker_command_line():
    cluster = {"workers": 2, "host": "127.0.0.1", "port": 8123,
               "trial_timeout": 30.0}
    local = search_command._local_cluster("out", cluster, verbose=0)
    assert local.workers == 2
    assert local.command("tuner1", [2, 3]) == [
        sys.executable, "-m", "keras_nachos_cli", "search", "--out", "out",
        "--role", "worker", "--tuner-id", "tuner1",
        "--oracle", "127.0.0.1:8123", "--verbose", "0",
        "--trial-timeout", "30.0", "--cores", "2,3", "--threads", "2",
    ]
    assert local.command("tuner0", None)[-2:] == ["--trial-timeout", "30.0"]
    assert local.resume_hint == "keras-nachos search --out out --workers 2"
    assert search_command._where({}) == ""
    assert search_command._where(dict(cluster, role="chief")) == (
        " (chief on 127.0.0.1:8123, 2 local workers)")
    assert search_command._where(
        {"role": "worker", "tuner_id": "tuner0", "host": "h", "port": 1}
    ) == " (worker tuner0 of the chief on h:1)"


def test_a_role_becomes_keras_tuner_variables(monkeypatch):
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                "KERASTUNER_ORACLE_PORT"):
        # Set, then deleted: monkeypatch restores the environment after.
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    search_command._apply_process_options(
        {"role": "worker", "tuner_id": "tuner2", "host": "10.0.0.1",
         "port": 8000})
    assert (os.environ["KERASTUNER_TUNER_ID"], os.environ["KERASTUNER_ORACLE_IP"],
            os.environ["KERASTUNER_ORACLE_PORT"]) == ("tuner2", "10.0.0.1", "8000")


def _tree(folder):
    """`{relative path: bytes}` of every file under `folder` (None if it
    does not exist)."""
    if not os.path.exists(folder):
        return None
    tree = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                tree[os.path.relpath(path, folder)] = f.read()
    return tree


def _foreign_lock(folder):
    """The lock of a search another live process (pytest's parent) runs."""
    import socket

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "search.lock"), "w") as f:
        json.dump({"host": socket.gethostname(), "pid": os.getppid(),
                   "since": "2025-01-31 12:00:00", "time": 1.0}, f)


def test_a_refused_search_writes_nothing(tmp_path):
    import keras

    from tests.search.testing_utils import truncate

    golden = os.path.join(os.path.dirname(__file__), "..", "..", "data",
                          "golden", "finished")
    plain = str(tmp_path / "plain.keras")
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(plain)
    damaged = str(tmp_path / "damaged.keras")
    with open(plain, "rb") as f, open(damaged, "wb") as g:
        g.write(f.read()[:300])

    def locked(out):
        _foreign_lock(out)

    def held_search(out):
        os.makedirs(os.path.join(out, "search"))
        with open(os.path.join(out, "search", "oracle.json"), "w") as f:
            f.write("{}")
        with open(os.path.join(out, "search_config.json"), "w") as f:
            f.write('{"epochs": 3}')
        _foreign_lock(out)

    def golden_copy(out):
        import shutil

        shutil.copytree(golden, out)

    def damaged_oracle(out):
        golden_copy(out)
        truncate(os.path.join(out, "search", "oracle.json"))

    cases = [
        # (prepare --out, extra arguments, what the one line says)
        (None, ["--supernet", plain], "a saved Supernet (the file holds a "
         "Sequential)"),
        (None, ["--supernet", damaged], f"The model file {damaged} (a trained "
         "supernet) is damaged"),
        (None, ["--floor-confidence", "0.99", "--min-accuracy", "0.99"],
         "Too few validation samples for floor_confidence=0.99"),
        (locked, [], f"is in use by process {os.getppid()} on host"),
        (held_search, ["--overwrite"], f"is in use by process {os.getppid()}"),
        (golden_copy, [], "holds a search with other arguments"),
        (damaged_oracle, None, "oracle.json (the search's generations, cache "
         "and archive) is damaged"),
    ]
    for i, (prepare, extra, expected) in enumerate(cases):
        out = str(tmp_path / f"run{i}")
        if prepare is not None:
            prepare(out)
        before = _tree(out)
        argv = ["search", "--out", out, "--verbose", "0"]
        argv += [*TINY, *extra] if extra is not None else []
        code, printed, err = main_output(argv)
        assert code == 2 and expected in err, (expected, err, printed)
        assert len(err.strip().splitlines()) == 1
        assert _tree(out) == before, expected  # None: --out still absent.
    # The corrected command is not refused as a mismatch with a search that
    # never ran: --out does not exist.
    assert not os.path.exists(tmp_path / "run0")
