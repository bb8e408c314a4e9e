"""Tests of `keras_nachos_cli.options`: resumes, supernets, distributed
roles, all refused in one line before anything is written."""

import json
import os

import pytest

import keras_nachos_cli
from keras_nachos_cli import options
from keras_nachos_cli import parser
from tests.cli.config_test import OLD_CONFIG
from tests.cli.testing_utils import main_output


def test_a_new_search_needs_both_constraints(tmp_path, capsys):
    assert keras_nachos_cli.main(
        ["search", "--out", str(tmp_path / "run"), "--max-macs", "1e5"]) == 2
    assert "--min-accuracy is required for a new search" in capsys.readouterr().err
    code, _, err = main_output(["search", "--out", str(tmp_path / "run")])
    assert code == 2 and "--min-accuracy and --max-macs are required" in err


def test_a_damaged_state_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "search").mkdir(parents=True)
    (out / "search_config.json").write_text('{"dataset": "digits", "see')
    assert keras_nachos_cli.main(["search", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "search_config.json is damaged" in err
    assert len(err.strip().splitlines()) == 1


def test_a_project_without_its_config_is_not_started_over(tmp_path):
    (tmp_path / "search").mkdir()
    code, _, err = main_output(["search", "--out", str(tmp_path),
                                "--min-accuracy", "0.5", "--max-macs", "1e5"])
    assert code == 2 and "but no search_config.json" in err


def test_a_resume_compares_the_given_arguments_with_an_old_config(tmp_path):
    # A search_config.json written before `preselect` was stored.
    (tmp_path / "search_config.json").write_text(json.dumps(OLD_CONFIG))
    config, resumed = options.resolve_search_config(
        str(tmp_path), {"preselect": 1, "depths": [1], "epochs": 4}, False)
    assert resumed and config == OLD_CONFIG
    with pytest.raises(options.UsageError) as info:
        options.resolve_search_config(
            str(tmp_path), {"preselect": 4, "epochs": 4}, False)
    assert str(info.value) == (
        f"{tmp_path} holds a search with other arguments: --preselect 4 "
        "(stored: 1). Resume it with the stored arguments (leave them out), "
        "choose another --out, or pass --overwrite to start over."
    )
    config, resumed = options.resolve_search_config(
        str(tmp_path), {"preselect": 4, "min_accuracy": 0.5,
                        "max_macs": 1e5}, True)
    assert not resumed and config["preselect"] == 4


def test_device_budget_flags(tmp_path):
    out = str(tmp_path / "s")
    command, plan = keras_nachos_cli.parse(
        ["search", "--out", out, "--min-accuracy", "0.5", "--max-macs", "1e5",
         "--max-ram-bytes", "32768"])
    assert plan["config"]["max_ram_bytes"] == 32768.0
    assert plan["config"]["max_flash_bytes"] is None
    assert plan["config"]["floor_confidence"] is None
    _, plan = keras_nachos_cli.parse(
        ["search", "--out", out, "--min-accuracy", "0.5", "--max-macs", "1e5",
         "--floor-confidence", "0.9"])
    assert plan["config"]["floor_confidence"] == 0.9
    with pytest.raises(keras_nachos_cli.UsageError,
                       match="argument `--max-flash-bytes`.*Received: --max-flash-bytes=-1"):
        keras_nachos_cli.parse(
            ["search", "--out", out, "--min-accuracy", "0.5", "--max-macs",
             "1e5", "--max-flash-bytes", "-1"])
    assert not os.path.exists(out)


@pytest.mark.parametrize(
    "argv, argument",
    [
        (["--workers", "0"], "--workers"),
        (["--workers", "2", "--role", "chief", "--oracle", "h:1"], "--workers"),
        (["--role", "worker", "--tuner-id", "tuner0"], "--oracle"),
        (["--role", "worker", "--oracle", "localhost"], "--oracle"),
        (["--role", "worker", "--oracle", "h:70000", "--tuner-id", "t0"], "--oracle"),
        (["--role", "worker", "--oracle", "h:8000"], "--tuner-id"),
        (["--role", "worker", "--oracle", "h:8000", "--tuner-id", "chief1"], "--tuner-id"),
        (["--role", "chief", "--oracle", "h:8000", "--tuner-id", "boss"], "--tuner-id"),
        (["--role", "worker", "--oracle", "h:8000", "--tuner-id", "tuner0",
          "--overwrite"], "--overwrite"),
        (["--oracle", "h:8000"], "--role"),
        (["--trial-timeout", "0"], "--trial-timeout"),
        (["--threads", "0"], "--threads"),
        (["--cores", "4096"], "--cores"),
    ],
)
def test_bad_distributed_arguments_are_one_line(tmp_path, capsys, monkeypatch,
                                                argv, argument):
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "run"
    command = ["search", "--out", str(out), "--min-accuracy", "0.5",
               "--max-macs", "1e5"] + argv
    assert keras_nachos_cli.main(command) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"argument `{argument}`" in err, err
    assert not out.exists()


def test_keras_tuner_variables_give_the_role(monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner3")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "10.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    args = parser.build_parser().parse_args(
        ["search", "--out", "x", "--trial-timeout", "30"])
    cluster = options.cluster_options(args)
    assert (cluster["role"], cluster["tuner_id"], cluster["host"], cluster["port"],
            cluster["trial_timeout"]) == ("worker", "tuner3", "10.0.0.1", 8000, 30.0)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    cluster = options.cluster_options(args)
    assert (cluster["role"], cluster["tuner_id"]) == ("chief", "chief")


def test_supernet_arguments_are_one_line(tmp_path, capsys):
    cases = [
        (["search", "--supernet", str(tmp_path / "none.keras"),
          "--min-accuracy", "0.5", "--max-macs", "1e5",
          "--out", str(tmp_path / "a")], "argument `--supernet`"),
        (["search", "--finetune-epochs", "2", "--min-accuracy", "0.5",
          "--max-macs", "1e5", "--out", str(tmp_path / "b")],
         "argument `--finetune-epochs`"),
        (["supernet", "train", "--out", str(tmp_path / "net.h5")],
         "argument `--out`"),
        (["supernet", "train", "--out", str(tmp_path / "n.keras"),
          "--num-random", "-1"], "argument `--num-random`"),
        (["supernet", "train", "--out", str(tmp_path / "n.keras"),
          "--learning-rate", "0"], "argument `--learning-rate`"),
    ]
    for argv, expected in cases:
        assert keras_nachos_cli.main(argv) == 2, argv
        error = capsys.readouterr().err
        assert expected in error and len(error.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def _supernet_file(tmp_path, sidecar):
    path = tmp_path / "net.keras"
    path.write_text("x")
    if sidecar is not None:
        (tmp_path / "net.json").write_text(sidecar)
    return str(path)


def test_a_supernet_fills_in_its_data_and_space(tmp_path):
    trained = {"dataset": "digits", "seed": 3, "depths": [1, 2],
               "max_samples": 400}
    path = _supernet_file(tmp_path, json.dumps({"config": trained}))
    given = options.with_supernet_settings(
        {"supernet": path, "seed": 5, "depths": [1, 2], "min_accuracy": 0.5})
    assert given == {"supernet": os.path.abspath(path), "seed": 5,
                     "depths": [1, 2], "min_accuracy": 0.5,
                     "dataset": "digits", "max_samples": 400, "data_seed": 3}
    with pytest.raises(options.UsageError,
                       match=r"--depths \[1\] \(supernet: \[1, 2\]\)"):
        options.with_supernet_settings({"supernet": path, "depths": [1]})
    # Without its .json, the arguments are the given ones.
    (tmp_path / "bare").mkdir()
    bare = _supernet_file(tmp_path / "bare", None)
    assert options.with_supernet_settings({"supernet": bare}) == {
        "supernet": os.path.abspath(bare)}


def test_a_damaged_supernet_sidecar_is_named(tmp_path):
    path = _supernet_file(tmp_path, "{")
    with pytest.raises(options.UsageError, match="net.json is damaged"):
        options.supernet_sidecar(path)
    assert options.supernet_sidecar(str(tmp_path / "other.keras")) is None


def test_a_supernet_that_exists_needs_overwrite(tmp_path):
    path = _supernet_file(tmp_path, None)
    code, _, err = main_output(["supernet", "train", "--out", path])
    assert code == 2 and "--overwrite" in err
    _, plan = parser.parse(["supernet", "train", "--out", path, "--overwrite"])
    assert plan["out"] == path


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["demo", "--seed", "-1"], "Received: --seed=-1"),
        (["demo", "--solution", "-1"], "Received: --solution=-1"),
        (["report", "nothing"], "argument `dir`"),
        (["export", ".", "--format", "litert"], "argument `--solution`"),
        (["run", ".", "--dataset", "digits"], "argument `EXPORT_DIR`"),
    ],
)
def test_other_commands_refuse_in_one_line(tmp_path, monkeypatch, argv,
                                           fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "search_config.json").write_text("{}")
    code, _, err = main_output(argv)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_an_out_that_cannot_be_a_writable_folder_is_refused_at_once(
        tmp_path, monkeypatch):
    (tmp_path / "file.txt").write_text("a file")
    new = ["--min-accuracy", "0.5", "--max-macs", "1e5"]
    cases = [
        (["search", "--out", str(tmp_path / "file.txt"), *new],
         f"Expected a folder ({tmp_path / 'file.txt'} is a file). Received: "
         f"--out={tmp_path / 'file.txt'}"),
        (["search", "--out", str(tmp_path / "file.txt" / "run"), *new],
         f"Expected a folder ({tmp_path / 'file.txt'} is a file)"),
        (["supernet", "train", "--out", str(tmp_path / "file.txt" / "n.keras")],
         f"Expected a folder ({tmp_path / 'file.txt'} is a file)"),
        (["supernet", "train", "--out", str(tmp_path)],
         "Expected a file name ending in .keras"),
    ]
    for argv, expected in cases:
        code, _, err = main_output(argv)
        assert code == 2 and expected in err, (argv, err)
        assert err.startswith("keras-nachos: error: Invalid value received for "
                              "argument `--out`.")
    # A read-only folder (what `os.access` says: root may write anywhere
    # but on a read-only file system).
    monkeypatch.setattr(options.os, "access", lambda path, mode: False)
    with pytest.raises(options.UsageError,
                       match=f"Expected a folder this process can write "
                       f"\\({tmp_path} is read-only here\\)"):
        options.check_out_folder(str(tmp_path / "new" / "run"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_a_stored_config_that_is_not_an_object_is_named(tmp_path):
    (tmp_path / "search_config.json").write_text("[1, 2]")
    code, _, err = main_output(["search", "--out", str(tmp_path)])
    assert code == 2 and err.strip() == (
        f"keras-nachos: error: {tmp_path / 'search_config.json'} is damaged "
        "(it holds a list, not a JSON object): restore it, or start over "
        "with --overwrite.")
    sidecar = _supernet_file(tmp_path, '{"config": [1]}')
    with pytest.raises(options.UsageError, match="net.json is damaged"):
        options.supernet_sidecar(sidecar)
