"""Tests of `keras_nachos.search.cached_evaluation`."""

import pytest

from keras_nachos.search import CachedEvaluation
from keras_nachos.search.records import candidate_key


class FakeSpace:
    def repair(self, values):
        return dict(values, fixed=True)


class FakeEvaluator:
    """Trains nothing: scores from the values, fails or crashes on demand."""

    space = FakeSpace()
    min_accuracy, max_macs = 0.5, 100.0

    def __init__(self):
        self.trained = []

    def static_costs(self, values):
        return [values["macs"], values["macs"] * 2]

    def precheck(self, values):
        if values["macs"] > self.max_macs:
            return {"accuracy": 0.0, "expected_macs": values["macs"],
                    "skipped": "first exit over max_macs"}
        return None

    def __call__(self, values):
        self.trained.append(values)
        if values.get("diverge"):
            raise FloatingPointError("training diverged (loss=nan)")
        if values.get("bug"):
            raise KeyError("a bug")
        if values.get("nan"):
            return {"accuracy": float("nan"), "expected_macs": 1.0}, None
        return {"accuracy": values["acc"], "expected_macs": values["macs"],
                "thresholds": [0.5]}, "model"


def test_cache_precheck_training_and_failures():
    seen = []
    evaluation = CachedEvaluation(
        FakeEvaluator(), on_result=lambda result, request: seen.append(request))
    good = evaluation({"acc": 0.8, "macs": 50.0})
    assert good.status == "trained" and good.admissible and not good.cached
    assert good.key == candidate_key({"acc": 0.8, "macs": 50.0, "fixed": True})
    assert good.metrics["thresholds"] == [0.5]
    assert evaluation.last_model == "model"
    again = evaluation({"acc": 0.8, "macs": 50.0})
    assert again.cached and again.accuracy == 0.8
    skipped = evaluation({"acc": 0.9, "macs": 500.0})
    assert skipped.status == "skipped" and skipped.reason.startswith("first exit")
    failed = evaluation({"acc": 0.9, "macs": 40.0, "diverge": True})
    assert failed.status == "failed" and "diverged" in failed.reason
    assert failed.accuracy == 0.0 and failed.expected_macs == 80.0  # final exit
    not_finite = evaluation({"acc": 0.9, "macs": 30.0, "nan": True})
    assert not_finite.status == "failed" and "non-finite" in not_finite.reason
    assert len(evaluation.evaluator.trained) == 3  # cached/prechecked: none
    assert (evaluation.requests, evaluation.cache_hits, evaluation.trained,
            evaluation.skipped, evaluation.failed) == (5, 1, 1, 1, 2)
    assert seen == [1, 2, 3, 4, 5]
    assert evaluation.points(2) == [(0.8, 50.0), (0.8, 50.0)]


def test_a_bug_propagates():
    evaluation = CachedEvaluation(FakeEvaluator())
    with pytest.raises(KeyError, match="a bug"):
        evaluation({"acc": 0.9, "macs": 40.0, "bug": True})
