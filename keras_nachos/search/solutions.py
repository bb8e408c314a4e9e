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

A damaged one of them is named with what to do (`read_json`,
`load_solution_model`).
"""

import os

from keras_nachos.search.state_files import DamagedStateError
from keras_nachos.search.state_files import load_keras_file
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically

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
        details.update(read_candidate(path))
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
        remedy = ("delete it: the search fine-tunes the candidate again "
                  "when it is resumed")
        result["finetuned"] = read_json(
            finetuned, what="a fine-tuned candidate's figures", remedy=remedy)
        if not isinstance(result["finetuned"], dict):
            raise DamagedStateError(
                f"{finetuned} does not hold a fine-tuned candidate's figures "
                f"(a JSON object): {remedy}."
            )
        result["finetuned_model_path"] = os.path.join(
            trial_dir, FINETUNED_MODEL_FILE
        )
    return result


def read_candidate(path):
    """A trial's `candidate.json` (damaged: named, with what to do)."""
    candidate = read_json(
        path, what="a trial's measurements: thresholds, exit fractions, "
        "threshold curve",
        remedy="delete it: the search's archive (oracle.json) keeps the "
        "candidate's objectives, thresholds and exit fractions, and only its "
        "threshold curve is lost",
    )
    if not isinstance(candidate, dict):
        raise DamagedStateError(
            f"{path} does not hold a trial's measurements (a JSON object): "
            "delete it (the search's archive keeps the candidate's figures)."
        )
    return candidate


def write_candidate(trial_dir, evaluation):
    """Writes a trial's `candidate.json` (its values and measurements),
    atomically."""
    os.makedirs(trial_dir, exist_ok=True)
    write_json_atomically(
        os.path.join(trial_dir, CANDIDATE_FILE),
        {"values": evaluation.values, **evaluation.metrics},
    )


def load_solution_model(path):
    """A solution's model (`model_path` or `finetuned_model_path`).

    Raises:
        FileNotFoundError: There is none (a distributed search keeps each
            model on the worker that trained it).
        DamagedStateError: It cannot be read: named, with what to do.
    """
    if os.path.basename(path) == FINETUNED_MODEL_FILE:
        what = "a fine-tuned candidate's model"
        remedy = (
            f"delete it and the {FINETUNED_FILE} beside it: the search "
            "fine-tunes the candidate again when it is resumed"
        )
    else:
        what = "a candidate's trained model"
        remedy = (
            "the search does not train a finished trial again: restore the "
            "file from a copy, or rebuild it (on a supernet: "
            "`supernet.extract(values, x=...)`; else start the search over "
            "with --overwrite); the other solutions are not affected"
        )
    return load_keras_file(path, what, remedy)
