"""Tests of `keras_nachos_cli.commands.run`: an export's early exit."""

import pytest

import keras_nachos_cli
from keras_nachos import deploy
from keras_nachos_cli.commands import run as run_command


def test_run_the_int8_stages(saved_eenn, int8_export, capsys):
    model, _, splits = saved_eenn
    out, _ = int8_export
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


def test_run_returns_the_result_on_given_splits(saved_eenn, int8_export, capsys):
    _, _, splits = saved_eenn
    out, _ = int8_export
    data = {"dataset": "digits", "data_dir": None, "max_samples": None,
            "seed": 0}
    result = run_command.run(out, data, batch_size=8, limit=40, splits=splits)
    expected = deploy.load(out).predict_early_exit(splits.test[0][:40],
                                                   batch_size=8)
    assert result.accuracy(splits.test[1][:40]) == expected.accuracy(
        splits.test[1][:40])
    assert result.expected_macs == expected.expected_macs
    assert "(int8, litert, batch 8) on 40 test images of digits" in (
        capsys.readouterr().out)
