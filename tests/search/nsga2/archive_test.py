"""Tests of `keras_nachos.search.nsga2.archive`: entries in hand-out order,
the cache, the fronts and the admissible hypervolume."""

import math

import pytest

from keras_nachos.search.nsga2.archive import Archive
from keras_nachos.search.pareto import admissible_hypervolume
from keras_nachos.search.records import CandidateRecord
from keras_nachos.search.records import candidate_key


def record(i, issue=None, generation=0):
    values = {"x": i}
    return CandidateRecord(genome=[0.1 * i], values=values,
                           key=candidate_key(values), generation=generation,
                           issue=issue)


def scored(accuracy, macs):
    return {"fitness": [accuracy, macs], "failed": False}


def test_entries_are_kept_in_hand_out_order_whoever_ends_first():
    archive = Archive(0.5, 100.0)
    for issue in (3, 1, 4, 2):
        archive.record(record(issue, issue=issue), scored(0.6, 10.0), "completed",
                       None, trial_id=str(issue))
    assert [e.issue for e in archive.entries] == [1, 2, 3, 4]
    # Entries of older state files (no issue) stay first.
    archive.record(record(9), scored(0.6, 10.0), "completed", None)
    assert archive.entries[-1].issue is None
    assert archive.entry_for("4").issue == 4 and archive.entry_for("7") is None


def test_feasibility_violation_and_cache():
    archive = Archive(0.5, 100.0)
    ok = archive.record(record(1, 1), scored(0.7, 50.0), "completed", None)
    slow = archive.record(record(2, 2), scored(0.7, 150.0), "completed", None)
    failed = archive.record(record(3, 3), {"fitness": None, "failed": True},
                            "failed", "boom")
    assert ok.feasible and ok.violation == 0.0
    assert not slow.feasible and slow.violation == pytest.approx(0.5)
    assert not failed.feasible and math.isinf(failed.violation)
    assert failed.accuracy is None and failed.macs is None
    assert archive.outcome(record(2).key) == scored(0.7, 150.0)
    assert archive.outcome(record(8).key) is None
    assert len(archive) == 3 and [e.status for e in archive.completed()] == [
        "completed", "completed"]


def test_fronts_and_hypervolume_by_hand():
    archive = Archive(0.5, 100.0)
    points = [(0.9, 80.0), (0.8, 40.0), (0.7, 60.0), (0.95, 120.0), (0.4, 10.0)]
    for i, (a, m) in enumerate(points):
        archive.record(record(i, i + 1), scored(a, m), "completed", None)
    assert [(e.accuracy, e.macs) for e in archive.pareto_front()] == [
        (0.95, 120.0), (0.9, 80.0), (0.8, 40.0), (0.4, 10.0)]
    assert [(e.accuracy, e.macs) for e in archive.admissible_front()] == [
        (0.9, 80.0), (0.8, 40.0)]
    # f1 = (1 - a) / 0.5, f2 = m / 100: (0.2, 0.8) and (0.4, 0.4) under (1, 1).
    expected = (1 - 0.2) * (1 - 0.8) + (1 - 0.4) * (0.8 - 0.4)
    assert archive.admissible_hypervolume() == pytest.approx(expected)
    assert archive.admissible_hypervolume() == admissible_hypervolume(
        points, 0.5, 100.0)
    assert archive.may_join_admissible_front(0.85, 50.0)
    assert not archive.may_join_admissible_front(0.75, 50.0)


def test_state_round_trip():
    archive = Archive(0.5, 100.0)
    archive.record(record(1, 1), scored(0.7, 50.0), "completed", None,
                   trial_id="1", details={"thresholds": [0.5]}, tuner_id="t0")
    archive.hypervolume_history.append(0.25)
    archive.total_evaluations = 3
    copy = Archive(0.5, 100.0)
    copy.set_state(archive.get_state())
    assert copy.get_state() == archive.get_state()
    assert copy.entries[0].details == {"thresholds": [0.5]}
