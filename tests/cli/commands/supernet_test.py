"""Tests of `keras-nachos supernet train` and `keras-nachos search --supernet`."""

import json
import os

import keras

import keras_nachos_cli
from keras_nachos.search import Supernet

SPACE = [
    "--dataset", "digits", "--max-samples", "400",
    "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1,2",
    "--kernel-sizes", "3", "--expansion-ratios", "2",
    "--head-types", "global_pool",
]


def test_train_a_supernet_then_search_on_it(tmp_path, capsys):
    path = str(tmp_path / "nets" / "supernet.keras")
    assert keras_nachos_cli.main(
        ["supernet", "train", *SPACE, "--epochs", "3", "--batch-size", "32",
         "--learning-rate", "0.01", "--out", path, "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    assert "Wrote" in printed and "largest subnet" in printed
    supernet = keras.models.load_model(path)
    assert isinstance(supernet, Supernet)
    sidecar = json.load(open(path[:-len(".keras")] + ".json"))
    assert sidecar["config"]["depths"] == [1, 2]
    assert sidecar["space"] == supernet.space.get_config()
    assert len(sidecar["history"]["loss"]) == 3
    # Again without --overwrite: refused in one line.
    assert keras_nachos_cli.main(
        ["supernet", "train", *SPACE, "--out", path]) == 2
    assert "--overwrite" in capsys.readouterr().err

    # The search takes the data and space arguments from the supernet.
    out = str(tmp_path / "run")
    assert keras_nachos_cli.main(
        ["search", "--supernet", path, "--min-accuracy", "0.15",
         "--max-macs", "200000", "--population", "4", "--generations", "2",
         "--seed", "5", "--epochs", "1", "--out", out, "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    assert "after fine-tuning" in printed
    config = json.load(open(os.path.join(out, "search_config.json")))
    assert config["supernet"] == os.path.abspath(path)
    assert config["data_seed"] == 0 and config["seed"] == 5
    assert config["space"]["depths"] == [1, 2]
    results = json.load(open(os.path.join(out, "results.json")))
    front = results["admissible_front"]
    assert front
    for row in front:
        assert row["finetuned"]["finetune_epochs"] == 1
        assert row["finetuned"]["test_accuracy"] is not None
        assert os.path.exists(row["finetuned_model_path"])
    # Resuming the finished search changes nothing.
    assert keras_nachos_cli.main(["search", "--out", out, "--verbose", "0"]) == 0
    capsys.readouterr()

    # Another space or split than the supernet's is refused.
    assert keras_nachos_cli.main(
        ["search", "--supernet", path, "--depths", "1", "--min-accuracy",
         "0.15", "--max-macs", "2e5", "--out", str(tmp_path / "other")]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert "--depths [1] (supernet: [1, 2])" in error
    assert not (tmp_path / "other").exists()


def test_an_unknown_head_type_is_refused_before_anything_is_written(tmp_path,
                                                                    capsys):
    out = tmp_path / "nets" / "supernet.keras"
    assert keras_nachos_cli.main(
        ["supernet", "train", "--head-types", "fancy", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "argument `--head-types`" in error
    assert len(error.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_refused_supernet_commands_write_nothing(tmp_path, capsys):
    import socket

    folder = tmp_path / "nets"
    folder.mkdir()
    path = str(folder / "supernet.keras")
    with open(path + ".lock", "w") as f:  # Being trained by another process.
        json.dump({"host": socket.gethostname(), "pid": os.getppid(),
                   "since": "2025-01-31 12:00:00", "time": 1.0}, f)
    cases = [
        (["supernet", "train", *SPACE, "--out", path],
         f"The supernet {path} is in use by process {os.getppid()}"),
        (["supernet", "train", *SPACE, "--kernel-sizes", "1,3", "--out",
          str(tmp_path / "new" / "supernet.keras")],
         "kernel sizes >= 3 when several are searched"),
    ]
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(
        str(folder / "other.keras"))
    with open(str(folder / "other.keras.lock"), "w") as f:
        json.dump({"host": socket.gethostname(), "pid": os.getppid(),
                   "since": "2025-01-31 12:00:00", "time": 1.0}, f)
    cases.append((
        ["search", "--supernet", str(folder / "other.keras"), *SPACE,
         "--min-accuracy", "0.15", "--max-macs", "2e5", "--out",
         str(tmp_path / "run")],
        f"The supernet {folder / 'other.keras'} is in use by process "))
    before = sorted(p.name for p in folder.iterdir())
    for argv, expected in cases:
        assert keras_nachos_cli.main(argv) == 2, argv
        error = capsys.readouterr().err
        assert expected in error and len(error.strip().splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nets"]
