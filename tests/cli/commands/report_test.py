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


def _golden_copy(tmp_path):
    import shutil

    out = str(tmp_path / "finished")
    shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "..", "data",
                                 "golden", "finished"), out)
    return out


def _cut_in_half(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def test_report_skips_a_damaged_model_and_reports_the_rest(tmp_path, capsys):
    out = _golden_copy(tmp_path)
    before = json.load(open(os.path.join(out, "results.json")))
    front = before["admissible_front"]
    victim = os.path.join(out, "search", f"trial_{front[0]['trial_id']}",
                          "eenn.keras")
    _cut_in_half(victim)
    assert keras_nachos_cli.main(["report", out]) == 0
    printed = capsys.readouterr().out
    assert (f"Solution 0 is not measured on the test split: The model file "
            f"{victim} (a candidate's trained model) is damaged: its ") in printed
    assert "(truncated?). Nothing else was changed; the search does not train " \
           "a finished trial again: restore the file from a copy" in printed
    assert "Admissible Pareto front: 2 solutions" in printed
    after = json.load(open(os.path.join(out, "results.json")))
    rows = after["admissible_front"]
    assert rows[0]["test_accuracy"] is None and rows[0]["accuracy"] == front[0][
        "accuracy"]
    assert rows[1]["test_accuracy"] == pytest.approx(front[1]["test_accuracy"],
                                                     abs=1e-9)


def test_a_damaged_state_file_is_named_by_report_and_resume(tmp_path, capsys):
    from tests.search.testing_utils import truncate

    out = _golden_copy(tmp_path)
    trial = json.load(open(os.path.join(out, "results.json")))[
        "admissible_front"][1]["trial_id"]
    candidate = os.path.join(out, "search", f"trial_{trial}", "candidate.json")
    truncate(candidate)
    for argv in (["report", out, "--no-test"],
                 ["search", "--out", out, "--verbose", "0"]):
        assert keras_nachos_cli.main(argv) == 2
        error = capsys.readouterr().err
        assert error.startswith(
            f"keras-nachos: error: The search state file {candidate} (a "
            "trial's measurements: thresholds, exit fractions, threshold "
            "curve) is damaged: it is not valid JSON")
        assert error.strip().endswith(
            "delete it: the search's archive (oracle.json) keeps the "
            "candidate's objectives, thresholds and exit fractions, and only "
            "its threshold curve is lost.")
    os.remove(candidate)  # As the message says: the report is whole again.
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    after = json.load(open(os.path.join(out, "results.json")))
    assert after["admissible_front"][1]["thresholds"]
