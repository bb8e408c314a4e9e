"""Training and scoring one candidate EENN of a search."""

import contextlib
import math
import random
import time
import zlib

import keras
import numpy as np

from keras_nachos import rules as rules_module
from keras_nachos.calibration import calibrate_from_outputs
from keras_nachos.calibration import evaluate_exit_outputs
from keras_nachos.calibration import guarantee as guarantee_module
from keras_nachos.checks import check_int
from keras_nachos.constraints import check_device_budget
from keras_nachos.constraints import device_budget_excess
from keras_nachos.data_utils import labelled_data
from keras_nachos.search.records import candidate_key
from keras_nachos.training import NachosLoss


def _gradient_registry():
    """TensorFlow's registry of gradient functions (a dict), or None."""
    # TensorFlow has no public API to unregister a gradient function.
    try:
        from tensorflow.python.framework import ops
    except ImportError:  # pragma: no cover - the backend is TensorFlow
        return None
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def released_custom_gradients():
    """Drops the `tf.custom_gradient` registrations made inside the block.

    Tracing a function that uses `tf.custom_gradient` (a Keras 3 training
    step does, twice) registers its gradient function in TensorFlow's global
    gradient registry under a fresh `CustomGradient-N` name, and nothing ever
    removes it; its closure keeps the whole traced graph alive.
    `keras.backend.clear_session()` does not help, so a search that trains
    hundreds of candidates in one process keeps every candidate's graphs:
    about 80,000 Python objects and 50 MB per candidate here, and the
    garbage collector's passes, hence each training, get slower as the
    search goes on. The registrations are only read while a gradient is
    built, i.e. during the trace that made them; a later retrace registers
    new ones. So dropping them once the candidate's training is done is safe
    (a model kept and trained again still works, see the tests).
    """
    registry = _gradient_registry()
    before = set(registry) if registry is not None else None
    try:
        yield
    finally:
        if registry is not None:
            for name in [
                k for k in list(registry)
                if k not in before and str(k).startswith("CustomGradient-")
            ]:
                registry.pop(name, None)


# Share of the validation split that calibrates a candidate's thresholds
# when the search guarantees the floor (the rest scores them).
FLOOR_CURVE_FRACTION = 0.3


def default_rule(space):
    """The exit rule a search uses when none is given: the cascade rule for
    confidence heads, max probability otherwise."""
    return "cascade_confidence" if space.confidence else "max_probability"


class CandidateEvaluator:
    """Builds, trains and scores candidates of a `SearchSpace`.

    Training uses the EarlyExitModel losses: one cross-entropy per exit, or,
    for a space with confidence heads, the `NachosLoss` (its MAC-budget term
    set to `max_macs`; weights configurable through `loss_options`). The
    objectives are measured on the validation split only, never on test data:
    in the calibrated mode the thresholds are tuned there
    (`calibrate_from_outputs` with the MAC budget: the most accurate setting
    within `max_macs`, or the least violating one), in the genes mode they are
    the candidate's threshold genes.

    The data is checked once, when the evaluator is made, against the space
    (`data_utils.labelled_data`: finite images of its input shape, labels
    that are class ids in `[0, num_classes)` with one-hot rows converted,
    one per image, at least one): a data error raises a `ValueError` naming
    `train_data` or `validation_data`, it is no failed candidate.

    Args:
        space: The `SearchSpace`.
        train_data: Tuple `(x, y)` of training arrays (or a
            `tf.data.Dataset` of `(x, y)` batches, read once).
        validation_data: Tuple `(x, y)` of validation arrays (or a dataset,
            likewise).
        min_accuracy: Float, the accuracy floor `A_min`.
        max_macs: Float, the expected-MACs budget `M_max`.
        epochs: Integer, training epochs per candidate. Defaults to `1`.
        batch_size: Integer. Defaults to `128`.
        learning_rate: Float, Adam's learning rate. Defaults to `3e-3`.
        rule: Exit rule name or object. Defaults to `"max_probability"`
            (`"cascade_confidence"` when the space has confidence heads).
        loss_options: Optional dict of `NachosLoss` keyword arguments.
        exit_weights: Exit-loss weights for `compile` (not for NachosLoss).
        seed: Integer; each candidate trains with a seed derived from it and
            from the candidate's values, so an evaluation is reproducible.
            Defaults to `0`.
        max_flash_bytes: Optional positive number, a budget on the int8
            stage files together (`model.device_costs.flash_bytes`).
        max_ram_bytes: Optional positive number, a budget on the largest
            stage's TFLite Micro arena (`model.device_costs.ram_bytes`).
            Candidates over either budget are scored infeasible without
            training (`precheck`), like those over `max_macs`.
        floor_confidence: Optional float in (0, 1): the accuracy objective
            becomes the guaranteed accuracy, the lower confidence bound at
            this confidence (exact Clopper-Pearson) of the candidate's
            accuracy on new data, so that admissible means "A_min holds on
            new data with this confidence". The validation split is then
            kept in two: in the calibrated mode a random 30% (`seed`)
            calibrates the thresholds (the most accurate within `max_macs`),
            the other 70% scores them (accuracy, its bound, expected MACs),
            so the bound is on data the thresholds never saw; in the genes
            mode nothing is calibrated and all of it scores. Too small a
            split to certify `min_accuracy` at all is refused when the
            evaluator is made.
    """

    def __init__(
        self,
        space,
        train_data,
        validation_data,
        min_accuracy,
        max_macs,
        epochs=1,
        batch_size=128,
        learning_rate=3e-3,
        rule=None,
        loss_options=None,
        exit_weights=None,
        seed=0,
        verbose=0,
        max_flash_bytes=None,
        max_ram_bytes=None,
        floor_confidence=None,
    ):
        self.space = space
        shape = (None,) + tuple(space.input_shape)
        self.train_data = labelled_data(
            train_data, shape, space.num_classes, "train_data"
        )
        self.validation_data = labelled_data(
            validation_data, shape, space.num_classes, "validation_data"
        )
        self.min_accuracy = float(min_accuracy)
        self.max_macs = float(max_macs)
        self.epochs = check_int("epochs", epochs, min_value=1)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        self.learning_rate = learning_rate
        self.rule = rules_module.get(rule or default_rule(space))
        self.loss_options = dict(loss_options or {})
        self.exit_weights = exit_weights
        self.seed = int(seed)
        self.verbose = verbose
        self.max_flash_bytes = check_device_budget("max_flash_bytes", max_flash_bytes)
        self.max_ram_bytes = check_device_budget("max_ram_bytes", max_ram_bytes)
        self.floor_confidence = guarantee_module.check_floor_confidence(
            floor_confidence
        )
        if self.floor_confidence is not None:
            self._check_floor_samples()
        self._static_costs = {}
        self._device_costs = {}

    def static_costs(self, values):
        """Builds the candidate and returns its `exit_macs` (no training).

        Memoised by candidate: a search asks for the same candidate's costs
        when it screens it and again when it is issued.
        """
        key = candidate_key(values)
        if key not in self._static_costs:
            model = self.space.build(values)
            self._static_costs[key] = list(model.exit_macs)
            self._keep_built(key, model)
            if self.max_flash_bytes is not None or self.max_ram_bytes is not None:
                self._device_costs[key] = model.device_costs
        return list(self._static_costs[key])

    def _keep_built(self, key, model):
        """Hook for a model `static_costs` built (and would drop):
        `InheritedEvaluator` keeps it to fill with inherited weights."""

    def device_costs(self, values):
        """The candidate's estimated int8 flash and RAM (`DeviceCosts`)."""
        key = candidate_key(values)
        if key not in self._device_costs:
            self._device_costs[key] = self.space.build(values).device_costs
        return self._device_costs[key]

    def precheck(self, values):
        """Scores a hopeless candidate without training, else returns None.

        The cheapest any threshold setting can make a candidate is every
        sample leaving at the first exit; if that already exceeds `max_macs`
        the candidate is infeasible whatever training gives.
        """
        costs = self.static_costs(values)
        over = device_budget_excess(
            self.device_costs(values) if (
                self.max_flash_bytes is not None or self.max_ram_bytes is not None
            ) else None,
            self.max_flash_bytes, self.max_ram_bytes,
        )
        if over:
            return {
                "accuracy": 0.0,
                "expected_macs": float(costs[0]),
                "static_macs": [int(c) for c in costs],
                "skipped": over,
            }
        if costs[0] > self.max_macs:
            return {
                "accuracy": 0.0,
                "expected_macs": float(costs[0]),
                "static_macs": [int(c) for c in costs],
                "skipped": (
                    f"first exit alone costs {costs[0]:,} MACs > max_macs "
                    f"{self.max_macs:,.0f}"
                ),
            }
        return None

    def candidate_seed(self, values):
        """A seed fixed by the candidate: its training is reproducible."""
        key = candidate_key(values).encode()
        return (zlib.crc32(key) + self.seed) % (2**31)

    @contextlib.contextmanager
    def seeded(self, values):
        """Seeds Python, NumPy and TF for one candidate, then gives the
        caller's `random` and NumPy streams back as they were."""
        python_state, numpy_state = random.getstate(), np.random.get_state()
        keras.utils.set_random_seed(self.candidate_seed(values))
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)

    def build_and_compile(self, values):
        return self.compile_model(self.space.build(values))

    def compile_model(self, model):
        """Compiles a candidate with the search's optimizer and exit losses."""
        optimizer = keras.optimizers.Adam(self.learning_rate)
        if self.space.confidence:
            options = {"max_macs": self.max_macs, **self.loss_options}
            model.compile(optimizer, loss=NachosLoss(**options),
                          metrics=["accuracy"])
        else:
            model.compile(optimizer, metrics=["accuracy"],
                          exit_weights=self.exit_weights)
        return model

    def __call__(self, values, callbacks=None):
        """Trains one candidate; returns its objectives and the model."""
        start = time.time()
        x, y = self.train_data
        with released_custom_gradients():
            with self.seeded(values):
                model = self.build_and_compile(values)
                history = model.fit(
                    x, y, epochs=self.epochs, batch_size=self.batch_size,
                    verbose=self.verbose, callbacks=callbacks,
                )
            loss = history.history["loss"][-1]
            if not math.isfinite(loss):
                raise FloatingPointError(f"training diverged (loss={loss})")
            metrics = self.score(model, values)
        metrics["train_seconds"] = time.time() - start
        return metrics, model

    def _floor_split(self):
        """`(calibrating, scoring)` validation indices under a guarantee."""
        n = len(self.validation_data[1])
        if self.space.threshold_mode == "genes":
            return np.arange(n), np.arange(n)
        return guarantee_module.split_indices(n, FLOOR_CURVE_FRACTION, self.seed)

    def _check_floor_samples(self):
        alpha = 1.0 - self.min_accuracy
        need = guarantee_module.min_testing_samples(alpha, self.floor_confidence)
        scoring = len(self._floor_split()[1])
        if scoring < need:
            share = "" if self.space.threshold_mode == "genes" else (
                f" ({1 - FLOOR_CURVE_FRACTION:.0%} of the validation split; "
                "the rest calibrates the thresholds)"
            )
            raise ValueError(
                f"Too few validation samples for floor_confidence="
                f"{self.floor_confidence} with min_accuracy="
                f"{self.min_accuracy}: even with no error a guarantee needs "
                f"{need:,} scoring samples; the split gives {scoring:,}"
                f"{share}. Give a larger validation split, or a lower "
                "floor_confidence or min_accuracy."
            )

    def score(self, model, values, outputs=None):
        """Objectives of a trained candidate on the validation split
        (`outputs`: its exits' outputs there, when already computed)."""
        x_val, y_val = self.validation_data
        if outputs is None:
            outputs = model.predict_exits(x_val, batch_size=512)
        if self.floor_confidence is not None:
            return self._guaranteed_score(model, values, outputs)
        return self._score(model, values, outputs, outputs, y_val, y_val)

    def _guaranteed_score(self, model, values, outputs):
        y_val = self.validation_data[1]
        calibrating, scoring = self._floor_split()
        metrics = self._score(
            model, values, [o[calibrating] for o in outputs], [
                o[scoring] for o in outputs
            ], y_val[calibrating], y_val[scoring],
        )
        n = len(scoring)
        errors = int(round((1.0 - metrics["accuracy"]) * n))
        bound = 1.0 - guarantee_module.risk_upper_bound(
            errors, n, self.floor_confidence
        )
        metrics.update(
            measured_accuracy=metrics["accuracy"],
            accuracy=float(bound),
            accuracy_lower_bound=float(bound),
            floor_confidence=self.floor_confidence,
            scoring_samples=int(n),
        )
        return metrics

    def _score(self, model, values, calibration_outputs, outputs,
               y_calibration, y_val):
        """Thresholds from `calibration_outputs`, figures on `outputs`."""
        costs = model.exit_macs
        k = model.num_classes
        if self.space.threshold_mode == "genes":
            thresholds = self.space.thresholds(values)
            evaluation = evaluate_exit_outputs(
                outputs, y_val, costs, self.rule, thresholds, k
            )
            accuracy = evaluation.accuracy
            expected = evaluation.expected_macs
            fractions = evaluation.exit_fractions
            curve = None
        else:
            result = calibrate_from_outputs(
                calibration_outputs, y_calibration, costs, rule=self.rule,
                num_classes=k, max_macs=self.max_macs, raise_if_infeasible=False,
            )
            thresholds, accuracy = result.thresholds, result.accuracy
            expected, fractions = result.expected_macs, result.exit_fractions
            curve = [[p.expected_macs, p.accuracy, list(p.thresholds)]
                     for p in result.curve]
            if outputs is not calibration_outputs:
                evaluation = evaluate_exit_outputs(
                    outputs, y_val, costs, self.rule, thresholds, k
                )
                accuracy = evaluation.accuracy
                expected = evaluation.expected_macs
                fractions = evaluation.exit_fractions
        return {
            "accuracy": float(accuracy),
            "expected_macs": float(expected),
            "thresholds": [float(t) for t in thresholds],
            "exit_fractions": [float(f) for f in fractions],
            "static_macs": [int(c) for c in costs],
            "backbone_macs": int(model.backbone_macs),
            "final_accuracy": float(
                np.mean(outputs[-1][:, :k].argmax(1) == y_val)
            ),
            "exit_accuracies": [
                float(np.mean(o[:, :k].argmax(1) == y_val)) for o in outputs
            ],
            "rule": self.rule.name,
            "curve": curve,
        }
