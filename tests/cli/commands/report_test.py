"""Tests of `keras_nachos_cli.commands.report`."""

import json
import os

import pytest

import keras_nachos_cli
from keras_nachos_cli.commands import report as report_command


@pytest.mark.slow
def test_report_prints_and_writes_the_front(finished_search, copy_of, capsys):
    out = copy_of(finished_search[0])
    before = json.load(open(os.path.join(out, "results.json")))
    os.remove(os.path.join(out, "results.json"))
    os.remove(os.path.join(out, "pareto.png"))
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    printed = capsys.readouterr().out
    assert "Admissible Pareto front" in printed and "unfinished" not in printed
    after = json.load(open(os.path.join(out, "results.json")))
    assert os.path.exists(os.path.join(out, "pareto.png"))
    assert [r["values"] for r in after["admissible_front"]] == [
        r["values"] for r in before["admissible_front"]]
    assert [r["accuracy"] for r in after["admissible_front"]] == [
        r["accuracy"] for r in before["admissible_front"]]
    assert after["config"] == before["config"]


@pytest.mark.slow
def test_report_measures_the_front_on_the_test_split(finished_search, copy_of):
    out = copy_of(finished_search[0])
    results = report_command.report(out)
    before = json.load(open(os.path.join(finished_search[0], "results.json")))
    assert [r["test_accuracy"] for r in results["admissible_front"]] == [
        r["test_accuracy"] for r in before["admissible_front"]]
    assert all(r["test_accuracy"] is not None for r in results["admissible_front"])
