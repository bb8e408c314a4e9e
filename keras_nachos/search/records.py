"""The search's records: candidates in flight and the archive of results.

Both are typed, and both round-trip through JSON (`to_json` / `from_json`),
which is how they live in the oracle's state file (`oracle.json`).
"""

import dataclasses
import json
import math


def candidate_key(values):
    """The canonical key of a candidate: its values as sorted JSON.

    The one key of the search: the oracle's cache and records, the candidate
    evaluator's memo and seeds, and `CachedEvaluation` all use it.

    Example:

    >>> candidate_key({"b": 2, "a": True})
    '{"a": true, "b": 2}'
    """
    return json.dumps(values, sort_keys=True, default=str)


# A candidate record's life: queued (bred, waiting for a tuner), pending
# (handed out as a trial, or waiting on an identical trial), done (scored).
STATES = ("queued", "pending", "done")
# How an archived candidate was scored.
STATUSES = ("completed", "failed", "skipped")


@dataclasses.dataclass
class CandidateRecord:
    """A genome of the current population or offspring.

    Attributes:
        genome: List of genes in [0, 1), one per tunable hyperparameter.
        values: Dict, the decoded (and repaired) hyperparameter values.
        key: String, `candidate_key(values)`.
        state: One of `STATES`.
        trial_id: The Keras Tuner trial evaluating it (or `None`).
        generation: Integer, the generation it was bred in.
        fitness: `[accuracy, expected_macs]` once scored (`None` before, and
            for a failed candidate).
        failed: Boolean, whether its evaluation failed.
        issue: Integer, its place in the order candidates were handed out
            (`None` while queued): results are used in that order, whichever
            worker finishes first.
    """

    genome: list
    values: dict
    key: str
    state: str = "queued"
    trial_id: str = None
    generation: int = 0
    fitness: list = None
    failed: bool = False
    issue: int = None

    def to_json(self):
        return {
            "genome": list(self.genome),
            "values": dict(self.values),
            "key": self.key,
            "state": self.state,
            "trial_id": self.trial_id,
            "generation": self.generation,
            "fitness": None if self.fitness is None else list(self.fitness),
            "failed": self.failed,
            "issue": self.issue,
        }

    @classmethod
    def from_json(cls, config):
        return cls(**config)

    def assign(self, outcome):
        """Takes the result of an evaluation (`{"fitness", "failed"}`)."""
        self.fitness = outcome["fitness"]
        self.failed = outcome["failed"]
        self.state = "done"


@dataclasses.dataclass
class ArchiveEntry:
    """One unique candidate the search has scored.

    Attributes:
        trial_id: Its Keras Tuner trial (`None` when scored without training).
        values: Dict of hyperparameter values.
        accuracy: Float (`None` when failed).
        macs: Float, expected MACs (`None` when failed).
        feasible: Boolean, whether it is admissible.
        violation: Float, its normalised constraint violation (`inf` when
            failed).
        generation: Integer, the generation it was bred in.
        status: One of `STATUSES`: `"completed"` (trained), `"failed"`,
            `"skipped"` (scored by the precheck).
        reason: Why it failed or was skipped (or `None`).
        details: Dict of the trial's other results as reported with its
            metrics (`trial_metrics.unflatten_details`: thresholds, exit
            fractions, per-exit accuracies, static MACs, ...); empty when
            scored without training.
        tuner_id: The Keras Tuner id of the tuner (worker) that ran the
            trial, whose machine holds its trained model (or `None`).
        issue: Integer, when its candidate was handed out (see
            `CandidateRecord.issue`).
    """

    trial_id: str
    values: dict
    accuracy: float
    macs: float
    feasible: bool
    violation: float
    generation: int
    status: str
    reason: str = None
    details: dict = dataclasses.field(default_factory=dict)
    tuner_id: str = None
    issue: int = None

    def to_json(self):
        """A JSON-friendly dict (also what `NSGA2Oracle.archive` returns)."""
        return {
            "trial_id": self.trial_id,
            "values": dict(self.values),
            "accuracy": self.accuracy,
            "macs": self.macs,
            "feasible": self.feasible,
            # JSON has no infinity: Python's json writes `Infinity`, which
            # `json.loads` reads back; keep it a float.
            "violation": float(self.violation),
            "generation": self.generation,
            "status": self.status,
            "reason": self.reason,
            "details": dict(self.details),
            "tuner_id": self.tuner_id,
            "issue": self.issue,
        }

    @classmethod
    def from_json(cls, config):
        config = dict(config)
        config["violation"] = float(config.get("violation", math.inf))
        config["details"] = dict(config.get("details") or {})
        return cls(**config)
