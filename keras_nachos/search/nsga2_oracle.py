"""NSGA-II with Deb's constrained domination, as a Keras Tuner oracle.

The oracle keeps the Keras Tuner hooks, the search state and the generation
loop; the genome encoding is `genome`, the records `records`, the offspring
pre-selection `preselection` and the constrained ranking `pareto`.

Generation 0 is `population_size` random genomes. Each later generation breeds
`population_size` offspring from the survivors (`selTournamentDCD`, SBX
crossover, polynomial mutation); once all are evaluated, survival is
`selNSGA2(population + offspring, population_size)`. DEAP ranks through
`ConstrainedFitness.dominates`, so feasible candidates beat infeasible ones and
infeasible ones compete on their normalised violation.

Evaluation contract (what a tuner's `run_trial` must return): a dict with the
accuracy under `accuracy_key` and the expected MACs under `macs_key`. With the
default objective (`Objective(accuracy_key, "max")`) nothing else is needed;
MACs travel as an extra metric. With a list objective Keras Tuner also
requires a `"multi_objective"` key (its value is ignored here).
"""

import contextlib
import copy
import glob
import json
import math
import os
import random
import sys
import time

import keras_tuner
from deap import tools
from keras_tuner.engine import trial as trial_module

from keras_nachos.checks import check_callable
from keras_nachos.checks import check_float
from keras_nachos.checks import check_int
from keras_nachos.constraints import check_constraints
from keras_nachos.constraints import is_admissible
from keras_nachos.constraints import normalised_violation
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.search.genome import LOW
from keras_nachos.search.genome import UP
from keras_nachos.search.genome import GenomeCodec
from keras_nachos.search.pareto import admissible_hypervolume
from keras_nachos.search.pareto import constrained_fronts
from keras_nachos.search.pareto import _pareto_dominates
from keras_nachos.search.pareto import non_dominated
from keras_nachos.search.preselection import Individual
from keras_nachos.search.preselection import OffspringPreselection
from keras_nachos.search.records import ArchiveEntry
from keras_nachos.search.records import CandidateRecord
from keras_nachos.search.records import candidate_key
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically
from keras_nachos.search.trial_metrics import latest_metrics
from keras_nachos.search.trial_metrics import unflatten_details

# Fitness of a failed candidate: worse than any measured one.
FAILED_VIOLATION = math.inf
# A trial whose worker went silent this many times is recorded as failed.
MAX_SILENCES = 3

TrialStatus = trial_module.TrialStatus


def _random_state_to_json(state):
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def _random_state_from_json(state):
    version, internal, gauss_next = state
    return (version, tuple(internal), gauss_next)


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _last_line(message):
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


class NSGA2Oracle(keras_tuner.Oracle):
    """NSGA-II over a Keras Tuner search space, under accuracy/MAC constraints.

    Searches for admissible (accuracy >= `min_accuracy`, expected MACs <=
    `max_macs`) candidates trading accuracy against expected MACs. Candidates
    whose values were already evaluated are served from a cache and never
    trained twice; an optional `precheck` scores candidates without training
    (e.g. a network whose cheapest configuration already exceeds `max_macs`).

    The search state (population, offspring, archive, cache, random state) is
    part of the oracle's state, so a search killed at any moment resumes with
    `overwrite=False`: completed trials are kept, and a trial that was running
    is handed out again with the same values.

    `run_trial` must return a dict holding the accuracy under `accuracy_key`
    and the expected MACs under `macs_key`. A trial that raises, or whose
    metrics are missing or NaN, is recorded as failed (worse than any
    infeasible candidate) and the search goes on.

    Args:
        objective: Keras Tuner objective. Defaults to
            `keras_tuner.Objective(accuracy_key, "max")`, with MACs reported as
            an extra metric. A list objective works too, but then Keras Tuner
            requires `run_trial` to also return a `"multi_objective"` value.
            The ranking never uses Keras Tuner's sum of objectives.
        max_trials: Integer, the evaluation budget, counting cache hits and
            prechecked candidates. Defaults to
            `population_size * generations`.
        population_size: Integer, a positive multiple of 4 (DEAP's
            `selTournamentDCD` draws tournaments in fours). Defaults to `16`.
        generations: Optional integer, the number of generations including
            the random generation 0. At least one of `max_trials` and
            `generations` must be given.
        min_accuracy: Float in [0, 1), A_min. Defaults to `0.0`.
        max_macs: Positive float, M_max. Defaults to `float("inf")`.
        crossover_probability: Float in [0, 1], probability of SBX crossover
            for a pair of offspring. Defaults to `0.9`.
        mutation_probability: Float in [0, 1], per-gene probability of
            polynomial mutation. Defaults to `1 / number of genes`.
        eta_crossover: Float, SBX distribution index. Defaults to `15`.
        eta_mutation: Float, polynomial mutation distribution index.
            Defaults to `20`.
        accuracy_key: String, the metric name of the accuracy. Defaults to
            `"accuracy"`.
        macs_key: String, the metric name of the expected MACs. Defaults to
            `"expected_macs"`.
        repair: Optional callable `values -> values`, applied to the decoded
            values of every new genome (e.g. to switch on at least one early
            exit). It should be deterministic. The genome is re-encoded from
            the repaired values.
        precheck: Optional callable `values -> dict or None`. A dict
            (`{accuracy_key: ..., macs_key: ..., "skipped": reason}`) scores
            the candidate without training it.
        static_costs: Optional callable `values -> sequence of cumulative exit
            MACs` (known without training, e.g. from the MAC counter). Used
            by the pre-selection's surrogate of the expected MACs, whose
            predictions it also bounds (between the first and the last
            exit's cost).
        preselect: Integer, candidates bred per slot of a generation.
            Defaults to `1` (plain NSGA-II: every bred candidate is
            evaluated). With `k > 1`, `k * population_size` candidates are
            bred, screened by `precheck` and ranked by a surrogate, and
            `population_size` are evaluated (see `preselection`). Each
            candidate the pre-selection drops costs a `precheck` call (and
            one of `static_costs`), no training. Before there is anything
            to fit the surrogates to (generation 0), `static_costs` spreads
            the kept candidates over the MAC range instead.
        seed: Optional integer seed of the search.
        hyperparameters, allow_new_entries, tune_new_entries,
        max_retries_per_trial: As in `keras_tuner.Oracle`.
        max_consecutive_failed_trials: Integer, as in `keras_tuner.Oracle`.
            Defaults to no limit: failed candidates are scored, not fatal.
        trial_timeout: Optional positive number of seconds. With distributed
            workers, a running trial not heard of for that long (no
            `create_trial`, `update_trial` or `get_trial` call about it: a
            `NachosSearch` worker asks for its trial every few seconds while
            it trains) is taken from its worker and handed to the next one
            that asks; after it went silent `MAX_SILENCES` (3) times it is
            recorded as failed and the search goes on. The silent worker's
            id is forgotten, so the chief can end without it. Defaults to
            `None` (wait for ever, as Keras Tuner does).
        **kwargs: Passed to `keras_tuner.Oracle`.

    Example:

    ```python
    oracle = NSGA2Oracle(
        population_size=8, generations=3, min_accuracy=0.8, max_macs=2e6,
        seed=1,
    )
    # tuner = MyTuner(oracle=oracle, hypermodel=build, directory=...)
    # tuner.search(...)  # run_trial returns {"accuracy": a, "expected_macs": m}
    # oracle.admissible_front()
    ```
    """

    def __init__(
        self,
        objective=None,
        max_trials=None,
        population_size=16,
        generations=None,
        min_accuracy=0.0,
        max_macs=float("inf"),
        crossover_probability=0.9,
        mutation_probability=None,
        eta_crossover=15,
        eta_mutation=20,
        accuracy_key="accuracy",
        macs_key="expected_macs",
        repair=None,
        precheck=None,
        static_costs=None,
        preselect=1,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=None,
        trial_timeout=None,
        **kwargs,
    ):
        multiple_of_4 = (
            "a positive multiple of 4 (`selTournamentDCD` draws tournaments "
            "in fours)"
        )
        _check_positive_int("population_size", population_size, multiple_of_4)
        if population_size % 4:
            raise invalid_value(
                "population_size", multiple_of_4, population_size
            )
        if generations is not None:
            _check_positive_int(
                "generations", generations, "a positive integer"
            )
        if max_trials is not None:
            _check_positive_int("max_trials", max_trials, "a positive integer")
        if max_trials is None and generations is None:
            raise invalid_value(
                "max_trials",
                "a positive integer when `generations` is not given",
                max_trials,
            )
        min_accuracy, max_macs = check_constraints(
            min_accuracy, max_macs, required=True
        )
        _check_probability("crossover_probability", crossover_probability)
        if mutation_probability is not None:
            _check_probability("mutation_probability", mutation_probability)
        for name, eta in (
            ("eta_crossover", eta_crossover),
            ("eta_mutation", eta_mutation),
        ):
            check_float(name, eta, low=0.0, expected="a non-negative number")
        for name, key in (
            ("accuracy_key", accuracy_key),
            ("macs_key", macs_key),
        ):
            if not isinstance(key, str):
                raise invalid_type(name, "a string", key)
        _check_positive_int("preselect", preselect, "a positive integer")
        if trial_timeout is not None:
            check_float("trial_timeout", trial_timeout, low=0.0,
                        expected="a positive number of seconds or None")
            if not trial_timeout > 0:
                raise invalid_value(
                    "trial_timeout", "a positive number of seconds or None",
                    trial_timeout,
                )
        for name, fn in (
            ("repair", repair),
            ("precheck", precheck),
            ("static_costs", static_costs),
        ):
            check_callable(name, fn)

        if max_trials is None:
            max_trials = population_size * generations
        if objective is None:
            objective = keras_tuner.Objective(accuracy_key, "max")
        if max_consecutive_failed_trials is None:
            max_consecutive_failed_trials = sys.maxsize
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            **kwargs,
        )
        self.population_size = population_size
        self.generations = generations
        self.min_accuracy = min_accuracy
        self.max_macs = max_macs
        self.crossover_probability = crossover_probability
        self.mutation_probability = mutation_probability
        self.eta_crossover = eta_crossover
        self.eta_mutation = eta_mutation
        self.accuracy_key = accuracy_key
        self.macs_key = macs_key
        self.repair = repair
        self.precheck = precheck
        self.static_costs = static_costs
        self.preselect = preselect
        self._preselection = OffspringPreselection(
            population_size, min_accuracy, max_macs, precheck, static_costs
        )
        self.trial_timeout = trial_timeout
        # Seconds `create_trial` sleeps before answering IDLE (the generation
        # is all handed out; only with distributed workers). `NachosSearch`
        # workers back off on their side instead: a sleep here would hold
        # the chief's single gRPC thread. For other tuners, set it > 0.
        self.idle_sleep = 0.0
        # Trial id -> `time.monotonic()` when last heard of (not saved: a
        # restarted chief gives every running trial a full timeout).
        self._heard = {}
        self._silences = {}
        # Optional callable `trial -> None`, called once a trial's result is
        # recorded (a distributed chief prints its progress line there).
        self.trial_ended_callback = None
        # Trial id -> [{"tuner_id", "handed_out", "ended", "predicted_macs"}]
        # (`time.time()` seconds), this process's trials only (see `timeline`).
        self._timeline = {}

        # Keras Tuner turns `seed=None` (and `seed=0`) into a random seed.
        search_seed = seed if seed is not None else self.seed
        self._random_state = _random_state_to_json(
            random.Random(search_seed).getstate()
        )
        self._started = False
        self._finished = False
        # The genome encoding, fixed when generation 0 is drawn.
        self._codec = GenomeCodec([])
        self._generation = 0
        self._population = []  # CandidateRecords
        self._offspring = []  # CandidateRecords
        # Candidate key -> {"fitness": [acc, macs] or None, "failed": bool}.
        self._cache = {}
        self._archive = []  # ArchiveEntries
        self._hypervolume_history = []
        self._issued = 0
        self._total_evaluations = 0
        # Bred candidates the pre-selection dropped without evaluating them.
        self._screened = 0
        self._screened_infeasible = 0
        # Whether `populate_space` changed the state (see `create_trial`).
        self._dirty = False

    # ------------------------------------------------------------------
    # Public results.

    @property
    def archive(self):
        """List of dicts, one per unique evaluated candidate, in order.

        Keys (see `ArchiveEntry`): `trial_id` (None for prechecked
        candidates), `values`, `accuracy`, `macs` (None when failed),
        `feasible`, `violation` (normalised; `inf` when failed),
        `generation`, `status` (`"completed"`, `"failed"` or `"skipped"` for
        prechecked candidates) and `reason` (why it failed or was skipped,
        else None).
        """
        return [entry.to_json() for entry in self._archive]

    @keras_tuner.synchronized
    def serving_status(self):
        """`(done, waiting)` for a chief: whether the search is finished with
        no trial running, and how many workers have not been told to stop."""
        done = (self._finished or self.remaining_trials() == 0) and not (
            self.ongoing_trials)
        return done, len(self.tuner_ids)

    def timeline(self):
        """When each trial of this process's run was handed out and ended.

        A list of dicts (`trial_id`, `tuner_id`, `generation`, `handed_out`,
        `ended`: `time.time()` seconds; `ended` is `None` for a run taken
        from a worker that went away; `predicted_macs`: the training cost
        the hand-out order used, or `None`), in hand-out order. What
        `benchmarks/distributed_search.py` measures idle shares on.
        """
        generations = {e.trial_id: e.generation for e in self._archive}
        runs = [
            dict(run, trial_id=trial_id, generation=generations.get(trial_id))
            for trial_id, trial_runs in self._timeline.items()
            for run in trial_runs
        ]
        return sorted(runs, key=lambda r: r["handed_out"])

    def record_for(self, trial_id):
        """Returns the archive entry of a trial (a dict), or None if unknown."""
        for entry in self._archive:
            if entry.trial_id == trial_id:
                return entry.to_json()
        return None

    @property
    def unique_evaluations(self):
        """Number of distinct candidates scored (trained, failed or skipped)."""
        return len(self._archive)

    @property
    def total_evaluations(self):
        """Number of candidates scored, counting cache hits."""
        return self._total_evaluations

    @property
    def hypervolume_history(self):
        """Admissible hypervolume of all completed trials, per generation."""
        return list(self._hypervolume_history)

    @property
    def screened(self):
        """Dict: bred candidates the pre-selection dropped unevaluated.

        `total` dropped, of which `infeasible` were rejected by the precheck
        (the others ranked below the kept ones on the surrogate).
        """
        return {"total": self._screened, "infeasible": self._screened_infeasible}

    @property
    def generation(self):
        """Index of the generation being evaluated."""
        return self._generation

    @property
    def finished(self):
        """Whether the last generation (or the budget) is done."""
        return self._finished

    def _completed(self):
        return [e for e in self._archive if e.status == "completed"]

    def pareto_front(self):
        """Completed candidates no other completed one Pareto-dominates.

        Plain dominance on (accuracy max, MACs min), constraints ignored.
        Sorted by accuracy, best first.
        """
        front = non_dominated(self._completed(), key=lambda e: (e.accuracy, e.macs))
        front = sorted(front, key=lambda e: (-e.accuracy, e.macs))
        return [e.to_json() for e in front]

    def admissible_front(self):
        """The Pareto front of the admissible completed candidates.

        Every returned candidate satisfies both constraints. Sorted by
        accuracy, best first.
        """
        feasible = [e for e in self._completed() if e.feasible]
        front = non_dominated(feasible, key=lambda e: (e.accuracy, e.macs))
        front = sorted(front, key=lambda e: (-e.accuracy, e.macs))
        return [e.to_json() for e in front]

    def may_join_admissible_front(self, accuracy, macs):
        """Whether a new admissible result `(accuracy, macs)` could end on
        the admissible front: no completed admissible candidate
        Pareto-dominates it (the completed set only grows, so one dominated
        now never joins it)."""
        point = (float(accuracy), float(macs))
        return not any(
            _pareto_dominates((e.accuracy, e.macs), point)
            for e in self._completed() if e.feasible
        )

    def admissible_hypervolume(self):
        """Admissible hypervolume of all completed candidates so far."""
        return admissible_hypervolume(
            [(e.accuracy, e.macs) for e in self._completed()],
            self.min_accuracy,
            self.max_macs,
        )

    # ------------------------------------------------------------------
    # Keras Tuner hooks.

    def create_trial(self, tuner_id):
        trial = self._create_trial_locked(tuner_id)
        if trial.status == TrialStatus.IDLE and self.idle_sleep > 0:
            # Outside the oracle's lock, so results can come in.
            time.sleep(self.idle_sleep)
        return trial

    @keras_tuner.synchronized
    def _create_trial_locked(self, tuner_id):
        self._dirty = False
        self._reassign_silent_trials()
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.RUNNING:
            self._heard[trial.trial_id] = time.monotonic()
            record = next(
                (r for r in self._offspring if r.trial_id == trial.trial_id),
                None,
            )
            cost = None if record is None else self._predicted_cost(record)
            self._timeline.setdefault(trial.trial_id, []).append(
                {"tuner_id": tuner_id, "handed_out": time.time(), "ended": None,
                 "predicted_macs": cost})
        elif self._dirty:
            # `Oracle.create_trial` saves only RUNNING trials, but cache hits
            # and prechecks may have advanced the search.
            self.save()
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._heard[trial_id] = time.monotonic()
        return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def get_trial(self, trial_id):
        """Returns the trial; a worker asking for its running trial says it
        is alive (the heartbeat `trial_timeout` listens to)."""
        if any(t.trial_id == trial_id for t in self.ongoing_trials.values()):
            self._heard[trial_id] = time.monotonic()
        return super().get_trial(trial_id)

    def _reassign_silent_trials(self):
        """Takes running trials from workers silent for `trial_timeout`."""
        if self.trial_timeout is None:
            return
        now = time.monotonic()
        for tuner_id, trial in list(self.ongoing_trials.items()):
            last = self._heard.setdefault(trial.trial_id, now)
            if now - last > self.trial_timeout:
                self.release_tuner(
                    tuner_id,
                    f"was silent for {now - last:.0f} s (trial_timeout="
                    f"{self.trial_timeout:g})",
                )

    @keras_tuner.synchronized
    def release_tuner(self, tuner_id, why="went away"):
        """Forgets a worker that went away and hands its trial to the next.

        The trial goes to Keras Tuner's retry queue (the next `create_trial`
        hands it out again, same id and values) and the worker's id is
        forgotten, so the chief can end without it; a trial whose workers
        went away `MAX_SILENCES` times is ended as failed. Called for silent
        workers (`trial_timeout`) and by `keras-nachos search --workers N`
        when one of its worker processes exits.

        Returns:
            The id of the trial taken back, or `None`.
        """
        self.tuner_ids.discard(tuner_id)
        trial = self.ongoing_trials.pop(tuner_id, None)
        if trial is None:
            return None
        self._heard.pop(trial.trial_id, None)
        silences = self._silences.get(trial.trial_id, 0) + 1
        self._silences[trial.trial_id] = silences
        if silences >= MAX_SILENCES:
            trial.status = TrialStatus.FAILED
            trial.message = (
                f"Its worker went away {silences} times (last: {tuner_id} "
                f"{why})."
            )
            self.end_trial(trial)
        else:
            print(
                f"Trial {trial.trial_id}: its worker {tuner_id} {why}; "
                "handing it to the next worker.",
                flush=True,
            )
            self._retry_queue.append(trial.trial_id)
            self.save()
        return trial.trial_id

    def populate_space(self, trial_id):
        """Hands out the next genome of the generation that needs training.

        Cached and prechecked genomes are scored on the spot. In a single
        process this never returns IDLE: the previous trial has ended before
        the next is requested, so either a genome is queued or the
        generation is complete and the next one is bred here. IDLE only
        happens with distributed workers, when every genome of the generation
        is handed out and some are still running.
        """
        if not self._started:
            self._start()
        while True:
            if self._finished or self._budget_spent():
                return {"status": TrialStatus.STOPPED}
            record = self._next_queued()
            if record is None:
                if self._requeue_orphans():
                    continue
                return {"status": TrialStatus.IDLE}
            self._issued += 1
            record.issue = self._issued
            self._dirty = True
            if self._score_without_training(record):
                self._maybe_end_generation()
                continue
            record.state = "pending"
            record.trial_id = trial_id
            return {"status": TrialStatus.RUNNING, "values": dict(record.values)}

    def _next_queued(self):
        """The queued record to hand out next: the costliest to train first.

        With several workers a generation ends when its last trial does, so
        the generation is handed out longest first (the classic LPT rule for
        list scheduling): the short trials fill the workers' gaps at the
        barrier instead of a long one starting last. The training cost is
        predicted by the candidate's static MACs (its full network, as
        `static_costs` gives them, memoised). The order does not change any
        result (each candidate trains with its own seed and NSGA-II ranks
        the generation as a whole); where the trial budget ends inside this
        generation, or no `static_costs` is known, the bred order is kept,
        so a truncated generation is not biased toward large candidates.
        """
        queued = [r for r in self._offspring if r.state == "queued"]
        if len(queued) < 2:
            return queued[0] if queued else None
        if self.max_trials is not None and (
            self.max_trials - self._issued < len(queued)
        ):
            return queued[0]
        costs = [self._predicted_cost(r) for r in queued]
        if any(c is None for c in costs):
            return queued[0]
        # Ties keep the bred order.
        return queued[max(range(len(queued)), key=lambda i: (costs[i], -i))]

    def _predicted_cost(self, record):
        """The record's full-network static MACs, or None if unknown."""
        if record.key in self._cache:
            return 0.0  # Served from the cache: costs nothing.
        costs = self._preselection.costs(record.key, record.values)
        return float(costs[-1]) if costs else None

    def score_trial(self, trial):
        """Sets `trial.score` to the trial's accuracy (NaN if unusable).

        The ranking of trials is `get_best_trials`'; a NaN score makes Keras
        Tuner mark the trial invalid (then failed, or retried).
        """
        accuracy, macs, step = self._read_objectives(trial)
        if math.isfinite(accuracy) and math.isfinite(macs):
            trial.score = accuracy
            trial.best_step = step
            return
        trial.score = math.nan
        trial.best_step = step
        trial.message = (
            f"Missing or NaN objectives: {self.accuracy_key}={accuracy}, "
            f"{self.macs_key}={macs}."
        )

    @keras_tuner.synchronized
    def end_trial(self, trial):
        if trial.trial_id in self.end_order:
            # A late end of a trial that ended already (it was handed to
            # another worker, or retried after a chief restart, and its
            # first worker was only slow): ignored, and its tuner is free.
            for tuner_id, running in list(self.ongoing_trials.items()):
                if running.trial_id == trial.trial_id:
                    self.ongoing_trials.pop(tuner_id)
            return
        # Ended by its first worker while queued for another: not again.
        self._retry_queue = [t for t in self._retry_queue if t != trial.trial_id]
        tuner_id = next(
            (t for t, running in self.ongoing_trials.items()
             if running.trial_id == trial.trial_id),
            None,
        )
        super().end_trial(trial)
        self._heard.pop(trial.trial_id, None)
        for run in self._timeline.get(trial.trial_id, []):
            if run["tuner_id"] == tuner_id and run["ended"] is None:
                run["ended"] = time.time()
        trial = self.trials[trial.trial_id]
        if trial.status not in (TrialStatus.COMPLETED, TrialStatus.FAILED):
            return  # INVALID: Keras Tuner retries it.
        records = [
            r
            for r in self._offspring
            if r.state == "pending" and r.trial_id == trial.trial_id
        ]
        if not records:
            return
        details = {}
        if trial.status == TrialStatus.COMPLETED:
            accuracy, macs, _ = self._read_objectives(trial)
            outcome = {"fitness": [accuracy, macs], "failed": False}
            status, reason = "completed", None
            details = unflatten_details(latest_metrics(trial))
        else:
            outcome = {"fitness": None, "failed": True}
            status = "failed"
            reason = _last_line(trial.message) or "The trial failed."
        self._record_evaluation(
            records[0], outcome, status, reason, trial_id=trial.trial_id,
            details=details, tuner_id=tuner_id,
        )
        for record in records[1:]:
            self._assign(record, outcome)
        self._maybe_end_generation()
        # `Oracle.end_trial` saved before this trial was learnt.
        self.save()
        if self.trial_ended_callback is not None:
            self.trial_ended_callback(trial)

    def get_best_trials(self, num_trials=1):
        """Returns the best trials, by constrained rank.

        First the admissible Pareto front sorted by accuracy (best first),
        then the other completed trials front by front of Deb's constrained
        non-dominated sorting (accuracy-sorted within a front), then trials
        that did not complete.
        """
        completed = [
            t for t in self.trials.values() if t.status == TrialStatus.COMPLETED
        ]
        objectives = {
            t.trial_id: self._read_objectives(t)[:2] for t in completed
        }
        fronts = constrained_fronts(
            completed,
            self.min_accuracy,
            self.max_macs,
            key=lambda t: objectives[t.trial_id],
        )
        ranked = []
        for front in fronts:
            ranked.extend(
                sorted(
                    front,
                    key=lambda t: (
                        -objectives[t.trial_id][0],
                        objectives[t.trial_id][1],
                        t.trial_id,
                    ),
                )
            )
        if len(ranked) < num_trials:
            ranked.extend(
                t
                for t in self.trials.values()
                if t.status != TrialStatus.COMPLETED
            )
        return ranked[:num_trials]

    def remaining_trials(self):
        return (
            max(0, self.max_trials - self._issued) if self.max_trials else None
        )

    def get_state(self):
        state = super().get_state()
        state["nsga2"] = {
            "started": self._started,
            "finished": self._finished,
            "gene_positions": list(self._codec.gene_positions),
            "gene_names": self._codec.gene_names(self.hyperparameters)
            if self._started
            else [],
            "generation": self._generation,
            "population": [r.to_json() for r in self._population],
            "offspring": [r.to_json() for r in self._offspring],
            "cache": self._cache,
            "archive": [e.to_json() for e in self._archive],
            "hypervolume_history": self._hypervolume_history,
            "issued": self._issued,
            "total_evaluations": self._total_evaluations,
            "screened": self._screened,
            "screened_infeasible": self._screened_infeasible,
            "random_state": self._random_state,
        }
        # A deep copy through JSON, so the caller cannot alias live records.
        return json.loads(json.dumps(state))

    # ------------------------------------------------------------------
    # State files.

    def save(self):
        """Writes `oracle.json` atomically, keeping the previous one beside it.

        (Keras Tuner writes it in place: a kill in the middle of the write
        would leave half a file.)
        """
        write_json_atomically(
            self._get_oracle_fname(), self.get_state(), keep_previous=True
        )

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        write_json_atomically(path, trial.get_state())

    def reload(self):
        """Reloads the search from its folder, or says which file is damaged.

        What Keras Tuner's `Oracle.reload` does (the trials from their own
        files, then the oracle's state; running trials are retried), with
        every file read through `read_json`, so a damaged one is named with
        what to do. A trial folder that was deleted is rebuilt from the
        archive in `oracle.json` when its result is there (nothing is lost)
        and its candidate is trained again otherwise.
        """
        oracle_file = self._get_oracle_fname()
        state = read_json(
            oracle_file,
            what="the search's generations, cache and archive",
            remedy=(
                f"the state one save earlier is in {oracle_file}.previous: "
                "copy it over this file and resume (at most the last trial "
                "is trained again), or start over with overwrite=True "
                "(`--overwrite`)"
            ),
        )
        self.trials = {}
        pattern = os.path.join(self._project_dir, "trial_*", "trial.json")
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
            self.trials[trial.trial_id] = trial
        self._rebuild_missing_trials(state)
        self.set_state(state)
        # As Keras Tuner does: trials that were running are retried.
        for trial in self.ongoing_trials.values():
            self._retry_queue.append(trial.trial_id)
        self.ongoing_trials = {}

    def _rebuild_missing_trials(self, state):
        """Recreates deleted trial files from the archive (in `state`)."""
        archive = {
            e["trial_id"]: e
            for e in state.get("nsga2", {}).get("archive", [])
            if e.get("trial_id") is not None
        }
        known = set(self.trials)
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
            hps = keras_tuner.HyperParameters.from_config(
                state["hyperparameters"]
            )
            hps.values = dict(entry["values"])
            failed = entry["status"] == "failed"
            trial = trial_module.Trial(
                hps,
                trial_id=trial_id,
                status=TrialStatus.FAILED if failed else TrialStatus.COMPLETED,
                message=entry.get("reason"),
            )
            if not failed:
                trial.metrics.update(self.accuracy_key, entry["accuracy"])
                trial.metrics.update(self.macs_key, entry["macs"])
                trial.score = entry["accuracy"]
            self.trials[trial_id] = trial
            self._save_trial(trial)

    def set_state(self, state):
        # `HyperParameters.from_config` (in `Oracle.set_state`) rewrites the
        # conditions of the config it is given: keep the caller's state intact.
        state = copy.deepcopy(state)
        super().set_state(state)
        mine = state["nsga2"]
        self._started = mine["started"]
        self._finished = mine["finished"]
        self._codec = GenomeCodec(mine["gene_positions"])
        self._generation = mine["generation"]
        self._population = [CandidateRecord.from_json(r) for r in mine["population"]]
        self._offspring = [CandidateRecord.from_json(r) for r in mine["offspring"]]
        self._cache = mine["cache"]
        self._archive = [ArchiveEntry.from_json(e) for e in mine["archive"]]
        self._hypervolume_history = mine["hypervolume_history"]
        self._issued = mine["issued"]
        self._total_evaluations = mine["total_evaluations"]
        self._screened = mine.get("screened", 0)
        self._screened_infeasible = mine.get("screened_infeasible", 0)
        self._random_state = mine["random_state"]

    # ------------------------------------------------------------------
    # Generation 0 and new records.

    def _start(self):
        self._codec = GenomeCodec.for_space(self.hyperparameters)
        if not len(self._codec):
            raise ValueError(
                "`NSGA2Oracle` found no tunable hyperparameter in the search "
                "space when the search started. Declare the space up front: "
                "pass `hyperparameters=` to the oracle, or a hypermodel whose "
                "`build(hp)` declares every hyperparameter (hyperparameters "
                "first met inside `run_trial` cannot become genes)."
            )
        self._dirty = True

        def draw():
            with self._own_random():
                return [
                    [random.uniform(LOW, UP) for _ in range(len(self._codec))]
                    for _ in range(self.population_size * self.preselect)
                ]

        if self.preselect == 1:
            self._offspring = [self._new_record(g) for g in draw()]
        else:
            self._offspring = self._preselect(draw)
        self._started = True

    def _new_record(self, genome):
        genome, values = self._codec.decode_repaired(
            self.hyperparameters, genome, self.repair
        )
        return CandidateRecord(
            genome=genome,
            values=values,
            key=candidate_key(values),
            generation=self._generation,
        )

    # ------------------------------------------------------------------
    # Evaluation bookkeeping.

    def _budget_spent(self):
        return self.max_trials is not None and self._issued >= self.max_trials

    def _score_without_training(self, record):
        """Scores a record from the cache or the precheck; True if scored."""
        cached = self._cache.get(record.key)
        if cached is not None:
            self._assign(record, cached)
            return True
        in_flight = next(
            (
                r
                for r in self._offspring
                if r.state == "pending" and r.key == record.key
            ),
            None,
        )
        if in_flight is not None:  # Distributed only: wait on that trial.
            record.state = "pending"
            record.trial_id = in_flight.trial_id
            return True
        outcome = self._preselection.precheck_outcome(record)
        if outcome is None:
            return False
        fitness = None
        if isinstance(outcome, dict):
            fitness = [
                _as_float(outcome.get(self.accuracy_key)),
                _as_float(outcome.get(self.macs_key)),
            ]
        if fitness is None or not all(math.isfinite(f) for f in fitness):
            raise invalid_value(
                "precheck",
                "a callable returning None or a dict with numbers under "
                f"'{self.accuracy_key}' and '{self.macs_key}'",
                outcome,
            )
        reason = outcome.get("skipped") or "precheck"
        self._record_evaluation(
            record, {"fitness": fitness, "failed": False}, "skipped", str(reason)
        )
        return True

    def _record_evaluation(self, record, outcome, status, reason, trial_id=None,
                           details=None, tuner_id=None):
        self._cache[record.key] = outcome
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
        entry = (
            ArchiveEntry(
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
        )
        # In the order candidates were handed out, whichever worker finished
        # first: the surrogate and the fronts see the results as one process
        # would (entries of older state files have no issue: kept first).
        position = len(self._archive)
        if entry.issue is not None:
            while position > 0 and (
                self._archive[position - 1].issue is not None
                and self._archive[position - 1].issue > entry.issue
            ):
                position -= 1
        self._archive.insert(position, entry)
        self._assign(record, outcome)

    def _assign(self, record, outcome):
        record.assign(outcome)
        self._total_evaluations += 1

    def _requeue_orphans(self):
        """Requeues pending records whose trial no tuner is running.

        Never needed after a normal resume (Keras Tuner re-issues the trials
        that were running before `populate_space` is called); it guards the
        single-process loop against spinning on IDLE after an odd state.
        """
        live = {t.trial_id for t in self.ongoing_trials.values()}
        live.update(self._retry_queue)
        orphans = [
            r
            for r in self._offspring
            if r.state == "pending" and r.trial_id not in live
        ]
        for record in orphans:
            self._dirty = True
            record.state = "queued"
            record.trial_id = None
            self._issued -= 1
        return bool(orphans)

    def _read_objectives(self, trial):
        """Returns `(accuracy, macs, step)` of a trial (NaN where missing)."""
        values, step = [], 0
        for name in (self.accuracy_key, self.macs_key):
            if trial.metrics.exists(name):
                history = trial.metrics.get_history(name)
                values.append(
                    _as_float(history[-1].mean()) if history else math.nan
                )
                if history:
                    step = history[-1].step
            else:
                values.append(math.nan)
        return values[0], values[1], step

    # ------------------------------------------------------------------
    # Generations.

    def _individual(self, record):
        individual = Individual(record.genome, record)
        if record.failed:
            individual.fitness.values = (0.0, 0.0)
            individual.fitness.violation = FAILED_VIOLATION
        else:
            accuracy, macs = record.fitness
            individual.fitness.values = (accuracy, macs)
            individual.fitness.violation = normalised_violation(
                accuracy, macs, self.min_accuracy, self.max_macs
            )
        return individual

    def _maybe_end_generation(self):
        if not self._offspring or any(r.state != "done" for r in self._offspring):
            return
        union = [
            self._individual(r) for r in self._population + self._offspring
        ]
        with self._own_random():
            survivors = tools.selNSGA2(
                union, self.population_size, nd="standard"
            )
        self._population = [individual.record for individual in survivors]
        self._hypervolume_history.append(self.admissible_hypervolume())
        self._generation += 1
        self._offspring = []
        if (
            self.generations is not None
            and self._generation >= self.generations
        ) or self._budget_spent():
            self._finished = True
            return
        self._offspring = self._breed()

    def _breed(self):
        parents = [self._individual(r) for r in self._population]
        indpb = self.mutation_probability
        if indpb is None:
            indpb = 1.0 / max(1, len(self._codec))
        with self._own_random():
            # Crowding distances for the tournament, over the parents' fronts.
            parents = tools.selNSGA2(parents, len(parents), nd="standard")

        def breed():
            children = []
            with self._own_random():
                for _ in range(self.preselect):
                    chosen = tools.selTournamentDCD(parents, len(parents))
                    brood = [Individual(list(parent)) for parent in chosen]
                    for first, second in zip(brood[::2], brood[1::2]):
                        if random.random() <= self.crossover_probability:
                            tools.cxSimulatedBinaryBounded(
                                first, second, eta=self.eta_crossover,
                                low=LOW, up=UP,
                            )
                        for child in (first, second):
                            tools.mutPolynomialBounded(
                                child,
                                eta=self.eta_mutation,
                                low=LOW,
                                up=UP,
                                indpb=indpb,
                            )
                    children.extend(brood)
            return children

        if self.preselect == 1:
            return self._distinct_records(breed())
        return self._preselect(breed)

    def _preselect(self, make_genomes):
        """`population_size` records of the genomes `make_genomes()` breeds."""
        seen = set()
        scratch = self.hyperparameters.copy()
        chosen, dropped, dropped_infeasible = self._preselection.select(
            lambda: self._distinct_records(make_genomes(), seen=seen),
            self._completed(),
            lambda key, values: self._codec.features(scratch, values),
            self._own_random,
        )
        self._screened += dropped
        self._screened_infeasible += dropped_infeasible
        return chosen

    def _distinct_records(self, children, max_retries=20, seen=None):
        """Records of the children, re-mutating those already evaluated.

        A child whose decoded values were evaluated before (or by a sibling)
        would only be served from the cache and spend budget on nothing new:
        it gets one gene reset uniformly at random (what a 2- or 3-way choice
        needs to change at all) until its values are new, up to
        `max_retries` times.
        """
        if seen is None:
            seen = set()
        seen.update(self._cache)
        seen.update(r.key for r in self._population)
        records = []
        for child in children:
            record = self._new_record(list(child))
            for _ in range(max_retries):
                if record.key not in seen:
                    break
                with self._own_random():
                    child[random.randrange(len(child))] = random.uniform(LOW, UP)
                record = self._new_record(list(child))
            seen.add(record.key)
            records.append(record)
        return records

    @contextlib.contextmanager
    def _own_random(self):
        """Runs DEAP (which draws from `random`) on the search's own stream."""
        outer = random.getstate()
        random.setstate(_random_state_from_json(self._random_state))
        try:
            yield
        finally:
            self._random_state = _random_state_to_json(random.getstate())
            random.setstate(outer)


def _check_positive_int(name, value, expected):
    check_int(name, value, min_value=1, expected=expected)


def _check_probability(name, value):
    check_float(name, value, 0.0, 1.0, expected="a float between 0 and 1")
