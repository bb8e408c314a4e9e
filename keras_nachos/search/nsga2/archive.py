"""The search's archive: every unique candidate scored, and its fronts."""

import math

from keras_nachos.constraints import is_admissible
from keras_nachos.constraints import normalised_violation
from keras_nachos.search.pareto import _pareto_dominates
from keras_nachos.search.pareto import admissible_hypervolume
from keras_nachos.search.pareto import non_dominated
from keras_nachos.search.records import ArchiveEntry

# Fitness of a failed candidate: worse than any measured one.
FAILED_VIOLATION = math.inf


class Archive:
    """The unique candidates a search scored, their cache and fronts.

    Entries are kept in the order their candidates were handed out, whichever
    worker finished first, so the fronts and the pre-selection's surrogate see
    the results as one process would. The cache maps a candidate key to its
    outcome (`{"fitness": [accuracy, macs] or None, "failed": bool}`) so a
    candidate is never trained twice.

    Args:
        min_accuracy: Float, A_min.
        max_macs: Float, M_max.
    """

    def __init__(self, min_accuracy, max_macs):
        self.min_accuracy = min_accuracy
        self.max_macs = max_macs
        self.entries = []  # ArchiveEntries, in hand-out order.
        self.cache = {}
        self.hypervolume_history = []
        # Candidates scored, counting cache hits.
        self.total_evaluations = 0

    def __len__(self):
        return len(self.entries)

    def outcome(self, key):
        """The cached outcome of a candidate key, or None."""
        return self.cache.get(key)

    def record(self, record, outcome, status, reason, trial_id=None,
               details=None, tuner_id=None):
        """Archives the evaluation of a `CandidateRecord` and caches it.

        Args:
            record: The `CandidateRecord` evaluated.
            outcome: `{"fitness": [accuracy, macs] or None, "failed": bool}`.
            status: `"completed"`, `"failed"` or `"skipped"`.
            reason: Why it failed or was skipped (or None).
            trial_id, details, tuner_id: See `ArchiveEntry`.

        Returns:
            The new `ArchiveEntry`.
        """
        self.cache[record.key] = outcome
        if outcome["failed"]:
            accuracy = macs = None
            feasible, violation = False, FAILED_VIOLATION
        else:
            accuracy, macs = outcome["fitness"]
            feasible = is_admissible(
                accuracy, macs, self.min_accuracy, self.max_macs
            )
            violation = normalised_violation(
                accuracy, macs, self.min_accuracy, self.max_macs
            )
        entry = ArchiveEntry(
            trial_id=trial_id,
            values=dict(record.values),
            accuracy=accuracy,
            macs=macs,
            feasible=feasible,
            violation=violation,
            generation=record.generation,
            status=status,
            reason=reason,
            details=dict(details or {}),
            tuner_id=tuner_id,
            issue=record.issue,
        )
        # Entries of older state files have no issue: kept first.
        position = len(self.entries)
        if entry.issue is not None:
            while position > 0 and (
                self.entries[position - 1].issue is not None
                and self.entries[position - 1].issue > entry.issue
            ):
                position -= 1
        self.entries.insert(position, entry)
        return entry

    def completed(self):
        """Entries of the candidates trained to completion."""
        return [e for e in self.entries if e.status == "completed"]

    def entry_for(self, trial_id):
        """The entry of a trial, or None."""
        for entry in self.entries:
            if entry.trial_id == trial_id:
                return entry
        return None

    def pareto_front(self):
        """Completed entries no other completed one Pareto-dominates
        (constraints ignored), most accurate first."""
        return _front(self.completed())

    def admissible_front(self):
        """The Pareto front of the admissible completed entries, most
        accurate first."""
        return _front([e for e in self.completed() if e.feasible])

    def may_join_admissible_front(self, accuracy, macs):
        """Whether a new admissible result could end on the admissible front:
        no completed admissible entry Pareto-dominates it (the completed set
        only grows, so one dominated now never joins it)."""
        point = (float(accuracy), float(macs))
        return not any(
            _pareto_dominates((e.accuracy, e.macs), point)
            for e in self.completed() if e.feasible
        )

    def admissible_hypervolume(self):
        """Admissible hypervolume of the completed entries."""
        return admissible_hypervolume(
            [(e.accuracy, e.macs) for e in self.completed()],
            self.min_accuracy,
            self.max_macs,
        )

    # ------------------------------------------------------------------
    def get_state(self):
        """The archive's part of the oracle's state (JSON-friendly)."""
        return {
            "cache": self.cache,
            "archive": [e.to_json() for e in self.entries],
            "hypervolume_history": self.hypervolume_history,
            "total_evaluations": self.total_evaluations,
        }

    def set_state(self, state):
        self.cache = state["cache"]
        self.entries = [ArchiveEntry.from_json(e) for e in state["archive"]]
        self.hypervolume_history = state["hypervolume_history"]
        self.total_evaluations = state["total_evaluations"]


def _front(entries):
    front = non_dominated(entries, key=lambda e: (e.accuracy, e.macs))
    return sorted(front, key=lambda e: (-e.accuracy, e.macs))
