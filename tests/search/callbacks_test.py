"""Tests of `keras_nachos.search.callbacks` and of the hooks of
`NachosSearch` that benchmarks use instead of subclassing it: an injected
evaluation, trial callbacks, `stop_search`."""

import pytest

from keras_nachos.search import CachedEvaluation
from keras_nachos.search import SearchCallback
from tests.search.testing_utils import FormulaEvaluator
from tests.search.testing_utils import formula_search
from tests.search.testing_utils import tiny_space


class Recorder(SearchCallback):
    def __init__(self, stop_after=None):
        self.events = []
        self.stop_after = stop_after

    def on_search_begin(self, tuner):
        self.events.append("begin")

    def on_trial_begin(self, tuner, trial):
        self.events.append(("trial", trial.trial_id))

    def on_trial_end(self, tuner, trial, evaluation):
        self.events.append(("end", trial.trial_id, evaluation.accuracy,
                            evaluation.expected_macs))
        ended = sum(1 for e in self.events if e[0] == "end")
        if self.stop_after is not None and ended == self.stop_after:
            tuner.stop_search()

    def on_search_end(self, tuner):
        self.events.append("end_of_search")


def outcome(tuner):
    return ([(c["values"], c["accuracy"], c["macs"]) for c in tuner.all_candidates()],
            tuner.hypervolume_history)


def test_callbacks_see_every_trial_with_its_evaluation(tmp_path):
    recorder = Recorder()
    tuner = formula_search(tmp_path)
    tuner.search(verbose=0, trial_callbacks=[recorder])
    assert recorder.events[0] == "begin" and recorder.events[-1] == "end_of_search"
    ends = [e for e in recorder.events if e[0] == "end"]
    trained = [c for c in tuner.all_candidates() if c["status"] == "completed"]
    assert len(ends) == len(trained) == len(tuner.oracle.trials)
    by_trial = {c["trial_id"]: (c["accuracy"], c["macs"]) for c in trained}
    for _, trial_id, accuracy, macs in ends:
        assert by_trial[trial_id] == (accuracy, macs)
    # Begin and end alternate, trial by trial.
    trials = [e for e in recorder.events if isinstance(e, tuple)]
    assert [e[0] for e in trials] == ["trial", "end"] * len(ends)


def test_stop_search_ends_after_the_trial_and_the_search_resumes(tmp_path):
    whole = formula_search(tmp_path / "whole")
    whole.search(verbose=0)
    stopped = formula_search(tmp_path / "stopped")
    stopped.search(verbose=0, trial_callbacks=[Recorder(stop_after=3)])
    assert len(stopped.oracle.trials) == 3 and not stopped.oracle.finished
    resumed = formula_search(tmp_path / "stopped", overwrite=False)
    resumed.search(verbose=0)
    assert resumed.oracle.finished
    assert outcome(resumed) == outcome(whole)


def test_an_injected_evaluation_is_shared_and_needs_no_data(tmp_path):
    shared = CachedEvaluation(FormulaEvaluator(tiny_space(), 0.6, 60000.0))
    first = formula_search(tmp_path / "a", evaluation=shared)
    first.search(verbose=0)
    trained = shared.trained
    assert trained == len(shared.evaluator.calls) > 0
    # The same search again on the shared evaluation: all from its cache.
    second = formula_search(tmp_path / "b", evaluation=shared)
    second.search(verbose=0)
    assert shared.trained == trained and shared.cache_hits >= trained
    assert outcome(second) == outcome(first)
    assert first.evaluator is shared.evaluator


def test_bad_hooks_are_refused(tmp_path):
    with pytest.raises(TypeError, match="evaluation"):
        formula_search(tmp_path, evaluation="not callable")
    tuner = formula_search(tmp_path)
    with pytest.raises(TypeError, match="trial_callbacks"):
        tuner.search(verbose=0, trial_callbacks=[print])
