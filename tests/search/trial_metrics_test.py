"""Tests of `keras_nachos.search.trial_metrics`: a trial's results as
numeric metrics (what travels over gRPC) and back."""

import math

import keras_tuner as kt
import pytest

from keras_nachos.search.trial_metrics import as_float
from keras_nachos.search.trial_metrics import flatten_details
from keras_nachos.search.trial_metrics import last_line
from keras_nachos.search.trial_metrics import latest_metrics
from keras_nachos.search.trial_metrics import read_objectives
from keras_nachos.search.trial_metrics import unflatten_details


def test_details_round_trip_through_numbers():
    details = {
        "thresholds": [0.9, 0.75], "exit_fractions": [0.5, 0.25, 0.25],
        "exit_accuracies": [0.8, 0.9, 0.95], "static_macs": [1000, 2500, 4000],
        "final_accuracy": 0.93, "backbone_macs": 3900, "train_seconds": 12.5,
        "scoring_samples": 45, "curve": [[0.1, 2.0]], "rule": "entropy",
    }
    flat = flatten_details(details)
    assert flat["thresholds.1"] == 0.75 and flat["static_macs.2"] == 4000.0
    assert all(isinstance(v, float) for v in flat.values())
    assert "curve" not in str(flat) and "rule" not in flat  # Numbers only.
    back = unflatten_details(flat)
    expected = {k: v for k, v in details.items() if k not in ("curve", "rule")}
    assert back == expected
    assert isinstance(back["backbone_macs"], int)
    assert all(isinstance(v, int) for v in back["static_macs"])
    # Lists come back in index order whatever the metrics' order.
    shuffled = dict(reversed(list(flat.items())))
    assert unflatten_details(shuffled)["thresholds"] == [0.9, 0.75]
    # A non-finite number is dropped, not passed on.
    assert "final_accuracy" not in unflatten_details({"final_accuracy": math.nan})


def test_objectives_and_latest_values_of_a_trial():
    trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id="1")
    assert math.isnan(read_objectives(trial, "accuracy", "expected_macs")[0])
    trial.metrics.update("accuracy", 0.5, step=0)
    trial.metrics.update("accuracy", 0.75, step=3)
    trial.metrics.update("expected_macs", 1200.0, step=3)
    assert read_objectives(trial, "accuracy", "expected_macs") == (0.75, 1200.0, 3)
    assert latest_metrics(trial) == {"accuracy": 0.75, "expected_macs": 1200.0}


@pytest.mark.parametrize("value, expected", [("2.5", 2.5), (None, None), ("x", None)])
def test_as_float(value, expected):
    result = as_float(value)
    assert math.isnan(result) if expected is None else result == expected


def test_last_line():
    assert last_line("Traceback ...\n  File x\nValueError: bad\n\n") == "ValueError: bad"
    assert last_line("  \n") is None
