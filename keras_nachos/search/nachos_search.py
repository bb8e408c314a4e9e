"""NachosSearch: the Keras Tuner tuner of the NACHOS architecture search."""

import os

import keras_tuner as kt
from keras_tuner.engine import trial as trial_module

from keras_nachos.checks import check_int
from keras_nachos.data_utils import check_data
from keras_nachos.data_utils import labelled_data
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.search.cached_evaluation import CachedEvaluation
from keras_nachos.search.callbacks import SearchCallback
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.candidate_evaluator import default_rule
from keras_nachos.search.display import SearchDisplay
from keras_nachos.search.display import finished_trials
from keras_nachos.search.distribute import chief
from keras_nachos.search.distribute import worker
from keras_nachos.search import folder_lock
from keras_nachos.search.finetuning import finetune_front
from keras_nachos.search.inherited_evaluator import InheritedEvaluator
from keras_nachos.search.nsga2 import NSGA2Oracle
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.solutions import MODEL_FILE
from keras_nachos.search.solutions import load_solution_model
from keras_nachos.search.solutions import solution
from keras_nachos.search.solutions import write_candidate
from keras_nachos.search.space_hypermodel import SpaceHyperModel
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically
from keras_nachos.search.trial_metrics import flatten_details
from keras_nachos_cli import checks as setting_checks
from keras_nachos_cli.config import TUNER_DEFAULTS

TrialStatus = trial_module.TrialStatus

# The tuner's own state file, whatever `KERASTUNER_TUNER_ID` is: one name
# for a single process and for a distributed chief, so a finished search
# reopens with the default tuner id. Workers write none.
TUNER_FILE = "tuner0.json"


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
    `overwrite=False`. One search per folder: `search` runs holding the lock
    file `directory/project_name.lock`, and a second search there, or
    `overwrite=True`, is refused meanwhile (`FolderInUseError`, naming the
    holder; a killed holder's lock is taken over).

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
        supernet: Optional trained `Supernet` of `search_space`, or the path
            of a saved one: candidates are then scored on inherited weights
            (`InheritedEvaluator`: batch norm re-estimated, thresholds
            calibrated, no training), so far more of them fit in the same
            time, and the admissible front is fine-tuned at the end
            (`search(..., finetune_epochs=...)`). The front then reports both
            figures (`"finetuned"` in a solution).
        floor_confidence: Optional float in (0, 1): admissible then means
            that `min_accuracy` holds on new data with this confidence. The
            accuracy objective is each candidate's guaranteed accuracy (its
            lower confidence bound, exact Clopper-Pearson), measured on 70%
            of the validation split that its thresholds, calibrated on the
            other 30%, never saw (`CandidateEvaluator`); a solution's
            `"measured_accuracy"` is the plain figure there. Each candidate's
            bound holds on its own; picking one among many by their bounds
            uses the same split, so certify the one you deploy on held-out
            data (`calibrate_thresholds(..., floor_confidence=...)`).
        trial_timeout: Optional positive number of seconds (distributed
            search): a trial whose worker is silent that long is given to
            another worker (see `FaultTolerantOracle`). Workers say they are
            alive every `trial_timeout / 4` seconds (at most every 10 s)
            while they train.
        evaluation: Optional `CachedEvaluation` to score candidates with,
            instead of the one `search` makes from its data: several engines
            can then share one evaluation and its cache
            (`benchmarks/search_engines.py`). Its evaluator's precheck and
            static costs are the search's.
        **kwargs: `BaseTuner` arguments: `directory`, `project_name`,
            `overwrite`, ...

    Distributed search: run the same script (or `keras-nachos search`) in a
    chief and in workers with Keras Tuner's environment variables
    (`KERASTUNER_TUNER_ID=chief` or `tuner0`, `tuner1`, ...,
    `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`). Workers never read the
    oracle's state: each trial's results travel to the chief in its metrics,
    so the chief's fronts are complete without a shared file system (only
    the trained `eenn.keras` files stay on the worker that trained them:
    `tuner_id` in a solution names it). Only the chief writes the search's
    state; `overwrite=True` on a worker is refused.
    """

    def __init__(
        self,
        search_space,
        min_accuracy,
        max_macs,
        population_size=TUNER_DEFAULTS["population_size"],
        generations=TUNER_DEFAULTS["generations"],
        preselect=TUNER_DEFAULTS["preselect"],
        seed=None,
        evaluator_options=None,
        max_flash_bytes=None,
        max_ram_bytes=None,
        trial_timeout=None,
        supernet=None,
        floor_confidence=None,
        evaluation=None,
        **kwargs,
    ):
        if not isinstance(search_space, SearchSpace):
            raise invalid_type("search_space", "a SearchSpace", search_space)
        self.supernet = supernet_of(supernet, search_space)
        # The settings' checks the command line makes too (one schema).
        min_accuracy = setting_checks.check_min_accuracy(min_accuracy)
        max_macs = setting_checks.check_max_macs(max_macs)
        setting_checks.check_population(population_size)
        setting_checks.check_generations(generations)
        setting_checks.check_preselect(preselect)
        if evaluator_options is not None and not isinstance(
            evaluator_options, dict
        ):
            raise invalid_type(
                "evaluator_options", "a dict of CandidateEvaluator arguments",
                evaluator_options,
            )
        self.floor_confidence = setting_checks.check_floor_confidence(
            floor_confidence)
        if "floor_confidence" in (evaluator_options or {}):
            raise invalid_value(
                "evaluator_options",
                "a dict without floor_confidence (an argument of "
                "NachosSearch itself)",
                evaluator_options,
            )
        if evaluation is not None and not callable(evaluation):
            raise invalid_type(
                "evaluation", "a CachedEvaluation (a callable values -> "
                "Evaluation)", evaluation,
            )
        self.search_space = search_space
        self.min_accuracy = min_accuracy
        self.max_macs = max_macs
        self.evaluator_options = dict(evaluator_options or {})
        self.max_flash_bytes = setting_checks.check_max_flash_bytes(
            max_flash_bytes)
        self.max_ram_bytes = setting_checks.check_max_ram_bytes(max_ram_bytes)
        self.evaluation = evaluation
        self.evaluator = getattr(evaluation, "evaluator", None)
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
            trial_timeout=trial_timeout,
        )
        self.role = chief.distributed_role()
        if self.role == "worker" and kwargs.get("overwrite"):
            raise invalid_value(
                "overwrite",
                "False on a distributed worker (only the chief may start "
                "the search over: a worker would delete the project folder "
                "the chief and the other workers use)",
                kwargs.get("overwrite"),
            )
        self.trial_timeout = trial_timeout
        _keep_resumable(kwargs)
        # `overwrite` deletes the project: not while another search runs.
        with folder_lock.overwrite_lock(kwargs, self.role):
            super().__init__(oracle=oracle,
                             hypermodel=SpaceHyperModel(search_space), **kwargs)
        if self.role == "worker":
            self.oracle = worker.PatientClient(self.oracle)
        self.display = SearchDisplay(verbose=1)
        self.idle = worker.IdleWait()
        self.trial_callbacks = []
        self._stop_requested = False
        self._finetune_epochs = None
        # Optional callable `oracle -> None` the chief calls while it serves
        # (`keras-nachos search --workers N` watches its worker processes).
        self.worker_monitor = None

    # ------------------------------------------------------------------
    # One search per folder: it runs holding `<directory>/<project_name>.lock`
    # (not on a distributed worker), so a second one there is refused.
    @folder_lock.holding_search_lock
    def search(self, x=None, y=None, validation_data=None, epochs=1,
               batch_size=128, verbose=1, finetune_epochs=None,
               trial_callbacks=None):
        """Runs the search.

        The data is checked once, before the first trial, against the
        search space: finite images of its `input_shape`, labels that are
        class ids in `[0, num_classes)` (one-hot rows are converted), one
        per image, at least one sample; `epochs` and `batch_size` positive
        integers. Anything else raises a `ValueError` naming the argument
        (`x`, `y`, `validation_data`, `epochs`, ...) before any trial runs:
        a data error is the caller's, not a failed trial.

        Args:
            x, y: Training arrays (the candidates' training split). Not
                needed with an `evaluation` given to the constructor.
            validation_data: Tuple `(x_val, y_val)`: objectives and thresholds
                are measured there only; keep the test split for the end.
            epochs: Integer, training epochs per candidate (with a supernet:
                nothing is trained per candidate; the default of
                `finetune_epochs`).
            batch_size: Integer.
            verbose: `0`, `1` (a progress line per trial, default) or `2`
                (also Keras' training logs).
            finetune_epochs: With a supernet: epochs of fine-tuning of each
                admissible Pareto-optimal candidate once the search is done
                (`0`: none). Defaults to `epochs`. A resumed search
                fine-tunes only those not fine-tuned yet.
            trial_callbacks: Optional list of `SearchCallback`s.
        """
        if self.evaluation is None and not (
                isinstance(validation_data, (tuple, list))
                and len(validation_data) == 2):
            raise invalid_value(
                "validation_data", "a tuple (x_val, y_val)", validation_data
            )
        setting_checks.check_epochs(epochs)
        setting_checks.check_batch_size(batch_size)
        makes_evaluation = self.evaluation is None or getattr(
            self, "_built_evaluation", False)
        if makes_evaluation:
            train, validation = self._checked_data(x, y, validation_data)
        if finetune_epochs is not None:
            if self.supernet is None:
                raise invalid_value(
                    "finetune_epochs", "None without a supernet (candidates "
                    "are trained from scratch)", finetune_epochs,
                )
            check_int("finetune_epochs", finetune_epochs, min_value=0)
        trial_callbacks = list(trial_callbacks or [])
        for callback in trial_callbacks:
            if not isinstance(callback, SearchCallback):
                raise invalid_type(
                    "trial_callbacks", "a list of SearchCallback",
                    trial_callbacks,
                )
        if makes_evaluation:
            self.evaluator = self._make_evaluator(
                train, validation, epochs, batch_size, verbose)
            self.evaluation = CachedEvaluation(self.evaluator)
            self._built_evaluation = True
        self._finetune_epochs = epochs if finetune_epochs is None else finetune_epochs
        self.trial_callbacks = trial_callbacks
        self._stop_requested = False
        self.display = SearchDisplay(verbose)
        if self.role != "worker":
            self.oracle.verbose = 0  # Keras Tuner's own display: ours instead.
            self.display.trials_done_at_start = len(finished_trials(self.oracle))
        if self.role == "chief":
            self._serve()
        else:
            self._run_trials()
        if self.supernet is not None and self.role != "worker":
            finetune_front(
                self.oracle.admissible_front(), self.evaluator,
                self.get_trial_dir, self._finetune_epochs, self.min_accuracy,
                self.max_macs, display=self.display,
            )

    def _checked_data(self, x, y, validation_data):
        """The training and validation data, checked against the space
        (`data_utils.check_data`); their labels as class ids."""
        space = self.search_space
        shape = (None,) + tuple(space.input_shape)
        train = check_data(x, y, shape, space.num_classes, "x", "y")
        validation = labelled_data(
            validation_data, shape, space.num_classes, "validation_data"
        )
        return train, validation

    def _make_evaluator(self, train, validation, epochs, batch_size,
                        verbose):
        options = dict(
            epochs=epochs,
            batch_size=batch_size,
            verbose=2 if verbose == 2 else 0,
            max_flash_bytes=self.max_flash_bytes,
            max_ram_bytes=self.max_ram_bytes,
            floor_confidence=self.floor_confidence,
            **self.evaluator_options,
        )
        if self.supernet is None:
            return CandidateEvaluator(
                self.search_space, train, validation,
                self.min_accuracy, self.max_macs, **options,
            )
        return InheritedEvaluator(
            self.supernet, train, validation,
            self.min_accuracy, self.max_macs, **options,
        )

    def stop_search(self):
        """Ends the search after the current trial (it stays resumable)."""
        self._stop_requested = True

    def _run_trials(self):
        """`BaseTuner.search`'s loop, in one process or on a worker, with a
        backing-off wait at generation barriers (IDLE), the trial callbacks
        and, on a worker, a heartbeat while a trial trains."""
        self.on_search_begin()
        for callback in self.trial_callbacks:
            callback.on_search_begin(self)
        self.idle.reset()
        while not self._stop_requested:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:
                self.idle.sleep()
                continue
            self.idle.reset()
            self.on_trial_begin(trial)
            self._last_evaluation = None
            for callback in self.trial_callbacks:
                callback.on_trial_begin(self, trial)
            if self.role == "worker":
                interval = worker.heartbeat_interval(self.trial_timeout)
                with worker.heartbeat(self.oracle, trial.trial_id, interval):
                    self._try_run_and_update_trial(trial)
            else:
                self._try_run_and_update_trial(trial)
            self.on_trial_end(trial)
            for callback in self.trial_callbacks:
                callback.on_trial_end(self, trial, self._last_evaluation)
        self.on_search_end()
        for callback in self.trial_callbacks:
            callback.on_search_end(self)

    def _serve(self):
        """The chief: serves the oracle until the search is done."""
        self.save()
        self.oracle.trial_ended_callback = lambda trial: self.display.show(
            self.display.trial_line(self.oracle, trial, self.role))
        try:
            chief.serve(self.oracle, self.project_dir,
                        on_poll=self.worker_monitor,
                        verbose=self.display.verbose)
        finally:
            self.save()

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
        self._last_evaluation = result
        if result.status == "failed":
            # Recorded as a failed trial; the search goes on.
            raise kt.errors.FailedTrialError(result.reason)
        trial_dir = self.get_trial_dir(trial.trial_id)
        os.makedirs(trial_dir, exist_ok=True)
        model = getattr(self.evaluation, "last_model", None)
        if model is not None and not result.cached and self._keeps_model(result):
            model.save(os.path.join(trial_dir, MODEL_FILE))
        write_candidate(trial_dir, result)
        # The details travel with the objectives (numbers only over gRPC).
        return {
            "accuracy": result.accuracy,
            "expected_macs": result.expected_macs,
            **flatten_details(result.metrics),
        }

    def _keeps_model(self, result):
        """Whether to save the trial's model. Always from scratch (the
        training is the cost) and on a worker (it cannot see the archive);
        on inherited weights, where saving is a good part of an evaluation,
        only a candidate that may still end on the admissible front: the
        others can be extracted again (`Supernet.extract`)."""
        if self.supernet is None or self.role == "worker":
            return True
        return bool(result.admissible) and self.oracle.may_join_admissible_front(
            result.accuracy, result.expected_macs
        )

    def _get_tuner_fname(self):
        if self.role == "worker":
            # Never written: a worker has no state of its own to reload.
            return os.path.join(str(self.project_dir), f".{self.tuner_id}.json")
        return os.path.join(str(self.project_dir), TUNER_FILE)

    def save(self):
        """Saves the oracle and the tuner's file, both atomically (a worker
        saves nothing: the chief holds the search)."""
        if self.role == "worker":
            return
        self.oracle.save()
        write_json_atomically(self._get_tuner_fname(), self.get_state())

    def reload(self):
        """Reloads the search; a damaged state file is named (see
        `NSGA2Oracle.reload`)."""
        if self.role != "worker":
            self.oracle.reload()
        self.set_state(
            read_json(
                self._get_tuner_fname(),
                what="the tuner's own state",
                remedy="write `{}` into it (it holds nothing else) and resume",
            )
        )

    def load_model(self, trial):
        path = os.path.join(self.get_trial_dir(trial.trial_id), MODEL_FILE)
        if not os.path.exists(path) and self.supernet is not None:
            raise FileNotFoundError(
                f"Trial {trial.trial_id} has no {MODEL_FILE}: a supernet search "
                "keeps the models of admissible front candidates only. Rebuild "
                "this one with `supernet.extract(trial.hyperparameters.values, "
                "x=train_images)`."
            )
        return load_solution_model(path)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.role == "worker":
            line = self.display.worker_line(
                self.tuner_id, trial, getattr(self, "_last_evaluation", None),
                self.idle.total)
        else:
            line = self.display.trial_line(self.oracle, trial, self.role)
        self.display.show(line)

    # ------------------------------------------------------------------
    def _rule_name(self):
        from keras_nachos import rules

        if self.evaluator is not None:
            return self.evaluator.rule.name
        return rules.get(self.evaluator_options.get("rule")
                         or default_rule(self.search_space)).name

    def _solution(self, record):
        return solution(record, self.get_trial_dir(record["trial_id"]),
                        self._rule_name())

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
    tuner_file = os.path.join(project, TUNER_FILE)
    if os.path.exists(os.path.join(project, "oracle.json")) and not (
        os.path.exists(tuner_file)
    ):
        write_json_atomically(tuner_file, {})


def supernet_of(supernet, space):
    """The `Supernet` a search's `supernet` argument names (an instance or
    a path), checked against the search space `space`; `None` for `None`.

    Raises:
        ValueError: If the supernet's space is not `space` (up to the
            threshold mode, which is the search's).
    """
    if supernet is None:
        return None
    from keras_nachos.search.supernet import Supernet
    from keras_nachos.search.supernet import load_supernet

    if not isinstance(supernet, Supernet):
        supernet = load_supernet(supernet)

    def architecture(config):
        # The threshold mode is the search's, not the network's.
        return {k: v for k, v in config.items() if k != "threshold_mode"}

    if architecture(supernet.space.get_config()) != architecture(
        space.get_config()
    ):
        raise invalid_value(
            "supernet", "a supernet of the search's space (trained on "
            "`SearchSpace(**config)` with the same config)",
            supernet.space.get_config(),
        )
    return supernet
