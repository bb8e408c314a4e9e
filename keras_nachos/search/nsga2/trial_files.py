"""The oracle's files: read with a named remedy, rebuilt when deleted.

Keras Tuner keeps a search in `oracle.json` and one `trial_*/trial.json` per
trial, writes them in place and reads them with raw JSON errors. The oracle
writes them atomically (`state_files.write_json_atomically`), reads them
through `state_files.read_json` (a damaged file is named with what to do) and
rebuilds a deleted trial file from its result in the archive.
"""

import glob
import os

import keras_tuner
from keras_tuner.engine import trial as trial_module

from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically

TrialStatus = trial_module.TrialStatus


def save_trial(oracle, trial):
    """Writes a trial's `trial.json` atomically."""
    path = os.path.join(oracle._get_trial_dir(trial.trial_id), "trial.json")
    write_json_atomically(path, trial.get_state())


def read_oracle_state(oracle):
    """The state in the oracle's `oracle.json` (damaged: named, with what to
    do)."""
    oracle_file = oracle._get_oracle_fname()
    return read_json(
        oracle_file,
        what="the search's generations, cache and archive",
        remedy=(
            f"the state one save earlier is in {oracle_file}.previous: "
            "copy it over this file and resume (at most the last trial "
            "is trained again), or start over with overwrite=True "
            "(`--overwrite`)"
        ),
    )


def read_trials(oracle):
    """`{trial_id: Trial}` of the trial files in the oracle's project."""
    trials = {}
    pattern = os.path.join(oracle._project_dir, "trial_*", "trial.json")
    for path in sorted(glob.glob(pattern)):
        trial_state = read_json(
            path,
            what="one trial's values, status and metrics",
            remedy=(
                f"restore it, or delete {path}: the search then rebuilds "
                "the trial from oracle.json (or trains its candidate "
                "again if it had not finished)"
            ),
        )
        trial = trial_module.Trial.from_state(trial_state)
        trials[trial.trial_id] = trial
    return trials


def rebuild_missing_trials(oracle, state):
    """Recreates deleted trial files from the archive in `state`.

    A trial whose result is archived gets its trial (values, status, the two
    objectives) back in `oracle.trials` and on disk; one that was running is
    dropped from `state` (its candidate is queued again).
    """
    archive = {
        e["trial_id"]: e
        for e in state.get("nsga2", {}).get("archive", [])
        if e.get("trial_id") is not None
    }
    known = set(oracle.trials)
    for trial_id in list(state.get("start_order", [])):
        if trial_id in known:
            continue
        entry = archive.get(trial_id)
        if entry is None:  # It was running: drop it, it is re-queued.
            state["start_order"].remove(trial_id)
            state["ongoing_trials"] = {
                k: v for k, v in state["ongoing_trials"].items()
                if v != trial_id
            }
            if trial_id in state.get("end_order", []):
                state["end_order"].remove(trial_id)
            continue
        hps = keras_tuner.HyperParameters.from_config(state["hyperparameters"])
        hps.values = dict(entry["values"])
        failed = entry["status"] == "failed"
        trial = trial_module.Trial(
            hps,
            trial_id=trial_id,
            status=TrialStatus.FAILED if failed else TrialStatus.COMPLETED,
            message=entry.get("reason"),
        )
        if not failed:
            trial.metrics.update(oracle.accuracy_key, entry["accuracy"])
            trial.metrics.update(oracle.macs_key, entry["macs"])
            trial.score = entry["accuracy"]
        oracle.trials[trial_id] = trial
        save_trial(oracle, trial)
