"""Tests of `keras_nachos.search.solutions`: one solution from the archive,
candidate.json and finetuned.json."""

import json
from types import SimpleNamespace

import pytest

from keras_nachos.search import solutions
from keras_nachos.search.state_files import DamagedStateError

RECORD = {
    "trial_id": "4", "values": {"a": 1}, "accuracy": 0.9, "macs": 5000.0,
    "feasible": True, "generation": 2, "status": "completed",
    "tuner_id": "tuner1",
    "details": {"thresholds": [0.7], "static_macs": [3000, 8000]},
}


def test_a_distributed_chief_has_the_details_of_the_metrics(tmp_path):
    result = solutions.solution(RECORD, str(tmp_path), "max_probability")
    assert result == {
        "thresholds": [0.7], "static_macs": [3000, 8000],
        "rule": "max_probability", "trial_id": "4", "values": {"a": 1},
        "accuracy": 0.9, "expected_macs": 5000.0, "feasible": True,
        "generation": 2, "tuner_id": "tuner1",
        "model_path": str(tmp_path / solutions.MODEL_FILE),
    }


def test_candidate_json_adds_the_rest_and_the_archive_wins(tmp_path):
    evaluation = SimpleNamespace(values={"a": 1}, metrics={
        "accuracy": 0.1, "thresholds": [0.7], "exit_fractions": [0.4, 0.6],
        "curve": [[0.9, 1.0]], "rule": "entropy"})
    solutions.write_candidate(str(tmp_path), evaluation)
    stored = json.load(open(tmp_path / solutions.CANDIDATE_FILE))
    assert stored["values"] == {"a": 1} and stored["curve"] == [[0.9, 1.0]]
    result = solutions.solution(RECORD, str(tmp_path), "max_probability")
    assert result["exit_fractions"] == [0.4, 0.6] and "curve" not in result
    assert result["rule"] == "entropy"  # The evaluator's own record.
    assert result["accuracy"] == 0.9  # The archive's objectives.


def test_finetuned_figures_are_added_and_a_damaged_file_named(tmp_path):
    (tmp_path / solutions.FINETUNED_FILE).write_text(json.dumps(
        {"accuracy": 0.93, "admissible": True}))
    result = solutions.solution(RECORD, str(tmp_path), "max_probability")
    assert result["finetuned"] == {"accuracy": 0.93, "admissible": True}
    assert result["finetuned_model_path"] == str(
        tmp_path / solutions.FINETUNED_MODEL_FILE)
    (tmp_path / solutions.FINETUNED_FILE).write_text('{"accuracy": 0.9')
    with pytest.raises(DamagedStateError, match="finetuned.json.*delete it"):
        solutions.solution(RECORD, str(tmp_path), "max_probability")


def test_no_rule_for_a_candidate_that_did_not_complete(tmp_path):
    record = dict(RECORD, status="failed", details={})
    assert "rule" not in solutions.solution(record, str(tmp_path), "entropy")


def test_a_damaged_candidate_json_is_named_with_what_to_do(tmp_path):
    path = tmp_path / solutions.CANDIDATE_FILE
    path.write_text('{"values": {"a": 1}, "thresh')
    with pytest.raises(DamagedStateError) as info:
        solutions.solution(RECORD, str(tmp_path), "max_probability")
    message = str(info.value)
    assert message.startswith(f"The search state file {path} (a trial's "
                              "measurements")
    assert message.endswith(
        "delete it: the search's archive (oracle.json) keeps the candidate's "
        "objectives, thresholds and exit fractions, and only its threshold "
        "curve is lost.")
    path.write_text("[0.5]")
    with pytest.raises(DamagedStateError, match="does not hold a trial's"):
        solutions.solution(RECORD, str(tmp_path), "max_probability")
    # Deleted, as the message says: the archive's figures are the solution.
    path.unlink()
    assert solutions.solution(RECORD, str(tmp_path), "max_probability")[
        "thresholds"] == [0.7]
    (tmp_path / solutions.FINETUNED_FILE).write_text("[1]")
    with pytest.raises(DamagedStateError, match="does not hold a fine-tuned"):
        solutions.solution(RECORD, str(tmp_path), "max_probability")


def test_a_damaged_solution_model_is_named_with_what_to_do(tmp_path):
    for name, remedy in (
        (solutions.MODEL_FILE, "restore the file from a copy, or rebuild it "
         "(on a supernet: `supernet.extract(values, x=...)`; else start the "
         "search over with --overwrite)"),
        (solutions.FINETUNED_MODEL_FILE, "delete it and the finetuned.json "
         "beside it: the search fine-tunes the candidate again"),
    ):
        path = tmp_path / name
        path.write_bytes(b"PK\x03\x04 cut short")
        with pytest.raises(DamagedStateError) as info:
            solutions.load_solution_model(str(path))
        assert str(info.value).startswith(f"The model file {path} (a ")
        assert remedy in str(info.value)
    with pytest.raises(FileNotFoundError):
        solutions.load_solution_model(str(tmp_path / "trial_9" / "eenn.keras"))

