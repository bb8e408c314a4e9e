"""NachosSearch: the Keras Tuner front of the NACHOS architecture search."""

import json
import os
import time

import keras
import keras_tuner as kt

from keras_nachos.constraints import check_constraints
from keras_nachos.constraints import check_device_budget
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.search.cached_evaluation import CachedEvaluation
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.nsga2_oracle import NSGA2Oracle
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.space_hypermodel import SpaceHyperModel
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically

CANDIDATE_FILE = "candidate.json"
MODEL_FILE = "eenn.keras"


class NachosSearch(kt.engine.base_tuner.BaseTuner):
    """Joint search of backbone and exits under accuracy and MAC constraints.

    A DEAP NSGA-II (`NSGA2Oracle`, constrained domination) proposes candidates
    of a `SearchSpace`; each is trained with the early-exit losses, its
    thresholds are tuned on the validation split, and its (validation
    accuracy, expected MACs) feed the genetic algorithm. The result is the set
    of admissible (accuracy >= `min_accuracy`, expected MACs <= `max_macs`)
    Pareto-optimal EENNs: `admissible_front()`.

    It has the usual Keras Tuner surface: `search(x, y, validation_data=...,
    epochs=...)`, `results_summary()`, `get_best_models()`; results and state
    live in `directory/project_name`, so a killed search resumes with
    `overwrite=False`.

    Args:
        search_space: A `SearchSpace`.
        min_accuracy: Float in [0, 1], the accuracy floor `A_min`.
        max_macs: Positive float, the expected-MACs budget `M_max`.
        population_size: Integer, a multiple of 4. Defaults to `8`.
        generations: Integer, number of generations, the initial random one
            included (the budget is `population_size * generations`
            evaluations). Defaults to `3`.
        preselect: Integer, candidates bred per slot of a generation
            (`NSGA2Oracle`'s offspring pre-selection). With `k > 1` each
            generation breeds `k * population_size` candidates, drops those
            whose first exit alone exceeds `max_macs` (no training), ranks
            the rest with a surrogate of accuracy and expected MACs (fit to
            the candidates trained so far, with the MAC counter's exit costs
            as features) and trains `population_size`; `1` is plain
            NSGA-II. Defaults to `4` (a better admissible front than `1`
            at the same number of trials on the Fashion-MNIST benchmark;
            see README).
        seed: Optional integer seed (the search is deterministic for a seed).
        evaluator_options: Optional dict of `CandidateEvaluator` arguments
            (`learning_rate`, `rule`, `loss_options`, `exit_weights`).
        max_flash_bytes: Optional positive number: candidates whose int8
            stages (estimated, `model.device_costs`) need more flash are
            dropped before training, like those over `max_macs`.
        max_ram_bytes: Optional positive number: likewise for the largest
            stage's TFLite Micro arena (RAM).
        **kwargs: `BaseTuner` arguments: `directory`, `project_name`,
            `overwrite`, ...
    """

    def __init__(
        self,
        search_space,
        min_accuracy,
        max_macs,
        population_size=8,
        generations=3,
        preselect=4,
        seed=None,
        evaluator_options=None,
        max_flash_bytes=None,
        max_ram_bytes=None,
        **kwargs,
    ):
        if not isinstance(search_space, SearchSpace):
            raise invalid_type("search_space", "a SearchSpace", search_space)
        min_accuracy, max_macs = check_constraints(
            min_accuracy, max_macs, required=True
        )
        if evaluator_options is not None and not isinstance(
            evaluator_options, dict
        ):
            raise invalid_type(
                "evaluator_options", "a dict of CandidateEvaluator arguments",
                evaluator_options,
            )
        self.search_space = search_space
        self.min_accuracy = min_accuracy
        self.max_macs = max_macs
        self.evaluator_options = dict(evaluator_options or {})
        self.max_flash_bytes = check_device_budget("max_flash_bytes", max_flash_bytes)
        self.max_ram_bytes = check_device_budget("max_ram_bytes", max_ram_bytes)
        self.evaluator = None
        self.evaluation = None
        oracle = NSGA2Oracle(
            population_size=population_size,
            generations=generations,
            min_accuracy=self.min_accuracy,
            max_macs=self.max_macs,
            hyperparameters=search_space.hyperparameters(),
            repair=search_space.repair,
            precheck=self._precheck,
            static_costs=self._static_costs,
            preselect=preselect,
            seed=seed,
        )
        _keep_resumable(kwargs)
        super().__init__(oracle=oracle, hypermodel=SpaceHyperModel(search_space),
                         **kwargs)
        self._search_start = None
        self._trials_done_at_start = 0

    # ------------------------------------------------------------------
    def search(self, x, y, validation_data, epochs=1, batch_size=128, verbose=1):
        """Runs the search.

        Args:
            x, y: Training arrays (the candidates' training split).
            validation_data: Tuple `(x_val, y_val)`: objectives and thresholds
                are measured there only; keep the test split for the end.
            epochs: Integer, training epochs per candidate.
            batch_size: Integer.
            verbose: `0`, `1` (a progress line per trial, default) or `2`
                (also Keras' training logs).
        """
        if not (isinstance(validation_data, (tuple, list))
                and len(validation_data) == 2):
            raise invalid_value(
                "validation_data", "a tuple (x_val, y_val)", validation_data
            )
        self.evaluator = CandidateEvaluator(
            self.search_space,
            (x, y),
            tuple(validation_data),
            self.min_accuracy,
            self.max_macs,
            epochs=epochs,
            batch_size=batch_size,
            verbose=2 if verbose == 2 else 0,
            max_flash_bytes=self.max_flash_bytes,
            max_ram_bytes=self.max_ram_bytes,
            **self.evaluator_options,
        )
        self.evaluation = CachedEvaluation(self.evaluator)
        self._verbose = verbose
        self._search_start = time.time()
        self._trials_done_at_start = len(self._finished_trials())
        super().search(verbose=0)

    def _precheck(self, values):
        if self.evaluator is None:
            return None
        return self.evaluator.precheck(values)

    def _static_costs(self, values):
        if self.evaluator is None:
            return list(self.search_space.build(values).exit_macs)
        return self.evaluator.static_costs(values)

    def run_trial(self, trial, *args, **kwargs):
        result = self.evaluation(trial.hyperparameters.values)
        if result.status == "failed":
            # Recorded as a failed trial; the search goes on.
            raise kt.errors.FailedTrialError(result.reason)
        trial_dir = self.get_trial_dir(trial.trial_id)
        os.makedirs(trial_dir, exist_ok=True)
        if self.evaluation.last_model is not None and not result.cached:
            self.evaluation.last_model.save(os.path.join(trial_dir, MODEL_FILE))
        with open(os.path.join(trial_dir, CANDIDATE_FILE), "w") as f:
            json.dump({"values": result.values, **result.metrics}, f)
        return {
            "accuracy": result.accuracy,
            "expected_macs": result.expected_macs,
        }

    def save(self):
        """Saves the oracle and the tuner's file, both atomically."""
        if not self._is_worker():
            self.oracle.save()
        write_json_atomically(self._get_tuner_fname(), self.get_state())

    def reload(self):
        """Reloads the search; a damaged state file is named (see
        `NSGA2Oracle.reload`)."""
        if not self._is_worker():
            self.oracle.reload()
        self.set_state(
            read_json(
                self._get_tuner_fname(),
                what="the tuner's own state",
                remedy="write `{}` into it (it holds nothing else) and resume",
            )
        )

    def load_model(self, trial):
        return keras.models.load_model(
            os.path.join(self.get_trial_dir(trial.trial_id), MODEL_FILE)
        )

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if getattr(self, "_verbose", 1):
            print(self._progress_line(trial), flush=True)

    def _finished_trials(self):
        return [
            t for t in self.oracle.trials.values()
            if t.status in ("COMPLETED", "FAILED", "INVALID")
        ]

    def _progress_line(self, trial):
        # Evaluations include candidates scored without training (precheck)
        # and cache hits, which never become Keras Tuner trials.
        done = self.oracle.total_evaluations
        total = self.oracle.max_trials
        trained = len(self._finished_trials())
        elapsed = time.time() - self._search_start
        new = max(1, trained - self._trials_done_at_start)
        remaining = elapsed / new * max(0, total - done)
        record = self.oracle.record_for(trial.trial_id) or {}
        acc = record.get("accuracy")
        macs = record.get("macs")
        acc = float("nan") if acc is None else acc
        macs = float("nan") if macs is None else macs
        if record.get("status") == "failed" or trial.status in ("FAILED", "INVALID"):
            verdict = f"FAILED: {record.get('reason') or trial.message}"
        else:
            verdict = "feasible" if record.get("feasible") else "infeasible"
        return (
            f"[trial {done}/{total}] generation {record.get('generation', '?')} "
            f"accuracy={acc:.4f} expected_macs={macs:,.0f} {verdict} "
            f"(trained {trained}, elapsed {_hms(elapsed)}, "
            f"remaining ~{_hms(remaining)})"
        )

    # ------------------------------------------------------------------
    def _solution(self, record):
        trial_dir = self.get_trial_dir(record["trial_id"])
        path = os.path.join(trial_dir, CANDIDATE_FILE)
        details = {}
        if os.path.exists(path):
            with open(path) as f:
                details = json.load(f)
        solution = dict(details)
        solution.update(
            {
                "trial_id": record["trial_id"],
                "values": record["values"],
                "accuracy": record["accuracy"],
                "expected_macs": record["macs"],
                "feasible": record["feasible"],
                "generation": record.get("generation"),
                "model_path": os.path.join(trial_dir, MODEL_FILE),
            }
        )
        solution.pop("curve", None)
        return solution

    def pareto_front(self):
        """Non-dominated candidates (accuracy up, expected MACs down)."""
        return [self._solution(r) for r in self.oracle.pareto_front()]

    def admissible_front(self):
        """Pareto-optimal candidates that satisfy both constraints."""
        return [self._solution(r) for r in self.oracle.admissible_front()]

    @property
    def hypervolume_history(self):
        """Admissible hypervolume at the end of each generation."""
        return list(self.oracle.hypervolume_history)

    def all_candidates(self):
        """Every evaluated candidate (including skipped and failed ones)."""
        return [dict(r) for r in self.oracle.archive]


def _keep_resumable(kwargs):
    """Recreates a missing tuner file beside an existing oracle state.

    Keras Tuner resumes only when its tuner file (`tuner0.json`, which holds
    `{}`) exists, and otherwise starts the search over, writing over
    `oracle.json`: a lost tuner file would lose the whole search.
    """
    if kwargs.get("overwrite"):
        return
    project = os.path.join(
        kwargs.get("directory") or ".", kwargs.get("project_name") or "untitled_project"
    )
    tuner_file = os.path.join(
        project, f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json"
    )
    if os.path.exists(os.path.join(project, "oracle.json")) and not (
        os.path.exists(tuner_file)
    ):
        write_json_atomically(tuner_file, {})


def _hms(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
