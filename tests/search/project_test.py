"""Tests of `keras_nachos.search.project`: a search folder."""

import json
import os

import pytest

from keras_nachos.search import SearchSpace
from keras_nachos.search.project import SearchProject
from keras_nachos.search.state_files import DamagedStateError
from keras_nachos_cli import config as config_module

SPACE = SearchSpace((8, 8, 1), 10, stage_widths=((4, 8), (8,), (8, 12)),
                    depths=(1,), kernel_sizes=(3,), expansion_ratios=(2,),
                    head_types=("global_pool",)).get_config()


def test_a_config_round_trips(tmp_path):
    project = SearchProject(tmp_path / "run")
    assert not project.exists()
    config = dict(config_module.SEARCH.new(
        {"min_accuracy": 0.5, "max_macs": 1e5})[0], space=SPACE)
    project.write_config(config)
    assert project.exists()
    assert project.read_config() == config
    text = (tmp_path / "run" / "search_config.json").read_text()
    assert list(json.loads(text)) == list(config)  # the key order is kept


def test_missing_and_damaged_configs_are_named(tmp_path):
    project = SearchProject(str(tmp_path))
    with pytest.raises(ValueError, match="argument `directory`.*keras-nachos search"):
        project.read_config()
    (tmp_path / "search_config.json").write_text("[1, 2]")
    with pytest.raises(DamagedStateError, match="does not hold a search configuration"):
        project.read_config()
    (tmp_path / "search_config.json").write_text("{")
    with pytest.raises(DamagedStateError, match="search_config.json"):
        project.read_config()
    with pytest.raises(ValueError, match="argument `directory`"):
        SearchProject("")


def test_clear_removes_the_state_and_the_results(tmp_path):
    project = SearchProject(str(tmp_path))
    (tmp_path / "search" / "trial_0").mkdir(parents=True)
    for name in ("search_config.json", "results.json", "results.csv",
                 "pareto.png", "notes.txt"):
        (tmp_path / name).write_text("x")
    project.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_the_tuner_of_an_old_config_runs_plain_nsga2(tmp_path):
    # Written before `preselect` was stored: it ran with 1.
    old = {"dataset": "digits", "validation_split": 0.1, "seed": 2,
           "min_accuracy": 0.15, "max_macs": 200000.0, "population": 4,
           "generations": 1, "epochs": 1, "batch_size": 64, "space": SPACE}
    tuner = SearchProject(str(tmp_path)).tuner(old)
    oracle = tuner.oracle
    assert (oracle.population_size, oracle.generations, oracle.preselect) == (4, 1, 1)
    assert (tuner.min_accuracy, tuner.max_macs) == (0.15, 200000.0)
    assert tuner.max_flash_bytes is None and tuner.floor_confidence is None
    assert tuner.search_space.get_config() == SPACE
    assert tuner.project_dir.endswith("search")
    new = dict(old, preselect=4, max_ram_bytes=32768.0, floor_confidence=0.9)
    tuner = SearchProject(str(tmp_path / "new")).tuner(new, overwrite=True,
                                                       trial_timeout=30.0)
    assert tuner.oracle.preselect == 4 and tuner.max_ram_bytes == 32768.0
    assert tuner.floor_confidence == 0.9 and tuner.trial_timeout == 30.0


def _splits(n_validation):
    import numpy as np

    from keras_nachos.datasets import DatasetSplits

    x = np.zeros((8, 8, 8, 1), "float32")
    y = np.arange(8) % 10
    xv = np.zeros((n_validation, 8, 8, 1), "float32")
    yv = np.arange(n_validation) % 10
    return DatasetSplits("toy", (x, y), (xv, yv), (xv, yv), 10, (8, 8, 1))


def test_check_refuses_what_the_search_would_before_anything_is_written(
        tmp_path):
    import keras

    project = SearchProject(str(tmp_path / "run"))
    config = dict(config_module.SEARCH.new(
        {"min_accuracy": 0.99, "max_macs": 1e5})[0], space=SPACE)
    assert project.check(config, _splits(40)) is None
    guaranteed = dict(config, floor_confidence=0.99)
    with pytest.raises(ValueError, match="Too few validation samples for "
                       "floor_confidence=0.99 with min_accuracy=0.99"):
        project.check(guaranteed, _splits(40))
    plain = str(tmp_path / "plain.keras")
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(plain)
    with pytest.raises(ValueError, match="argument `supernet`. Expected a "
                       "saved Supernet \\(the file holds a Sequential\\)"):
        project.check(dict(config, supernet=plain), _splits(40))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.keras"]


def test_reading_a_folder_where_a_search_runs_prints_a_note(tmp_path, capsys):
    import socket

    config = dict(config_module.SEARCH.new(
        {"min_accuracy": 0.5, "max_macs": 1e5})[0], space=SPACE)
    project = SearchProject(str(tmp_path))
    project.tuner(config)
    assert "Note:" not in capsys.readouterr().out
    (tmp_path / "search.lock").write_text(json.dumps({
        "host": socket.gethostname(), "pid": os.getppid(),
        "since": "2025-01-31 12:00:00", "time": 1.0}))
    assert project.lock().path == str(tmp_path / "search.lock")
    project.tuner(config)
    assert capsys.readouterr().out.startswith(
        f"Note: a search is running in {tmp_path} (process {os.getppid()} on "
        f"host {socket.gethostname()} since 2025-01-31 12:00:00): what is "
        "read here is its state so far.")
