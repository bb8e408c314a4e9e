"""NSGA-II with Deb's constrained domination, as a Keras Tuner oracle.

Genome: one gene in [0, 1) per non-`Fixed` hyperparameter of the search space
(all of them, active or not, in the space's order, so every genome has the
same length), mapped to values by each hyperparameter's own bijection
`prob_to_value` / `value_to_prob`. Genes of inactive hyperparameters are
carried along untouched.

Generation 0 is `population_size` random genomes. Each later generation breeds
`population_size` offspring from the survivors (`selTournamentDCD`, SBX
crossover, polynomial mutation); once all are evaluated, survival is
`selNSGA2(population + offspring, population_size)`. DEAP ranks through
`ConstrainedFitness.dominates`, so feasible candidates beat infeasible ones and
infeasible ones compete on their normalised violation.

Offspring pre-selection (`preselect > 1`, what NACHOS' reference search does
with its surrogates, METHODS.md section 4): each generation breeds
`preselect * population_size` candidates with the same operators, drops those
the `precheck` rejects (known infeasible without training: they never take a
slot of the generation), predicts the objectives of the others with
Gaussian-process regressions fit to every candidate trained so far (features:
the candidate's values and, given `static_costs`, its first and last exit's
MACs, known before training), and keeps `population_size` of them by
`selNSGA2` on the predictions. Generation 0 (and any generation bred before
4 candidates have been trained, when there is nothing to fit) draws
`preselect * population_size` random candidates and, given `static_costs`,
keeps `population_size` of the passing ones spread evenly over the range of
their final exit's MACs (`stratified_by_cost`: the cheapest, the dearest and
evenly spaced ranks between), so that the first trainings cover the MAC axis
of the front instead of wherever random draws cluster; without
`static_costs` it keeps the first `population_size` that pass.

Evaluation contract (what a tuner's `run_trial` must return): a dict with the
accuracy under `accuracy_key` and the expected MACs under `macs_key`. With the
default objective (`Objective(accuracy_key, "max")`) nothing else is needed;
MACs travel as an extra metric. With a list objective Keras Tuner also
requires a `"multi_objective"` key (its value is ignored here).
"""

import contextlib
import copy
import json
import math
import random
import sys
import time

import keras_tuner
import numpy as np
from deap import tools
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine import trial as trial_module

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.search.pareto import ConstrainedFitness
from keras_nachos.search.pareto import admissible_hypervolume
from keras_nachos.search.pareto import check_constraints
from keras_nachos.search.pareto import constrained_fronts
from keras_nachos.search.pareto import is_admissible
from keras_nachos.search.pareto import non_dominated
from keras_nachos.search.pareto import normalised_violation

# Genes live in [LOW, UP]: `prob_to_value` expects a probability below 1.
LOW = 0.0
UP = 1.0 - 1e-9

# Fitness of a failed candidate: worse than any measured one.
FAILED_VIOLATION = math.inf

TrialStatus = trial_module.TrialStatus


class _Individual(list):
    """A genome with a `ConstrainedFitness`, pointing back to its record."""

    def __init__(self, genes, record=None):
        super().__init__(genes)
        self.fitness = ConstrainedFitness()
        self.record = record


def _canonical(values):
    return json.dumps(values, sort_keys=True, default=str)


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
            `population_size` are evaluated (see the module docstring). Each
            candidate the pre-selection drops costs a `precheck` call (and
            one of `static_costs`), no training. Before there is anything
            to fit the surrogates to (generation 0), `static_costs` spreads
            the kept candidates over the MAC range instead.
        seed: Optional integer seed of the search.
        hyperparameters, allow_new_entries, tune_new_entries,
        max_retries_per_trial: As in `keras_tuner.Oracle`.
        max_consecutive_failed_trials: Integer, as in `keras_tuner.Oracle`.
            Defaults to no limit: failed candidates are scored, not fatal.
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
        check_constraints(min_accuracy, max_macs)
        _check_probability("crossover_probability", crossover_probability)
        if mutation_probability is not None:
            _check_probability("mutation_probability", mutation_probability)
        for name, eta in (
            ("eta_crossover", eta_crossover),
            ("eta_mutation", eta_mutation),
        ):
            if isinstance(eta, bool) or not (
                isinstance(eta, (int, float)) and eta >= 0
            ):
                raise invalid_value(name, "a non-negative number", eta)
        for name, key in (
            ("accuracy_key", accuracy_key),
            ("macs_key", macs_key),
        ):
            if not isinstance(key, str):
                raise invalid_type(name, "a string", key)
        _check_positive_int("preselect", preselect, "a positive integer")
        for name, fn in (
            ("repair", repair),
            ("precheck", precheck),
            ("static_costs", static_costs),
        ):
            if fn is not None and not callable(fn):
                raise invalid_type(name, "a callable or `None`", fn)

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
        self.min_accuracy = float(min_accuracy)
        self.max_macs = float(max_macs)
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
        # Memos of `precheck` and `static_costs` by candidate key (rebuilt
        # after a resume: both are deterministic).
        self._precheck_memo = {}
        self._cost_memo = {}
        # Seconds a distributed worker waits before asking again when the
        # generation is all handed out (never reached in a single process).
        self.idle_sleep = 0.5

        # Keras Tuner turns `seed=None` (and `seed=0`) into a random seed.
        search_seed = seed if seed is not None else self.seed
        self._random_state = _random_state_to_json(
            random.Random(search_seed).getstate()
        )
        self._started = False
        self._finished = False
        # Positions in `hyperparameters.space` of the hyperparameters that are
        # genes, fixed when generation 0 is drawn.
        self._gene_positions = []
        self._gene_names = []
        self._generation = 0
        # Records: {"genome", "values", "key", "state" ("queued", "pending",
        # "done"), "trial_id", "generation", "fitness" [acc, macs] or None,
        # "failed"}.
        self._population = []
        self._offspring = []
        self._cache = {}
        self._archive = []
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

        Keys: `trial_id` (None for prechecked candidates), `values`,
        `accuracy`, `macs` (None when failed), `feasible`, `violation`
        (normalised; `inf` when failed), `generation`, `status`
        (`"completed"`, `"failed"` or `"skipped"` for prechecked candidates)
        and `reason` (why it failed or was skipped, else None).
        """
        return [
            dict(entry, values=dict(entry["values"])) for entry in self._archive
        ]

    def record_for(self, trial_id):
        """Returns the archive entry of a trial (a copy), or None if unknown."""
        for entry in self._archive:
            if entry["trial_id"] == trial_id:
                return dict(entry, values=dict(entry["values"]))
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

    def _completed_entries(self):
        return [e for e in self.archive if e["status"] == "completed"]

    def pareto_front(self):
        """Completed candidates no other completed one Pareto-dominates.

        Plain dominance on (accuracy max, MACs min), constraints ignored.
        Sorted by accuracy, best first.
        """
        front = non_dominated(
            self._completed_entries(), key=lambda e: (e["accuracy"], e["macs"])
        )
        return sorted(front, key=lambda e: (-e["accuracy"], e["macs"]))

    def admissible_front(self):
        """The Pareto front of the admissible completed candidates.

        Every returned candidate satisfies both constraints. Sorted by
        accuracy, best first.
        """
        feasible = [e for e in self._completed_entries() if e["feasible"]]
        front = non_dominated(
            feasible, key=lambda e: (e["accuracy"], e["macs"])
        )
        return sorted(front, key=lambda e: (-e["accuracy"], e["macs"]))

    def admissible_hypervolume(self):
        """Admissible hypervolume of all completed candidates so far."""
        return admissible_hypervolume(
            [(e["accuracy"], e["macs"]) for e in self._completed_entries()],
            self.min_accuracy,
            self.max_macs,
        )

    # ------------------------------------------------------------------
    # Keras Tuner hooks.

    def create_trial(self, tuner_id):
        trial = self._create_trial_locked(tuner_id)
        if trial.status == TrialStatus.IDLE:
            # `BaseTuner.search` asks again at once on IDLE: slow the polling
            # down, outside the oracle's lock so results can come in.
            time.sleep(self.idle_sleep)
        return trial

    @keras_tuner.synchronized
    def _create_trial_locked(self, tuner_id):
        self._dirty = False
        trial = super().create_trial(tuner_id)
        if trial.status != TrialStatus.RUNNING and self._dirty:
            # `Oracle.create_trial` saves only RUNNING trials, but cache hits
            # and prechecks may have advanced the search.
            self.save()
        return trial

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
            record = next(
                (r for r in self._offspring if r["state"] == "queued"), None
            )
            if record is None:
                if self._requeue_orphans():
                    continue
                return {"status": TrialStatus.IDLE}
            self._issued += 1
            self._dirty = True
            if self._score_without_training(record):
                self._maybe_end_generation()
                continue
            record["state"] = "pending"
            record["trial_id"] = trial_id
            return {
                "status": TrialStatus.RUNNING,
                "values": dict(record["values"]),
            }

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
        super().end_trial(trial)
        trial = self.trials[trial.trial_id]
        if trial.status not in (TrialStatus.COMPLETED, TrialStatus.FAILED):
            return  # INVALID: Keras Tuner retries it.
        records = [
            r
            for r in self._offspring
            if r["state"] == "pending" and r["trial_id"] == trial.trial_id
        ]
        if not records:
            return
        if trial.status == TrialStatus.COMPLETED:
            accuracy, macs, _ = self._read_objectives(trial)
            result = {"fitness": [accuracy, macs], "failed": False}
            status, reason = "completed", None
        else:
            result = {"fitness": None, "failed": True}
            status = "failed"
            reason = _last_line(trial.message) or "The trial failed."
        self._record_evaluation(
            records[0], result, status, reason, trial_id=trial.trial_id
        )
        for record in records[1:]:
            self._assign(record, result)
        self._maybe_end_generation()
        # `Oracle.end_trial` saved before this trial was learnt.
        self.save()

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
            "gene_positions": list(self._gene_positions),
            "gene_names": list(self._gene_names),
            "generation": self._generation,
            "population": self._population,
            "offspring": self._offspring,
            "cache": self._cache,
            "archive": self._archive,
            "hypervolume_history": self._hypervolume_history,
            "issued": self._issued,
            "total_evaluations": self._total_evaluations,
            "screened": self._screened,
            "screened_infeasible": self._screened_infeasible,
            "random_state": self._random_state,
        }
        # A deep copy through JSON, so the caller cannot alias live records.
        return json.loads(json.dumps(state))

    def set_state(self, state):
        # `HyperParameters.from_config` (in `Oracle.set_state`) rewrites the
        # conditions of the config it is given: keep the caller's state intact.
        state = copy.deepcopy(state)
        super().set_state(state)
        mine = state["nsga2"]
        self._started = mine["started"]
        self._finished = mine["finished"]
        self._gene_positions = mine["gene_positions"]
        self._gene_names = mine["gene_names"]
        self._generation = mine["generation"]
        self._population = mine["population"]
        self._offspring = mine["offspring"]
        self._cache = mine["cache"]
        self._archive = mine["archive"]
        self._hypervolume_history = mine["hypervolume_history"]
        self._issued = mine["issued"]
        self._total_evaluations = mine["total_evaluations"]
        self._screened = mine.get("screened", 0)
        self._screened_infeasible = mine.get("screened_infeasible", 0)
        self._random_state = mine["random_state"]

    # ------------------------------------------------------------------
    # Genome encoding.

    def _start(self):
        space = self.hyperparameters.space
        self._gene_positions = [
            i
            for i, hp in enumerate(space)
            if not isinstance(hp, hp_module.Fixed)
        ]
        self._gene_names = [space[i].name for i in self._gene_positions]
        if not self._gene_positions:
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
                    [random.uniform(LOW, UP) for _ in self._gene_positions]
                    for _ in range(self.population_size * self.preselect)
                ]

        if self.preselect == 1:
            self._offspring = [self._new_record(g) for g in draw()]
        else:
            self._offspring = self._preselect(draw)
        self._started = True

    def _decode(self, genome, overrides=None):
        """Returns `(values, active gene indices)` of a genome.

        `overrides` (repaired values) win over the genes.
        """
        hps = self.hyperparameters.copy()
        hps.values = {}
        gene_of = {pos: j for j, pos in enumerate(self._gene_positions)}
        active_genes = []
        for pos, hp in enumerate(hps.space):
            if not hps.is_active(hp):
                continue
            if overrides is not None and hp.name in overrides:
                value = overrides[hp.name]
            elif pos in gene_of:
                value = hp.prob_to_value(genome[gene_of[pos]])
            else:  # `Fixed`, or a hyperparameter that appeared later.
                value = hp.default
            hps.values[hp.name] = value
            if pos in gene_of:
                active_genes.append(gene_of[pos])
        return dict(hps.values), active_genes

    def _new_record(self, genome):
        genome = [min(UP, max(LOW, float(g))) for g in genome]
        values, active_genes = self._decode(genome)
        if self.repair is not None:
            repaired = self.repair(dict(values))
            values, active_genes = self._decode(genome, overrides=repaired)
            space = self.hyperparameters.space
            for j in active_genes:
                hp = space[self._gene_positions[j]]
                if hp.prob_to_value(genome[j]) != values[hp.name]:
                    prob = hp.value_to_prob(values[hp.name])
                    genome[j] = min(UP, max(LOW, float(prob)))
        return {
            "genome": genome,
            "values": values,
            "key": _canonical(values),
            "state": "queued",
            "trial_id": None,
            "generation": self._generation,
            "fitness": None,
            "failed": False,
        }

    # ------------------------------------------------------------------
    # Evaluation bookkeeping.

    def _budget_spent(self):
        return self.max_trials is not None and self._issued >= self.max_trials

    def _score_without_training(self, record):
        """Scores a record from the cache or the precheck; True if scored."""
        cached = self._cache.get(record["key"])
        if cached is not None:
            self._assign(record, cached)
            return True
        in_flight = next(
            (
                r
                for r in self._offspring
                if r["state"] == "pending" and r["key"] == record["key"]
            ),
            None,
        )
        if in_flight is not None:  # Distributed only: wait on that trial.
            record["state"] = "pending"
            record["trial_id"] = in_flight["trial_id"]
            return True
        if self.precheck is None:
            return False
        outcome = self._precheck_outcome(record)
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
            record,
            {"fitness": fitness, "failed": False},
            "skipped",
            str(reason),
        )
        return True

    def _record_evaluation(self, record, result, status, reason, trial_id=None):
        self._cache[record["key"]] = result
        if result["failed"]:
            accuracy = macs = None
            feasible, violation = False, FAILED_VIOLATION
        else:
            accuracy, macs = result["fitness"]
            feasible = is_admissible(
                accuracy, macs, self.min_accuracy, self.max_macs
            )
            violation = normalised_violation(
                accuracy, macs, self.min_accuracy, self.max_macs
            )
        self._archive.append(
            {
                "trial_id": trial_id,
                "values": dict(record["values"]),
                "accuracy": accuracy,
                "macs": macs,
                "feasible": feasible,
                "violation": violation,
                "generation": record["generation"],
                "status": status,
                "reason": reason,
            }
        )
        self._assign(record, result)

    def _assign(self, record, result):
        record["fitness"] = result["fitness"]
        record["failed"] = result["failed"]
        record["state"] = "done"
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
            if r["state"] == "pending" and r["trial_id"] not in live
        ]
        for record in orphans:
            self._dirty = True
            record["state"] = "queued"
            record["trial_id"] = None
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
        individual = _Individual(record["genome"], record)
        if record["failed"]:
            individual.fitness.values = (0.0, 0.0)
            individual.fitness.violation = FAILED_VIOLATION
        else:
            accuracy, macs = record["fitness"]
            individual.fitness.values = (accuracy, macs)
            individual.fitness.violation = normalised_violation(
                accuracy, macs, self.min_accuracy, self.max_macs
            )
        return individual

    def _maybe_end_generation(self):
        if not self._offspring or any(
            r["state"] != "done" for r in self._offspring
        ):
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
            indpb = 1.0 / max(1, len(self._gene_positions))
        with self._own_random():
            # Crowding distances for the tournament, over the parents' fronts.
            parents = tools.selNSGA2(parents, len(parents), nd="standard")

        def breed():
            children = []
            with self._own_random():
                for _ in range(self.preselect):
                    chosen = tools.selTournamentDCD(parents, len(parents))
                    brood = [_Individual(list(parent)) for parent in chosen]
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

    # ------------------------------------------------------------------
    # Pre-selection.

    def _precheck_outcome(self, record):
        if self.precheck is None:
            return None
        key = record["key"]
        if key not in self._precheck_memo:
            self._precheck_memo[key] = self.precheck(dict(record["values"]))
        return self._precheck_memo[key]

    def _costs(self, key, values):
        if self.static_costs is None:
            return None
        if key not in self._cost_memo:
            costs = [float(c) for c in self.static_costs(dict(values))]
            self._cost_memo[key] = costs
        return self._cost_memo[key]

    def _preselect(self, make_genomes, max_rounds=10):
        """Breeds with `make_genomes()` and keeps `population_size` records.

        Rounds of `make_genomes()` are drawn until at least
        `population_size` candidates pass the precheck (at most
        `max_rounds`); then the surrogate ranks the passing ones (see the
        module docstring). Prechecked candidates fill the slots only when
        too few pass.
        """
        size = self.population_size
        records, passing, rejected, seen = [], [], [], set()
        for _ in range(max_rounds):
            fresh = self._distinct_records(make_genomes(), seen=seen)
            records.extend(fresh)
            for record in fresh:
                if self._precheck_outcome(record) is None:
                    passing.append(record)
                else:
                    rejected.append(record)
            if len(passing) >= size:
                break
        if len(passing) <= size:
            chosen = passing + rejected[: size - len(passing)]
        else:
            predictions = self._predict(passing)
            if predictions is None:
                chosen = self._stratify(passing, size)
            else:
                individuals = []
                for record, (accuracy, macs) in zip(passing, predictions):
                    individual = _Individual(record["genome"], record)
                    individual.fitness.values = (accuracy, macs)
                    individual.fitness.violation = normalised_violation(
                        accuracy, macs, self.min_accuracy, self.max_macs
                    )
                    individuals.append(individual)
                with self._own_random():
                    kept = tools.selNSGA2(individuals, size, nd="standard")
                kept_ids = {id(individual.record) for individual in kept}
                chosen = [r for r in passing if id(r) in kept_ids]
        chosen_ids = {id(r) for r in chosen}
        dropped = [r for r in records if id(r) not in chosen_ids]
        self._screened += len(dropped)
        self._screened_infeasible += sum(
            1 for r in rejected if id(r) not in chosen_ids
        )
        return chosen

    def _stratify(self, records, size):
        """`size` records spread over their final exit's MACs (in order)."""
        if self.static_costs is None:
            return records[:size]
        costs = [self._costs(r["key"], r["values"])[-1] for r in records]
        kept = set(stratified_by_cost(costs, size))
        return [r for i, r in enumerate(records) if i in kept]

    def _features(self, hps, key, values):
        """Surrogate features; `hps` is a scratch copy of the space."""
        hps.values = dict(values)
        features = []
        for pos in self._gene_positions:
            hp = hps.space[pos]
            if hp.name in values and hps.is_active(hp):
                features.append(float(hp.value_to_prob(values[hp.name])))
            else:
                features.append(0.5)
        costs = self._costs(key, values)
        if costs is not None:
            scale = self.max_macs if math.isfinite(self.max_macs) else 1.0
            features.extend(
                math.log10(max(c, 1.0) / scale) for c in (costs[0], costs[-1])
            )
        return features

    def _predict(self, records, min_points=4):
        """Surrogate `(accuracy, expected MACs)` of records, or None.

        None until `min_points` candidates have been trained.
        """
        trained = [
            e
            for e in self._archive
            if e["status"] == "completed" and e["macs"] and e["macs"] > 0
        ]
        if len(trained) < min_points:
            return None
        hps = self.hyperparameters.copy()
        x = np.array(
            [
                self._features(hps, _canonical(e["values"]), e["values"])
                for e in trained
            ]
        )
        query = np.array(
            [self._features(hps, r["key"], r["values"]) for r in records]
        )
        accuracy = gp_predict(x, np.array([e["accuracy"] for e in trained]), query)
        log_macs = gp_predict(
            x, np.log(np.array([e["macs"] for e in trained])), query
        )
        predictions = []
        for record, acc, log_m in zip(records, accuracy, log_macs):
            macs = math.exp(log_m)
            costs = self._costs(record["key"], record["values"])
            if costs is not None:
                macs = min(max(macs, costs[0]), costs[-1])
            predictions.append((float(min(1.0, max(0.0, acc))), float(macs)))
        return predictions

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
        seen.update(r["key"] for r in self._population)
        records = []
        for child in children:
            record = self._new_record(list(child))
            for _ in range(max_retries):
                if record["key"] not in seen:
                    break
                with self._own_random():
                    child[random.randrange(len(child))] = random.uniform(LOW, UP)
                record = self._new_record(list(child))
            seen.add(record["key"])
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


def stratified_by_cost(costs, size):
    """Indices of `size` of `costs` at evenly spaced ranks of their order.

    Always the cheapest and (for `size > 1`) the dearest; equal costs are
    ordered by index, so the answer is deterministic. Returns the indices in
    increasing order; all of them if `size >= len(costs)`.
    """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    if size >= len(order):
        return sorted(order)
    if size == 1:
        return [order[0]]
    last = len(order) - 1
    ranks = [round(k * last / (size - 1)) for k in range(size)]
    # `round` never maps two of `size <= len(costs)` evenly spaced points to
    # one rank (their spacing is at least 1).
    return sorted(order[r] for r in ranks)


def gp_predict(x, y, query, noise=0.1):
    """Posterior mean of a Gaussian-process regression (RBF kernel).

    Targets are standardised; the length scale is the median distance
    between training points; `noise` is the noise variance relative to the
    targets' variance.
    """
    x = np.asarray(x, "float64")
    query = np.asarray(query, "float64")
    y = np.asarray(y, "float64")
    mean, scale = y.mean(), y.std()
    if not scale > 0:
        return np.full(len(query), mean)
    targets = (y - mean) / scale

    def sq_dist(a, b):
        return np.maximum(
            (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0
        )

    d_train = sq_dist(x, x)
    positive = d_train[d_train > 0]
    length2 = float(np.median(positive)) if positive.size else 1.0
    kernel = np.exp(-d_train / (2 * length2)) + noise * np.eye(len(x))
    weights = np.linalg.solve(kernel, targets)
    cross = np.exp(-sq_dist(query, x) / (2 * length2))
    return mean + scale * (cross @ weights)


def _check_positive_int(name, value, expected):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < 1
    ):
        raise invalid_value(name, expected, value)


def _check_probability(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= 1
    ):
        raise invalid_value(name, "a float between 0 and 1", value)
