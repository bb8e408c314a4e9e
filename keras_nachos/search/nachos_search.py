"""NachosSearch: the Keras Tuner front of the NACHOS architecture search."""

import contextlib
import json
import os
import threading
import time

import keras
import keras_tuner as kt
from keras_tuner.engine import trial as trial_module

from keras_nachos.calibration.guarantee import check_floor_confidence
from keras_nachos.checks import check_int
from keras_nachos.constraints import check_constraints
from keras_nachos.constraints import check_device_budget
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.search.cached_evaluation import CachedEvaluation
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.candidate_evaluator import default_rule
from keras_nachos.search.inherited_evaluator import InheritedEvaluator
from keras_nachos.search.nsga2 import NSGA2Oracle
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.space_hypermodel import SpaceHyperModel
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically
from keras_nachos.search.trial_metrics import flatten_details

TrialStatus = trial_module.TrialStatus

CANDIDATE_FILE = "candidate.json"
MODEL_FILE = "eenn.keras"
# The tuner's own state file, whatever `KERASTUNER_TUNER_ID` is: one name
# for a single process and for a distributed chief, so a finished search
# reopens with the default tuner id. Workers write none.
TUNER_FILE = "tuner0.json"
# A worker waiting at a generation barrier asks again after 0.05 s, then
# twice as long each time, at most this long.
MAX_IDLE_WAIT = 1.0
# Written by a distributed chief when it ends: `NSGA2Oracle.timeline()`.
TIMELINE_FILE = "timeline.json"
# With a supernet: the fine-tuned figures and model of a front candidate.
FINETUNED_FILE = "finetuned.json"
FINETUNED_MODEL_FILE = "eenn_finetuned.keras"


def distributed_role():
    """`"worker"`, `"chief"` or `None` (one process), from Keras Tuner's
    environment variables (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
    `KERASTUNER_ORACLE_PORT`)."""
    from keras_tuner.src.distribute import utils as dist_utils

    if not dist_utils.has_chief_oracle():
        return None
    return "chief" if dist_utils.is_chief_oracle() else "worker"


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
            another worker (see `NSGA2Oracle`). Workers say they are alive
            every `trial_timeout / 4` seconds (at most every 10 s) while they
            train.
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
        population_size=8,
        generations=3,
        preselect=4,
        seed=None,
        evaluator_options=None,
        max_flash_bytes=None,
        max_ram_bytes=None,
        trial_timeout=None,
        supernet=None,
        floor_confidence=None,
        **kwargs,
    ):
        if not isinstance(search_space, SearchSpace):
            raise invalid_type("search_space", "a SearchSpace", search_space)
        self.supernet = _supernet_of(supernet, search_space)
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
        self.floor_confidence = check_floor_confidence(floor_confidence)
        if "floor_confidence" in (evaluator_options or {}):
            raise invalid_value(
                "evaluator_options",
                "a dict without floor_confidence (an argument of "
                "NachosSearch itself)",
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
            trial_timeout=trial_timeout,
        )
        self.role = distributed_role()
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
        super().__init__(oracle=oracle, hypermodel=SpaceHyperModel(search_space),
                         **kwargs)
        if self.role == "worker":
            self.oracle = PatientClient(self.oracle)
        self._search_start = None
        self._trials_done_at_start = 0

    # ------------------------------------------------------------------
    def search(self, x, y, validation_data, epochs=1, batch_size=128, verbose=1,
               finetune_epochs=None):
        """Runs the search.

        Args:
            x, y: Training arrays (the candidates' training split).
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
        """
        if not (isinstance(validation_data, (tuple, list))
                and len(validation_data) == 2):
            raise invalid_value(
                "validation_data", "a tuple (x_val, y_val)", validation_data
            )
        if finetune_epochs is not None:
            if self.supernet is None:
                raise invalid_value(
                    "finetune_epochs", "None without a supernet (candidates "
                    "are trained from scratch)", finetune_epochs,
                )
            check_int("finetune_epochs", finetune_epochs, min_value=0)
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
            self.evaluator = CandidateEvaluator(
                self.search_space, (x, y), tuple(validation_data),
                self.min_accuracy, self.max_macs, **options,
            )
        else:
            self.evaluator = InheritedEvaluator(
                self.supernet, (x, y), tuple(validation_data),
                self.min_accuracy, self.max_macs, **options,
            )
        self._finetune_epochs = epochs if finetune_epochs is None else finetune_epochs
        self.evaluation = CachedEvaluation(self.evaluator)
        self._verbose = verbose
        self._search_start = time.time()
        if self.role != "worker":
            self.oracle.verbose = 0  # Keras Tuner's own display: ours instead.
            self._trials_done_at_start = len(self._finished_trials())
        if self.role == "chief":
            self._serve()
        else:
            self._run_trials()
        if self.supernet is not None and self.role != "worker":
            self._finetune_front()

    def _finetune_front(self):
        """Fine-tunes every admissible Pareto-optimal candidate (not done
        yet) and records its figures beside the inherited ones."""
        epochs = self._finetune_epochs
        if not epochs:
            return
        front = self.oracle.admissible_front()
        for i, record in enumerate(front):
            trial_dir = self.get_trial_dir(record["trial_id"])
            path = os.path.join(trial_dir, FINETUNED_FILE)
            if os.path.exists(path):
                continue
            start = time.time()
            metrics, model = self.evaluator.finetune(record["values"], epochs)
            os.makedirs(trial_dir, exist_ok=True)
            model.save(os.path.join(trial_dir, FINETUNED_MODEL_FILE))
            metrics.pop("curve", None)
            metrics["admissible"] = bool(
                metrics["accuracy"] >= self.min_accuracy
                and metrics["expected_macs"] <= self.max_macs
            )
            write_json_atomically(path, metrics)
            if getattr(self, "_verbose", 1):
                print(
                    f"[fine-tune {i + 1}/{len(front)}] trial "
                    f"{record['trial_id']}: accuracy {record['accuracy']:.4f}"
                    f" -> {metrics['accuracy']:.4f}, expected_macs "
                    f"{record['macs']:,.0f} -> {metrics['expected_macs']:,.0f}"
                    f" ({time.time() - start:.1f} s)", flush=True,
                )

    def _run_trials(self):
        """`BaseTuner.search`'s loop, in one process or on a worker, with a
        backing-off wait at generation barriers (IDLE) and, on a worker, a
        heartbeat while a trial trains."""
        self.on_search_begin()
        wait = 0.0
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:
                wait = min(MAX_IDLE_WAIT, max(0.05, 2 * wait))
                self._idle_seconds += wait
                time.sleep(wait)
                continue
            wait = 0.0
            self.on_trial_begin(trial)
            with self._heartbeat(trial.trial_id):
                self._try_run_and_update_trial(trial)
            self.on_trial_end(trial)
        self.on_search_end()

    _idle_seconds = 0.0
    # Optional callable `oracle -> None` the chief calls while it serves
    # (`keras-nachos search --workers N` watches its worker processes).
    worker_monitor = None

    @contextlib.contextmanager
    def _heartbeat(self, trial_id):
        """On a worker: asks the chief for its trial every few seconds (what
        the chief's `trial_timeout` listens to) while the trial runs."""
        if self.role != "worker":
            yield
            return
        interval = 10.0 if self.trial_timeout is None else min(
            10.0, max(0.2, self.trial_timeout / 4))
        done = threading.Event()

        def beat():
            while not done.wait(interval):
                try:
                    self.oracle.get_trial(trial_id)
                except Exception:  # The chief is away: the next beat retries.
                    pass

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _serve(self):
        """The chief: serves the oracle over gRPC until the search is done.

        As Keras Tuner's `oracle_chief.start_server` (one server thread), but
        it ends as soon as the search is finished, no trial is running and
        every worker has been told to stop (or, for workers that went away,
        5 s after the rest have), instead of polling every 20 s.
        """
        from concurrent import futures

        import grpc
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_chief import OracleServicer

        self.save()
        if getattr(self, "_verbose", 1):
            self.oracle.trial_ended_callback = lambda trial: print(
                self._progress_line(trial), flush=True)
        address = (f"{os.environ['KERASTUNER_ORACLE_IP']}:"
                   f"{os.environ['KERASTUNER_ORACLE_PORT']}")
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        servicer = OracleServicer(self.oracle)
        protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
        if server.add_insecure_port(address) == 0:
            raise RuntimeError(
                f"The chief cannot listen on {address} "
                "(KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT): is the port "
                "in use?"
            )
        server.start()
        served_from = time.time()
        if getattr(self, "_verbose", 1):
            print(f"Chief: serving the search on {address}", flush=True)
        done_since = None
        try:
            while True:
                time.sleep(0.2)
                done, waiting = self.oracle.serving_status()
                if self.worker_monitor is not None:
                    self.worker_monitor(self.oracle)
                if not done:
                    done_since = None
                    continue
                done_since = done_since or time.monotonic()
                if waiting == 0 or time.monotonic() - done_since > 5.0:
                    break
        finally:
            server.stop(grace=1.0)
        self.save()
        write_json_atomically(
            os.path.join(str(self.project_dir), TIMELINE_FILE),
            {"served_from": served_from, "served_to": time.time(),
             "trials": self.oracle.timeline()},
        )

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
        self._last_result = result
        if result.status == "failed":
            # Recorded as a failed trial; the search goes on.
            raise kt.errors.FailedTrialError(result.reason)
        trial_dir = self.get_trial_dir(trial.trial_id)
        os.makedirs(trial_dir, exist_ok=True)
        if (self.evaluation.last_model is not None and not result.cached
                and self._keeps_model(result)):
            self.evaluation.last_model.save(os.path.join(trial_dir, MODEL_FILE))
        with open(os.path.join(trial_dir, CANDIDATE_FILE), "w") as f:
            json.dump({"values": result.values, **result.metrics}, f)
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
        return keras.models.load_model(path)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if getattr(self, "_verbose", 1):
            if self.role == "worker":
                print(self._worker_line(trial), flush=True)
            else:
                print(self._progress_line(trial), flush=True)

    def _worker_line(self, trial):
        """A worker's progress line, from its own result (it never reads the
        oracle)."""
        result = getattr(self, "_last_result", None)
        elapsed = _hms(time.time() - self._search_start)
        if trial.status != TrialStatus.COMPLETED or result is None:
            reason = (trial.message or "").strip().splitlines()
            return (f"[{self.tuner_id}] trial {trial.trial_id} FAILED: "
                    f"{reason[-1] if reason else 'failed'} (elapsed {elapsed})")
        return (
            f"[{self.tuner_id}] trial {trial.trial_id} accuracy="
            f"{result.accuracy:.4f} expected_macs={result.expected_macs:,.0f} "
            f"(elapsed {elapsed}, idle {self._idle_seconds:.1f} s)"
        )

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
        if self.role == "chief" and record.get("tuner_id"):
            verdict += f" on {record['tuner_id']}"
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
        # The details as they travelled with the trial's metrics; the
        # trial's candidate.json (on a shared file system, or in one
        # process) adds the rest (the rule, the threshold curve).
        details = dict(record.get("details") or {})
        if record.get("status") == "completed":
            details["rule"] = self._rule_name()
        if os.path.exists(path):
            with open(path) as f:
                details.update(json.load(f))
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
                "tuner_id": record.get("tuner_id"),
            }
        )
        solution.pop("curve", None)
        finetuned = os.path.join(trial_dir, FINETUNED_FILE)
        if os.path.exists(finetuned):
            solution["finetuned"] = read_json(
                finetuned, what="a fine-tuned candidate's figures",
                remedy="delete it: the search fine-tunes the candidate again "
                "when it is resumed",
            )
            solution["finetuned_model_path"] = os.path.join(
                trial_dir, FINETUNED_MODEL_FILE
            )
        return solution

    def _rule_name(self):
        from keras_nachos import rules

        if self.evaluator is not None:
            return self.evaluator.rule.name
        return rules.get(self.evaluator_options.get("rule")
                         or default_rule(self.search_space)).name

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


class PatientClient:
    """A worker's `OracleClient` that waits for a chief that went away.

    Keras Tuner's client calls wait for the chief to be ready, but a call in
    flight when the chief dies fails at once; this one asks again (every
    second, up to `patience` seconds), so a restarted chief finds its workers
    still there.
    """

    def __init__(self, client, patience=600.0):
        self._client = client
        self._patience = patience

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            import grpc

            deadline = time.monotonic() + self._patience
            while True:
                try:
                    return attribute(*args, **kwargs)
                except grpc.RpcError as error:
                    if (error.code() != grpc.StatusCode.UNAVAILABLE
                            or time.monotonic() > deadline):
                        raise
                    time.sleep(1.0)

        return call


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


def _supernet_of(supernet, space):
    """The `Supernet` argument of a search (an instance or a path)."""
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


def _hms(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

