"""NSGA-II with Deb's constrained domination, as a Keras Tuner oracle.

A thin adapter: the generations are `Population`'s, the results and fronts
`Archive`'s, the hand-out order `scheduling`'s and the worker timeouts
`FaultTolerantOracle`'s; this module maps them on Keras Tuner's hooks
(`populate_space`, `end_trial` through `trial_ended`, `score_trial`,
`get_best_trials`, `get_state`/`set_state`, `reload`).

Evaluation contract (what a tuner's `run_trial` must return): a dict with the
accuracy under `accuracy_key` and the expected MACs under `macs_key`. With the
default objective (`Objective(accuracy_key, "max")`) nothing else is needed;
MACs travel as an extra metric. With a list objective Keras Tuner also
requires a `"multi_objective"` key (its value is ignored here).
"""

import copy
import json
import math
import sys

import keras_tuner
from keras_tuner.engine import trial as trial_module

from keras_nachos.checks import check_callable
from keras_nachos.checks import check_int
from keras_nachos.constraints import check_constraints
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.search.distribute.fault_tolerance import FaultTolerantOracle
from keras_nachos.search.nsga2 import trial_files
from keras_nachos.search.nsga2.archive import Archive
from keras_nachos.search.nsga2.population import Population
from keras_nachos.search.nsga2.population import check_population_arguments
from keras_nachos.search.nsga2.preselection import OffspringPreselection
from keras_nachos.search.nsga2.scheduling import longest_first
from keras_nachos.search.pareto import constrained_ranking
from keras_nachos.search.state_files import write_json_atomically
from keras_nachos.search.trial_metrics import as_float
from keras_nachos.search.trial_metrics import last_line
from keras_nachos.search.trial_metrics import latest_metrics
from keras_nachos.search.trial_metrics import read_objectives
from keras_nachos.search.trial_metrics import unflatten_details

TrialStatus = trial_module.TrialStatus


class NSGA2Oracle(FaultTolerantOracle):
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
            exit's cost), and by the longest-first hand-out order.
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
        trial_timeout: Optional positive number of seconds: with distributed
            workers, a running trial not heard of for that long is handed
            to the next worker (see `FaultTolerantOracle`). Defaults to
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
        check_population_arguments(
            population_size, generations, crossover_probability,
            mutation_probability, eta_crossover, eta_mutation, preselect,
        )
        if max_trials is not None:
            check_int("max_trials", max_trials, min_value=1,
                      expected="a positive integer")
        if max_trials is None and generations is None:
            raise invalid_value(
                "max_trials",
                "a positive integer when `generations` is not given",
                max_trials,
            )
        min_accuracy, max_macs = check_constraints(
            min_accuracy, max_macs, required=True
        )
        for name, key in (
            ("accuracy_key", accuracy_key),
            ("macs_key", macs_key),
        ):
            if not isinstance(key, str):
                raise invalid_type(name, "a string", key)
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
            trial_timeout=trial_timeout,
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
        # Keras Tuner turns `seed=None` (and `seed=0`) into a random seed.
        self._population = Population(
            population_size, generations, min_accuracy, max_macs,
            crossover_probability, mutation_probability, eta_crossover,
            eta_mutation, repair, self._preselection, preselect,
            seed=seed if seed is not None else self.seed,
        )
        self._archive = Archive(min_accuracy, max_macs)
        # Candidates handed out (trials, cache hits and prechecks).
        self._issued = 0
        # Whether `populate_space` changed the state (then it saves).
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
        return [entry.to_json() for entry in self._archive.entries]

    def record_for(self, trial_id):
        """Returns the archive entry of a trial (a dict), or None if unknown."""
        entry = self._archive.entry_for(trial_id)
        return None if entry is None else entry.to_json()

    @property
    def unique_evaluations(self):
        """Number of distinct candidates scored (trained, failed or skipped)."""
        return len(self._archive)

    @property
    def total_evaluations(self):
        """Number of candidates scored, counting cache hits."""
        return self._archive.total_evaluations

    @property
    def hypervolume_history(self):
        """Admissible hypervolume of all completed trials, per generation."""
        return list(self._archive.hypervolume_history)

    @property
    def screened(self):
        """Dict: bred candidates the pre-selection dropped unevaluated.

        `total` dropped, of which `infeasible` were rejected by the precheck
        (the others ranked below the kept ones on the surrogate).
        """
        return {"total": self._population.screened,
                "infeasible": self._population.screened_infeasible}

    @property
    def generation(self):
        """Index of the generation being evaluated."""
        return self._population.generation

    @property
    def finished(self):
        """Whether the last generation (or the budget) is done."""
        return self._population.finished

    def pareto_front(self):
        """Completed candidates no other completed one Pareto-dominates.

        Plain dominance on (accuracy max, MACs min), constraints ignored.
        Sorted by accuracy, best first.
        """
        return [e.to_json() for e in self._archive.pareto_front()]

    def admissible_front(self):
        """The Pareto front of the admissible completed candidates.

        Every returned candidate satisfies both constraints. Sorted by
        accuracy, best first.
        """
        return [e.to_json() for e in self._archive.admissible_front()]

    def may_join_admissible_front(self, accuracy, macs):
        """Whether a new admissible result `(accuracy, macs)` could end on
        the admissible front (see `Archive.may_join_admissible_front`)."""
        return self._archive.may_join_admissible_front(accuracy, macs)

    def admissible_hypervolume(self):
        """Admissible hypervolume of all completed candidates so far."""
        return self._archive.admissible_hypervolume()

    # ------------------------------------------------------------------
    # Keras Tuner hooks.

    def populate_space(self, trial_id):
        """Hands out the next genome of the generation that needs training.

        Cached and prechecked genomes are scored on the spot. In a single
        process this never returns IDLE: the previous trial has ended before
        the next is requested, so either a genome is queued or the
        generation is complete and the next one is bred here. IDLE only
        happens with distributed workers, when every genome of the generation
        is handed out and some are still running.
        """
        self._dirty = False
        population = self._population
        if not population.started:
            self._dirty = True
            population.start(self.hyperparameters, self._archive)
        while True:
            if population.finished or self._budget_spent():
                return self._idle_or_stopped(TrialStatus.STOPPED)
            record = longest_first(
                population.queued(), self._predicted_cost_of,
                trials_left=self.max_trials - self._issued
                if self.max_trials is not None else None,
            )
            if record is None:
                live = {t.trial_id for t in self.ongoing_trials.values()}
                # Trials waiting in Keras Tuner's retry queue are alive too
                # (it has no public view of that queue; see
                # `FaultTolerantOracle.release_tuner`).
                live.update(self._retry_queue)
                orphans = population.requeue_orphans(live)
                if orphans:
                    # Never needed after a normal resume (Keras Tuner re-issues
                    # the trials that were running before `populate_space` is
                    # called); it guards the single-process loop against
                    # spinning on IDLE after an odd state.
                    self._dirty = True
                    self._issued -= len(orphans)
                    continue
                return self._idle_or_stopped(TrialStatus.IDLE)
            self._issued += 1
            record.issue = self._issued
            self._dirty = True
            if self._score_without_training(record):
                self._end_generation_if_done()
                continue
            record.state = "pending"
            record.trial_id = trial_id
            return {"status": TrialStatus.RUNNING, "values": dict(record.values)}

    def _idle_or_stopped(self, status):
        if self._dirty:
            # `Oracle.create_trial` saves only RUNNING trials, but cache hits
            # and prechecks may have advanced the search.
            self.save()
        return {"status": status}

    def predicted_cost(self, trial_id):
        record = next(
            (r for r in self._population.offspring if r.trial_id == trial_id),
            None,
        )
        return None if record is None else self._predicted_cost_of(record)

    def _predicted_cost_of(self, record):
        """The record's full-network static MACs, or None if unknown."""
        if record.key in self._archive.cache:
            return 0.0  # Served from the cache: costs nothing.
        costs = self._preselection.costs(record.key, record.values)
        return float(costs[-1]) if costs else None

    def timeline_generation(self, trial_id):
        entry = self._archive.entry_for(trial_id)
        return None if entry is None else entry.generation

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

    def trial_ended(self, trial, tuner_id):
        """Learns a trial's result: archived, the generation maybe ended."""
        records = self._population.pending(trial.trial_id)
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
            reason = last_line(trial.message) or "The trial failed."
        self._archive.record(
            records[0], outcome, status, reason, trial_id=trial.trial_id,
            details=details, tuner_id=tuner_id,
        )
        for record in records:
            self._assign(record, outcome)
        self._end_generation_if_done()
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
        ranked = constrained_ranking(
            completed, self.min_accuracy, self.max_macs,
            key=lambda t: objectives[t.trial_id], tie=lambda t: t.trial_id,
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

    # ------------------------------------------------------------------
    # State.

    def get_state(self):
        state = super().get_state()
        population = self._population.get_state(self.hyperparameters)
        archive = self._archive.get_state()
        state["nsga2"] = {
            **{k: population[k] for k in (
                "started", "finished", "gene_positions", "gene_names",
                "generation", "population", "offspring")},
            **archive,
            "issued": self._issued,
            **{k: population[k] for k in (
                "screened", "screened_infeasible", "random_state")},
        }
        # A deep copy through JSON, so the caller cannot alias live records.
        return json.loads(json.dumps(state))

    def set_state(self, state):
        # `HyperParameters.from_config` (in `Oracle.set_state`) rewrites the
        # conditions of the config it is given: keep the caller's state intact.
        state = copy.deepcopy(state)
        super().set_state(state)
        mine = state["nsga2"]
        self._population.set_state(mine)
        self._archive.set_state(mine)
        self._issued = mine["issued"]

    def save(self):
        """Writes `oracle.json` atomically, keeping the previous one beside it.

        (Keras Tuner writes it in place: a kill in the middle of the write
        would leave half a file.)
        """
        write_json_atomically(
            self._get_oracle_fname(), self.get_state(), keep_previous=True
        )

    def _save_trial(self, trial):
        trial_files.save_trial(self, trial)

    def reload(self):
        """Reloads the search from its folder, or says which file is damaged.

        What Keras Tuner's `Oracle.reload` does (the trials from their own
        files, then the oracle's state; running trials are retried), with
        every file read through `read_json`, so a damaged one is named with
        what to do. A trial folder that was deleted is rebuilt from the
        archive in `oracle.json` when its result is there (nothing is lost)
        and its candidate is trained again otherwise.
        """
        state = trial_files.read_oracle_state(self)
        self.trials = trial_files.read_trials(self)
        trial_files.rebuild_missing_trials(self, state)
        self.set_state(state)
        self.retry_running_trials()

    # ------------------------------------------------------------------
    # Evaluation bookkeeping.

    def _budget_spent(self):
        return self.max_trials is not None and self._issued >= self.max_trials

    def _score_without_training(self, record):
        """Scores a record from the cache or the precheck; True if scored."""
        cached = self._archive.outcome(record.key)
        if cached is not None:
            self._assign(record, cached)
            return True
        in_flight = self._population.in_flight(record.key)
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
                as_float(outcome.get(self.accuracy_key)),
                as_float(outcome.get(self.macs_key)),
            ]
        if fitness is None or not all(math.isfinite(f) for f in fitness):
            raise invalid_value(
                "precheck",
                "a callable returning None or a dict with numbers under "
                f"'{self.accuracy_key}' and '{self.macs_key}'",
                outcome,
            )
        reason = outcome.get("skipped") or "precheck"
        outcome = {"fitness": fitness, "failed": False}
        self._archive.record(record, outcome, "skipped", str(reason))
        self._assign(record, outcome)
        return True

    def _assign(self, record, outcome):
        record.assign(outcome)
        self._archive.total_evaluations += 1

    def _end_generation_if_done(self):
        self._population.maybe_end_generation(
            self.hyperparameters, self._archive, self._budget_spent
        )

    def _read_objectives(self, trial):
        """Returns `(accuracy, macs, step)` of a trial (NaN where missing)."""
        return read_objectives(trial, self.accuracy_key, self.macs_key)
