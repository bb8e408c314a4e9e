"""Tests of keras_nachos_cli: search, report and export on digits."""

import json
import os

import keras
import pytest

import keras_nachos_cli


@pytest.mark.slow
def test_cli_search_report_export_on_digits(tmp_path, capsys):
    out = str(tmp_path / "run")
    keras_nachos_cli.main([
        "search", "--dataset", "digits", "--max-samples", "400",
        "--min-accuracy", "0.15", "--max-macs", "200000",
        "--population", "4", "--generations", "1", "--epochs", "4",
        "--batch-size", "64",
        "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
        "--kernel-sizes", "3", "--expansion-ratios", "2",
        "--head-types", "global_pool", "--out", out,
    ])
    printed = capsys.readouterr().out
    assert "[trial 4/4]" in printed and "Admissible Pareto front" in printed
    for name in ("results.json", "results.csv", "pareto.png", "search_config.json"):
        assert os.path.exists(os.path.join(out, name))
    results = json.load(open(os.path.join(out, "results.json")))
    front = results["admissible_front"]
    assert front and all(r["test_accuracy"] is not None for r in front)
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    assert "Admissible Pareto front" in capsys.readouterr().out
    assert keras_nachos_cli.main(["export", out, "--solution", "0"]) == 0
    model = keras.models.load_model(os.path.join(out, "solution_0.keras"))
    assert model.num_exits >= 2
    assert keras_nachos_cli.main(["export", out, "--solution", "99"]) == 2
    error = capsys.readouterr().err
    assert "argument `--solution`" in error and len(error.splitlines()) == 1
