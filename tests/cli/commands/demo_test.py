"""Tests of `keras-nachos demo`: the pipeline end to end."""

import pytest

import keras_nachos_cli
from tests.cli.testing_utils import TINY


@pytest.mark.slow
def test_demo_runs_the_pipeline_end_to_end(tmp_path, capsys, monkeypatch):
    tiny = dict(zip([a.lstrip("-").replace("-", "_") for a in TINY[::2]],
                    TINY[1::2]))
    preset = {
        "dataset": "digits", "max_samples": 400, "min_accuracy": 0.15,
        "max_macs": 200000.0, "population": 4, "generations": 1, "epochs": 1,
        "batch_size": 64, "stage_widths": [[4, 8], [8], [8, 12]],
        "depths": [1], "kernel_sizes": [3], "expansion_ratios": [2],
        "head_types": ["global_pool"],
    }
    assert set(preset) <= set(tiny) | {"seed"}
    monkeypatch.setitem(keras_nachos_cli.PRESETS, "digits", preset)
    out = tmp_path / "demo"
    assert keras_nachos_cli.main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[trial 4/4]" in printed and "Admissible Pareto front" in printed
    assert "exported to" in printed and "real early exit" in printed
    for line in ("accuracy", "exit fractions", "expected MACs"):
        assert f"  {line}" in printed
    for name in ("pareto.png", "results.json", "solution_0.keras",
                 "solution_0.json", "solution_0_litert_int8/manifest.json"):
        assert (out / name).exists(), name
    # It ends on the device: the int8 LiteRT stages, run with the early exit.
    device = printed.split("For the device:")[1]
    assert "3 int8 LiteRT stages" in device or "2 int8 LiteRT stages" in device
    assert "(int8, litert, batch 1)" in device and "ms per sample" in device
    keras_accuracy = float(printed.split("  accuracy")[1].split()[0])
    int8_accuracy = float(device.split("  accuracy")[1].split()[0])
    assert abs(keras_accuracy - int8_accuracy) <= 0.05
    # Run again: the search resumes (nothing is retrained) and the same
    # solution is exported.
    assert keras_nachos_cli.main(["demo", "--out", str(out)]) == 0
    assert "Resuming the search" in capsys.readouterr().out
