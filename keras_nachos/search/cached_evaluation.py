"""`CachedEvaluation`: the one evaluation of candidates behind any engine.

Repair, cache, no-training precheck, training, failure policy: `NachosSearch`
runs its trials through it, and so does every engine of
`benchmarks/search_engines.py` (Keras Tuner's RandomSearch, Optuna), so that
they are compared on the same evaluation function.
"""

import dataclasses
import math
import time

import keras

from keras_nachos.constraints import is_admissible
from keras_nachos.search.records import candidate_key

# What makes a candidate fail (recorded, and the search goes on) rather than
# the search: a diverged training, non-finite objectives, running out of
# memory. Anything else is a bug and propagates.
CANDIDATE_FAILURES = (FloatingPointError, MemoryError)


def is_candidate_failure(error):
    """Whether `error` is the candidate's failure, not the program's."""
    if isinstance(error, CANDIDATE_FAILURES):
        return True
    return "ResourceExhausted" in type(error).__name__ or "OOM" in str(error)


@dataclasses.dataclass
class Evaluation:
    """The outcome of evaluating one candidate.

    Attributes:
        values: Dict, the (repaired) hyperparameter values.
        key: String, `candidate_key(values)`.
        status: `"trained"`, `"skipped"` (the precheck scored it without
            training) or `"failed"` (see `CANDIDATE_FAILURES`).
        accuracy: Float, the validation accuracy (a failed candidate scores
            0.0, like a hopeless one, so that every engine gets a number).
        expected_macs: Float (a failed candidate is charged its final exit's
            MACs).
        admissible: Boolean, whether both constraints hold.
        metrics: Dict, everything the evaluator measured (thresholds, exit
            fractions, static MACs, ...) or the precheck's answer.
        reason: Why it failed or was skipped (or `None`).
        seconds: Float, wall time of the evaluation.
        cached: Boolean, whether this answer came from the cache.
    """

    values: dict
    key: str
    status: str
    accuracy: float
    expected_macs: float
    admissible: bool
    metrics: dict
    reason: str = None
    seconds: float = 0.0
    cached: bool = False


class CachedEvaluation:
    """Evaluates candidates of a space once each, with a failure policy.

    `__call__(values)` repairs the values (`SearchSpace.repair`), serves a
    candidate seen before from the cache, else asks the evaluator's
    `precheck` (a candidate whose first exit alone is over `max_macs` is
    scored infeasible without training), else trains and scores it. A
    training that diverges, gives non-finite objectives or runs out of memory
    is a failed candidate, recorded and scored, never an exception; any other
    error propagates.

    Args:
        evaluator: A `CandidateEvaluator`.
        clear_session: Boolean, whether to call `keras.backend.clear_session()`
            after each training. Defaults to `False`.
        on_result: Optional callable `on_result(evaluation, request)` called
            after every request (e.g. to print progress).

    Attributes:
        log: List of `Evaluation`s, one per request, in order.
        requests, cache_hits, trained, skipped, failed: Integer counters.
        train_seconds: Float, time spent training and scoring.
    """

    def __init__(self, evaluator, clear_session=False, on_result=None):
        self.evaluator = evaluator
        self.clear_session = clear_session
        self.on_result = on_result
        self.cache = {}
        self.log = []
        self.requests = 0
        self.cache_hits = 0
        self.trained = 0
        self.skipped = 0
        self.failed = 0
        self.train_seconds = 0.0
        self.last_model = None

    @property
    def space(self):
        return self.evaluator.space

    def __call__(self, values):
        """Returns the `Evaluation` of a candidate (a copy marked `cached`
        when served from the cache). The trained model of the last fresh
        training is `last_model`."""
        values = self.space.repair(dict(values))
        key = candidate_key(values)
        self.requests += 1
        if key in self.cache:
            self.cache_hits += 1
            result = dataclasses.replace(self.cache[key], cached=True)
        else:
            result = self._evaluate(values, key)
            self.cache[key] = result
        self.log.append(result)
        if self.on_result is not None:
            self.on_result(result, self.requests)
        return result

    def _evaluate(self, values, key):
        start = time.time()
        evaluator = self.evaluator
        self.last_model = None
        outcome = evaluator.precheck(values)
        if outcome is not None:
            self.skipped += 1
            return self._result(
                values, key, "skipped", outcome["accuracy"],
                outcome["expected_macs"], outcome, outcome.get("skipped"), start,
            )
        try:
            metrics, model = evaluator(values)
            if not (
                math.isfinite(metrics["accuracy"])
                and math.isfinite(metrics["expected_macs"])
            ):
                raise FloatingPointError(
                    "non-finite objectives: accuracy="
                    f"{metrics['accuracy']}, "
                    f"expected_macs={metrics['expected_macs']}"
                )
        except Exception as error:  # noqa: BLE001 - the policy decides
            if not is_candidate_failure(error):
                raise
            self.failed += 1
            self.train_seconds += time.time() - start
            return self._result(
                values, key, "failed", 0.0,
                float(evaluator.static_costs(values)[-1]), {},
                f"{type(error).__name__}: {error}", start,
            )
        finally:
            if self.clear_session:
                keras.backend.clear_session()
        self.trained += 1
        self.train_seconds += time.time() - start
        self.last_model = model
        return self._result(
            values, key, "trained", metrics["accuracy"],
            metrics["expected_macs"], metrics, None, start,
        )

    def _result(self, values, key, status, accuracy, macs, metrics, reason, start):
        evaluator = self.evaluator
        return Evaluation(
            values=values,
            key=key,
            status=status,
            accuracy=float(accuracy),
            expected_macs=float(macs),
            admissible=is_admissible(
                accuracy, macs, evaluator.min_accuracy, evaluator.max_macs
            ),
            metrics=dict(metrics),
            reason=reason,
            seconds=time.time() - start,
        )

    def points(self, upto=None):
        """`(accuracy, expected_macs)` of the first `upto` requests."""
        log = self.log if upto is None else self.log[:upto]
        return [(e.accuracy, e.expected_macs) for e in log]
