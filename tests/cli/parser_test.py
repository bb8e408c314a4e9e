"""Tests of `keras_nachos_cli.parser`: the flags, and the plan `parse`
returns (the configurations below are what `keras_nachos_cli.py` stored
before the schema, key order included)."""

import json
import os

import pytest

from keras_nachos_cli import parser
from tests.cli.testing_utils import main_output

NO_CLUSTER = {"workers": None, "role": None, "tuner_id": None, "host": None,
              "port": None, "trial_timeout": None, "threads": None,
              "cores": None}


def _assert_same(config, expected):
    assert config == expected
    assert list(config) == list(expected)  # search_config.json's key order


def test_every_search_flag_into_a_new_config(tmp_path, monkeypatch):
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(key, raising=False)  # they would give a role
    out = str(tmp_path / "b")
    command, options = parser.parse([
        "search", "--out", out, "--max-macs", "2e5", "--dataset", "digits",
        "--max-samples", "400", "--min-accuracy", "0.15", "--population", "4",
        "--generations", "1", "--epochs", "4", "--batch-size", "64",
        "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
        "--kernel-sizes", "3", "--expansion-ratios", "2",
        "--head-types", "global_pool", "--image-size", "16,16",
        "--confidence", "--threshold-mode", "genes",
        "--max-flash-bytes", "5e4", "--max-ram-bytes", "3e4",
        "--floor-confidence", "0.9", "--preselect", "2",
        "--validation-split", "0.2", "--seed", "7"])
    assert command == "search"
    _assert_same(options.pop("config"), {
        "dataset": "digits", "data_dir": None, "validation_split": 0.2,
        "max_samples": 400, "image_size": [16, 16], "seed": 7,
        "population": 4, "generations": 1, "preselect": 2, "epochs": 4,
        "batch_size": 64, "stage_widths": [[4, 8], [8], [8, 12]],
        "depths": [1], "kernel_sizes": [3], "expansion_ratios": [2],
        "head_types": ["global_pool"], "confidence": True,
        "threshold_mode": "genes", "max_flash_bytes": 50000.0,
        "max_ram_bytes": 30000.0, "supernet": None, "finetune_epochs": None,
        "floor_confidence": 0.9, "min_accuracy": 0.15, "max_macs": 200000.0,
    })
    assert options == {"out": out, "resumed": False, "overwrite": False,
                       "verbose": 1, "cluster": NO_CLUSTER}


def test_a_search_on_a_supernet_takes_its_data_and_space(tmp_path):
    nets = tmp_path / "nets"
    nets.mkdir()
    (nets / "sn.keras").write_text("x")
    (nets / "sn.json").write_text(json.dumps({"config": {
        "dataset": "digits", "data_dir": None, "validation_split": 0.1,
        "max_samples": 400, "image_size": None, "seed": 3,
        "stage_widths": [[4, 8], [8], [8, 12]], "depths": [1, 2],
        "kernel_sizes": [3], "expansion_ratios": [2],
        "head_types": ["global_pool"], "confidence": False,
        "threshold_mode": "calibrated", "epochs": 3, "batch_size": 32,
        "learning_rate": 0.01, "num_random": 2}}))
    out = str(tmp_path / "c")
    _, options = parser.parse([
        "search", "--supernet", str(nets / "sn.keras"), "--min-accuracy",
        "0.15", "--max-macs", "200000", "--population", "4", "--generations",
        "2", "--seed", "5", "--epochs", "1", "--finetune-epochs", "2",
        "--out", out, "--verbose", "0"])
    _assert_same(options["config"], {
        "dataset": "digits", "data_dir": None, "validation_split": 0.1,
        "max_samples": 400, "image_size": None, "seed": 5, "population": 4,
        "generations": 2, "preselect": 4, "epochs": 1, "batch_size": 128,
        "stage_widths": [[4, 8], [8], [8, 12]], "depths": [1, 2],
        "kernel_sizes": [3], "expansion_ratios": [2],
        "head_types": ["global_pool"], "confidence": False,
        "threshold_mode": "calibrated", "max_flash_bytes": None,
        "max_ram_bytes": None, "supernet": str(nets / "sn.keras"),
        "finetune_epochs": 2, "floor_confidence": None, "min_accuracy": 0.15,
        "max_macs": 200000.0, "data_seed": 3,
    })
    assert options["verbose"] == 0 and not options["resumed"]


def test_supernet_train_config(tmp_path):
    out = str(tmp_path / "s.keras")
    command, options = parser.parse([
        "supernet", "train", "--dataset", "digits", "--max-samples", "400",
        "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1,2",
        "--kernel-sizes", "3", "--expansion-ratios", "2", "--head-types",
        "global_pool", "--epochs", "3", "--batch-size", "32",
        "--learning-rate", "0.01", "--out", out, "--verbose", "0"])
    assert command == "supernet_train"
    _assert_same(options.pop("config"), {
        "dataset": "digits", "data_dir": None, "validation_split": 0.1,
        "max_samples": 400, "image_size": None, "seed": 0,
        "stage_widths": [[4, 8], [8], [8, 12]], "depths": [1, 2],
        "kernel_sizes": [3], "expansion_ratios": [2],
        "head_types": ["global_pool"], "confidence": False,
        "threshold_mode": "calibrated", "epochs": 3, "batch_size": 32,
        "learning_rate": 0.01, "num_random": 2,
    })
    assert options == {"out": out, "verbose": 0}
    _, options = parser.parse(["supernet", "train", "--out", out])
    _assert_same(options["config"], {
        "dataset": "fashion_mnist", "data_dir": None, "validation_split": 0.1,
        "max_samples": None, "image_size": None, "seed": 0,
        "stage_widths": [[16, 24], [24, 32, 40], [40, 48, 64]],
        "depths": [1, 2, 3], "kernel_sizes": [3, 5, 7],
        "expansion_ratios": [3, 4, 6],
        "head_types": ["global_pool", "sdn", "conv"], "confidence": False,
        "threshold_mode": "calibrated", "epochs": 20, "batch_size": 64,
        "learning_rate": 0.003, "num_random": 2,
    })


def test_demo_runs_its_preset(tmp_path):
    out = str(tmp_path / "d")
    command, options = parser.parse(["demo", "--out", out, "--seed", "2"])
    assert command == "demo"
    _assert_same(options.pop("config"), {
        "dataset": "digits", "data_dir": None, "validation_split": 0.1,
        "max_samples": None, "image_size": [16, 16], "seed": 2,
        "population": 8, "generations": 2, "preselect": 4, "epochs": 8,
        "batch_size": 64, "stage_widths": [[8, 12], [12, 16], [16, 24]],
        "depths": [1, 2], "kernel_sizes": [3, 5, 7],
        "expansion_ratios": [2, 3, 4],
        "head_types": ["global_pool", "sdn", "conv"], "confidence": False,
        "threshold_mode": "calibrated", "max_flash_bytes": None,
        "max_ram_bytes": None, "supernet": None, "finetune_epochs": None,
        "floor_confidence": None, "min_accuracy": 0.9, "max_macs": 250000.0,
    })
    assert options == {"out": out, "resumed": False, "overwrite": False,
                       "solution": 0}
    _, options = parser.parse(["demo", "--dataset", "fashion_mnist",
                               "--out", out])
    assert options["config"]["max_samples"] == 20000


def test_local_workers_options(tmp_path, monkeypatch):
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(key, raising=False)
    _, options = parser.parse([
        "search", "--out", str(tmp_path / "e"), "--min-accuracy", "0.5",
        "--max-macs", "1e5", "--workers", "2", "--trial-timeout", "30"])
    assert options["cluster"] == dict(NO_CLUSTER, workers=2, trial_timeout=30.0)


def test_report_export_and_run_plans(tmp_path):
    (tmp_path / "search_config.json").write_text("{}")
    assert parser.parse(["report", str(tmp_path), "--no-test"]) == (
        "report", {"out": str(tmp_path), "test": False})
    assert parser.parse(["export", str(tmp_path), "--solution", "1"]) == (
        "export", {"out": str(tmp_path), "solution": 1, "output": None})
    command, options = parser.parse(
        ["export", str(tmp_path), "--solution", "0", "--format", "litert",
         "--int8"])
    assert command == "export_litert"
    assert options["quantize"] == "int8" and options["data"] is None
    (tmp_path / "manifest.json").write_text("{}")
    assert parser.parse(["run", str(tmp_path), "--dataset", "digits"]) == (
        "run", {"directory": str(tmp_path), "interpreter": "litert",
                "batch_size": 1, "limit": None,
                "data": {"dataset": "digits", "data_dir": None,
                         "max_samples": None, "seed": 0}})


def test_help_states_the_schema_defaults(capsys):
    with pytest.raises(SystemExit):
        parser.parse(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fragment in ("--population POPULATION default 8",
                     "--generations GENERATIONS default 3", "(default 4)",
                     "--batch-size BATCH_SIZE default 128",
                     "registered head designs (default global_pool,sdn,conv)"):
        assert fragment in text, fragment
    with pytest.raises(SystemExit):
        parser.parse(["supernet", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fragment in ("--epochs EPOCHS default 20", "Adam's, default 0.003",
                     "--batch-size BATCH_SIZE default 64", "(default 2)"):
        assert fragment in text, fragment


def test_argparse_errors_are_one_line(tmp_path):
    code, _, err = main_output(["search", "--out", str(tmp_path), "--depths", "x"])
    assert code == 2 and "argument --depths" in err
    assert len(err.strip().splitlines()) == 1 and err.endswith("(see --help)\n")
    code, _, err = main_output(["search", "--out", str(tmp_path),
                                "--threshold-mode", "fixed"])
    assert code == 2 and "argument --threshold-mode" in err
    code, _, err = main_output(["nothing"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("argv", [["--help"], ["search", "--help"],
                                  ["supernet", "train", "--help"]])
def test_help_exits_zero(argv, capsys):
    with pytest.raises(SystemExit) as info:
        parser.parse(argv)
    assert info.value.code == 0
    assert "usage: keras-nachos" in capsys.readouterr().out
