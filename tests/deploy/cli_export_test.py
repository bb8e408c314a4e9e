"""`keras-nachos export --format litert` and `keras-nachos run`."""

import json
import os

import numpy as np
import pytest

import keras_nachos_cli
from keras_nachos import EarlyExitModel
from keras_nachos import datasets
from keras_nachos import deploy
from tests.testing_utils import small_cnn


@pytest.fixture(scope="module")
def saved_eenn(tmp_path_factory):
    """A small EENN trained on digits (16x16), saved as .keras with the
    .json `keras-nachos export` writes beside it."""
    splits = datasets.load("digits", image_size=(16, 16), seed=0)
    model = EarlyExitModel.from_backbone(
        small_cnn(num_classes=10, seed=1), ["p1", "p2"], 10)
    model.compile("adam", metrics=["accuracy"])
    model.fit(*splits.train, epochs=4, batch_size=64, verbose=0)
    folder = tmp_path_factory.mktemp("saved")
    path = str(folder / "eenn.keras")
    model.save(path)
    with open(str(folder / "eenn.json"), "w") as f:
        json.dump({"thresholds": [0.9, 0.9], "rule": "max_probability"}, f)
    return model, path, splits


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


def test_export_litert_int8_micro_and_run(saved_eenn, tmp_path, capsys):
    model, path, splits = saved_eenn
    out = str(tmp_path / "device")
    assert keras_nachos_cli.main([
        "export", path, "--format", "litert", "--int8", "--micro",
        "--dataset", "digits", "--output", out]) == 0
    printed = capsys.readouterr().out
    assert "3 int8 LiteRT stages" in printed and "peak arena" in printed
    manifest = deploy.Manifest.read(out)
    assert manifest.quantize == "int8" and manifest.thresholds == [0.9, 0.9]
    assert all(os.path.exists(os.path.join(out, f"stage_{i}.h")) for i in (1, 2, 3))
    assert keras_nachos_cli.main(["run", out, "--dataset", "digits",
                                  "--limit", "120"]) == 0
    printed = capsys.readouterr().out
    accuracy = float(printed.split("accuracy")[1].split()[0])
    # The printed accuracy is the runtime's on those 120 test images.
    x_test, y_test = splits.test
    result = deploy.load(out).predict_early_exit(x_test[:120])
    assert accuracy == pytest.approx(result.accuracy(y_test[:120]), abs=1e-4)
    keras_result = model.predict_early_exit(x_test[:120], [0.9, 0.9])
    assert abs(accuracy - keras_result.accuracy(y_test[:120])) <= 0.05
    assert "ms per sample" in printed and "expected MACs" in printed
    assert keras_nachos_cli.main(["run", out, "--dataset", "digits", "--limit",
                                  "20", "--interpreter", "micro"]) == 0
    assert "micro, batch 1" in capsys.readouterr().out


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
