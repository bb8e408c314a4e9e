"""A search's solutions: one record from everything a trial left behind.

A trial of a search leaves its result in three places: the oracle's archive
(objectives, feasibility, and the details that travelled with the trial's
metrics, so a distributed chief has them without a shared folder), the
trial folder's `candidate.json` (everything the evaluator measured: the
rule's thresholds, exit fractions, the threshold curve) and, in a supernet
search, `finetuned.json` (the figures after fine-tuning). `solution` merges
them into the one dict `NachosSearch.admissible_front()` returns.

The trial folder:
    trial_<id>/trial.json             Keras Tuner's trial
    trial_<id>/candidate.json         the evaluator's measurements
    trial_<id>/eenn.keras             the trained model
    trial_<id>/finetuned.json         supernet search: after fine-tuning
    trial_<id>/eenn_finetuned.keras   supernet search: the fine-tuned model
"""

import json
import os

from keras_nachos.search.state_files import read_json

CANDIDATE_FILE = "candidate.json"
MODEL_FILE = "eenn.keras"
FINETUNED_FILE = "finetuned.json"
FINETUNED_MODEL_FILE = "eenn_finetuned.keras"


def solution(record, trial_dir, rule):
    """The solution of an archived, completed candidate.

    Args:
        record: Its archive entry (a dict, `NSGA2Oracle.archive`'s).
        trial_dir: Its trial folder.
        rule: The name of the exit rule its thresholds are for.

    Returns:
        A dict: the evaluator's measurements (without the threshold curve),
        then `trial_id`, `values`, `accuracy`, `expected_macs`, `feasible`,
        `generation`, `model_path`, `tuner_id`, `rule` and, when fine-tuned,
        `finetuned` and `finetuned_model_path`.
    """
    path = os.path.join(trial_dir, CANDIDATE_FILE)
    # The details as they travelled with the trial's metrics; the trial's
    # candidate.json (on a shared file system, or in one process) adds the
    # rest (the rule, the threshold curve).
    details = dict(record.get("details") or {})
    if record.get("status") == "completed":
        details["rule"] = rule
    if os.path.exists(path):
        with open(path) as f:
            details.update(json.load(f))
    result = dict(details)
    result.update(
        {
            "trial_id": record["trial_id"],
            "values": record["values"],
            "accuracy": record["accuracy"],
            "expected_macs": record["macs"],
            "feasible": record["feasible"],
            "generation": record.get("generation"),
            "model_path": os.path.join(trial_dir, MODEL_FILE),
            "tuner_id": record.get("tuner_id"),
        }
    )
    result.pop("curve", None)
    finetuned = os.path.join(trial_dir, FINETUNED_FILE)
    if os.path.exists(finetuned):
        result["finetuned"] = read_json(
            finetuned, what="a fine-tuned candidate's figures",
            remedy="delete it: the search fine-tunes the candidate again "
            "when it is resumed",
        )
        result["finetuned_model_path"] = os.path.join(
            trial_dir, FINETUNED_MODEL_FILE
        )
    return result


def write_candidate(trial_dir, evaluation):
    """Writes a trial's `candidate.json` (its values and measurements)."""
    os.makedirs(trial_dir, exist_ok=True)
    with open(os.path.join(trial_dir, CANDIDATE_FILE), "w") as f:
        json.dump({"values": evaluation.values, **evaluation.metrics}, f)
