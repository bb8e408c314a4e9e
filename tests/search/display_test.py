"""Tests of `keras_nachos.search.display`: the progress lines."""

import time
from types import SimpleNamespace

from keras_nachos.search.display import SearchDisplay
from keras_nachos.search.display import hms


class Oracle:
    max_trials = 16
    total_evaluations = 5

    def __init__(self, record):
        self.record = record
        self.trials = {str(i): SimpleNamespace(status="COMPLETED") for i in range(4)}

    def record_for(self, trial_id):
        return self.record


def test_hms():
    assert hms(0) == "0:00:00" and hms(3725.9) == "1:02:05"


def test_the_trial_line_says_where_the_search_is(monkeypatch):
    display = SearchDisplay()
    display.start = 1000.0
    display.trials_done_at_start = 2
    monkeypatch.setattr(time, "time", lambda: 1060.0)
    record = {"accuracy": 0.91, "macs": 12345.6, "feasible": True,
              "generation": 1, "status": "completed", "tuner_id": "tuner1"}
    trial = SimpleNamespace(trial_id="3", status="COMPLETED", message=None)
    line = display.trial_line(Oracle(record), trial, role="chief")
    # 4 trained, 2 of them in this run in 60 s: 11 evaluations left at 30 s.
    assert line == (
        "[trial 5/16] generation 1 accuracy=0.9100 expected_macs=12,346 "
        "feasible on tuner1 (trained 4, elapsed 0:01:00, remaining ~0:05:30)")
    failed = dict(record, status="failed", reason="FloatingPointError: nan")
    line = display.trial_line(Oracle(failed), trial)
    assert "FAILED: FloatingPointError: nan" in line and "on tuner1" not in line
    line = display.trial_line(Oracle(dict(record, feasible=False)), trial)
    assert " infeasible " in line


def test_the_worker_and_finetune_lines(monkeypatch):
    display = SearchDisplay()
    display.start = 0.0
    monkeypatch.setattr(time, "time", lambda: 75.0)
    result = SimpleNamespace(accuracy=0.5, expected_macs=2000.0)
    done = SimpleNamespace(trial_id="7", status="COMPLETED", message=None)
    assert display.worker_line("tuner0", done, result, 1.25) == (
        "[tuner0] trial 7 accuracy=0.5000 expected_macs=2,000 "
        "(elapsed 0:01:15, idle 1.2 s)")
    failed = SimpleNamespace(trial_id="8", status="FAILED",
                             message="Traceback...\nValueError: bad\n")
    assert display.worker_line("tuner0", failed, None, 0.0) == (
        "[tuner0] trial 8 FAILED: ValueError: bad (elapsed 0:01:15)")
    record = {"trial_id": "2", "accuracy": 0.8, "macs": 1000.0}
    metrics = {"accuracy": 0.85, "expected_macs": 900.0}
    assert SearchDisplay.finetune_line(0, 3, record, metrics, 12.34) == (
        "[fine-tune 1/3] trial 2: accuracy 0.8000 -> 0.8500, expected_macs "
        "1,000 -> 900 (12.3 s)")


def test_verbose_0_shows_nothing(capsys):
    SearchDisplay(verbose=0).show("hidden")
    SearchDisplay(verbose=1).show("shown")
    assert capsys.readouterr().out == "shown\n"
