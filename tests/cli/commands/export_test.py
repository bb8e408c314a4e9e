"""Tests of `keras_nachos_cli.commands.export`: a search's solution as a
.keras file, a saved EENN as LiteRT stages."""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest

import keras_nachos_cli
from keras_nachos import deploy
from keras_nachos_cli.commands import export as export_command
from tests.cli.testing_utils import main_output


def _one_line_error(capsys, argv, *fragments):
    try:
        code = keras_nachos_cli.main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    assert code == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    for fragment in fragments:
        assert fragment in error, error


@pytest.mark.slow
def test_export_a_solution_of_a_search(finished_search, copy_of, capsys):
    out = copy_of(finished_search[0])
    assert keras_nachos_cli.main(["export", out, "--solution", "0"]) == 0
    model = keras.models.load_model(os.path.join(out, "solution_0.keras"))
    assert model.num_exits >= 2
    front = json.load(open(os.path.join(out, "results.json")))["admissible_front"]
    sidecar = json.load(open(os.path.join(out, "solution_0.json")))
    assert sidecar["values"] == front[0]["values"]
    assert sidecar["thresholds"] == front[0]["thresholds"]
    assert "Wrote" in capsys.readouterr().out
    assert keras_nachos_cli.main(["export", out, "--solution", "99"]) == 2
    error = capsys.readouterr().err
    assert "argument `--solution`" in error and len(error.splitlines()) == 1


def test_the_chosen_solution_of_a_front():
    assert export_command.chosen_solution([{"a": 1}, {"a": 2}], 1, "o") == {"a": 2}
    with pytest.raises(ValueError, match=r"Expected an index in \[0, 2\)"):
        export_command.chosen_solution([{}, {}], 2, "o")
    with pytest.raises(ValueError, match="o found no admissible solution"):
        export_command.chosen_solution([], 0, "o")


def test_export_litert_int8_micro(saved_eenn, int8_export):
    out, printed = int8_export
    assert "3 int8 LiteRT stages" in printed and "peak arena" in printed
    manifest = deploy.Manifest.read(out)
    assert manifest.quantize == "int8" and manifest.thresholds == [0.9, 0.9]
    assert all(os.path.exists(os.path.join(out, f"stage_{i}.h")) for i in (1, 2, 3))


def test_export_float_with_thresholds_given(saved_eenn, tmp_path, capsys):
    _, path, splits = saved_eenn
    out = str(tmp_path / "float")
    assert keras_nachos_cli.main([
        "export", path, "--format", "litert", "--thresholds", "[0.5, 0.6]",
        "--rule", "entropy", "--output", out]) == 0
    manifest = deploy.Manifest.read(out)
    assert manifest.quantize is None and manifest.thresholds == [0.5, 0.6]
    assert manifest.rule["class_name"] == "Entropy"


def test_usage_errors_are_one_line(saved_eenn, tmp_path, capsys):
    _, path, _ = saved_eenn
    _one_line_error(capsys, ["export", path, "--format", "keras"],
                    "`--format`", "litert for a .keras SOURCE")
    _one_line_error(capsys, ["export", path, "--int8"],
                    "`--int8`", "only with --format litert")
    _one_line_error(capsys, ["export", path, "--format", "litert", "--micro"],
                    "`--micro`", "with --int8 or --qat")
    _one_line_error(capsys, ["export", path, "--format", "litert", "--int8"],
                    "`--dataset`", "Received: --dataset=None")
    _one_line_error(capsys, ["export", path, "--format", "litert", "--qat", "0"],
                    "`--qat`", "Received: --qat=0")
    _one_line_error(capsys, ["export", str(tmp_path / "x.keras"), "--format",
                             "litert"], "`SOURCE`")
    _one_line_error(capsys, ["export", str(tmp_path), "--format", "litert"],
                    "`SOURCE`", "search folder")
    _one_line_error(capsys, ["run", str(tmp_path), "--dataset", "digits"],
                    "`EXPORT_DIR`", "manifest.json")
    _one_line_error(capsys, ["run", str(tmp_path)], "--dataset")
    deploy_dir = tmp_path / "d"
    deploy_dir.mkdir()
    (deploy_dir / "manifest.json").write_text("{")
    _one_line_error(capsys, ["run", str(deploy_dir), "--dataset", "digits"],
                    "not valid JSON", "export the model again")
    # A .keras without its .json needs --thresholds.
    bare = tmp_path / "bare.keras"
    bare.write_bytes(open(path, "rb").read())
    _one_line_error(capsys, ["export", str(bare), "--format", "litert"],
                    "`--thresholds`")
    assert not np.any([p.endswith("_litert") for p in os.listdir(tmp_path)])
    code, _, err = main_output(["export", str(bare), "--format", "litert",
                                "--thresholds", '{"a": 1}'])
    assert code == 2 and "`--thresholds`" in err


def test_refused_exports_are_one_line_and_write_nothing(saved_eenn, tmp_path,
                                                        capsys, monkeypatch):
    _, path, _ = saved_eenn
    litert = ["export", path, "--format", "litert"]
    taken = tmp_path / "taken"
    taken.write_text("the user's")
    _one_line_error(capsys, [*litert, "--output", str(taken)], "`--output`",
                    "an existing file is in the way")
    _one_line_error(capsys, [*litert, "--output", str(taken / "sub")],
                    "`--output`", "is a file")
    search = tmp_path / "search"  # What `export_options` reads of a search.
    search.mkdir()
    (search / "search_config.json").write_text("{}")
    (search / "solution_0.keras").mkdir()
    _one_line_error(capsys, ["export", str(search), "--solution", "0"],
                    "`--output`", "an existing folder is in the way")
    # Missing optional packages (looked up before TensorFlow would start).
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "manifest.json").write_text("{}")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: (
        None if name in ("tflite_micro", "tf_keras") else find_spec(name, *args)))
    _one_line_error(capsys, [*litert, "--int8", "--micro", "--dataset",
                             "digits", "--output", str(tmp_path / "a")],
                    "--micro needs tflite_micro, which is not installed",
                    'pip install "keras-nachos[micro]"')
    _one_line_error(capsys, [*litert, "--qat", "1", "--dataset", "digits",
                             "--output", str(tmp_path / "b")],
                    "--qat needs tf_keras", 'pip install "keras-nachos[tfmot]"')
    _one_line_error(capsys, ["run", str(export_dir), "--dataset", "digits",
                             "--interpreter", "micro"],
                    "--interpreter micro needs tflite_micro")
    monkeypatch.undo()
    # A read-only folder (as `os.access` says for a read-only mount).
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: (
        p != str(tmp_path) and access(p, mode)))
    _one_line_error(capsys, [*litert, "--output", str(tmp_path / "c")],
                    "`--output`", f"({tmp_path} is read-only for it)")
    assert sorted(os.listdir(tmp_path)) == ["export", "search", "taken"]
    assert taken.read_text() == "the user's"
    assert sorted(os.listdir(search)) == ["search_config.json", "solution_0.keras"]


def test_non_finite_calibration_images_are_refused_before_writing(
        saved_eenn, tmp_path):
    from keras_nachos.datasets import DatasetSplits

    _, path, splits = saved_eenn
    x, y = splits.train
    x = x[:40].copy()
    x[3] = np.nan
    bad = DatasetSplits("digits", (x, y[:40]), None, splits.test,
                        splits.num_classes, splits.input_shape)
    out = tmp_path / "int8"
    with pytest.raises(ValueError, match="argument `representative_data`.*NaN"):
        export_command.export_litert(path, output=str(out), quantize="int8",
                                     splits=bad)
    assert os.listdir(tmp_path) == []
