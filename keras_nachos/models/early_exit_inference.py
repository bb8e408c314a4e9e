"""Inference with an early-exit model: every exit, a real early exit, a
report, an export.

`EarlyExitInference` is the part of `EarlyExitModel` that predicts. It reads
the model's `exit_names`, `num_exits`, `num_classes`, `has_confidence`,
`exit_macs`, `exit_costs`, `backbone_macs` and `backbone`.
"""

import numpy as np

from keras_nachos import rules as rules_module
from keras_nachos.data_utils import check_batch_size
from keras_nachos.data_utils import check_data
from keras_nachos.data_utils import check_inputs
from keras_nachos.data_utils import is_array_like
from keras_nachos.data_utils import is_dataset
from keras_nachos.data_utils import labelled_data
from keras_nachos.inference import EarlyExitResult
from keras_nachos.inference import StagedRunner


class EarlyExitInference:
    """Predicts with every exit or with a real early exit, and exports."""

    def _get_runner(self):
        derived = self._derived
        if derived.runner is None:
            derived.runner = StagedRunner(self)
        return derived.runner

    def _check_inputs(self, x, argument="x"):
        check_inputs(x, self.backbone.inputs[0].shape, argument)

    def _check_data(self, x, y, x_argument="x", y_argument="y"):
        """`(x, class ids)` from arrays or a dataset of `(x, y)` batches
        (read once), checked against the model (`data_utils.check_data`)."""
        shape = self.backbone.inputs[0].shape
        if is_dataset(x):
            check_inputs(x, shape, x_argument)  # its spec, before reading it
            return labelled_data(x, shape, self.num_classes, x_argument)
        return check_data(x, y, shape, self.num_classes, x_argument,
                          y_argument)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, its inputs checked first: an array or a
        dataset of the model's input shape, finite values
        (`data_utils.check_inputs`); other inputs go to Keras as they are."""
        if is_array_like(x) or is_dataset(x):
            self._check_inputs(x)
        return super().predict(x, *args, **kwargs)

    def predict_exits(self, x, batch_size=256, verbose=0):
        """Runs every exit on every sample.

        Args:
            x: Array of inputs, or a `tf.data.Dataset` of inputs or `(x, y)`
                batches.
            batch_size: Integer, for array inputs. Defaults to `256`.
            verbose: `0` (silent, default) or `1` (progress bar).

        Returns:
            List of numpy arrays, one per exit in `exit_names` order.
        """
        self._check_inputs(x)
        check_batch_size(batch_size)
        # Keras' own predict: the inputs are checked already.
        outputs = super().predict(x, batch_size=batch_size, verbose=verbose)
        return [np.asarray(outputs[n]) for n in self.exit_names]

    def _rule_and_thresholds(self, rule, thresholds):
        rule = rules_module.get(rule)
        thresholds = rule.validate_thresholds(
            thresholds, self.num_exits - 1, self.num_classes
        )
        rules_module.check_rule_fits(rule, self.has_confidence[:-1])
        return rule, thresholds

    def predict_early_exit(
        self,
        x,
        thresholds=None,
        rule="max_probability",
        batch_size=256,
        verbose=0,
    ):
        """Predicts with a real early exit: samples that leave stop computing.

        The backbone runs stage by stage; after each early exit, only the
        samples whose rule did not fire go on to the next stage.

        Args:
            x: Numpy array or tensor of inputs (shaped like the model's
                input), or a `tf.data.Dataset` of inputs or
                `(inputs, labels)` batches.
            thresholds: List of floats, one per early exit (the final exit
                always fires). Can be omitted when the rule holds them.
            rule: An `ExitRule` or its name: `"max_probability"` (default),
                `"entropy"`, `"score_margin"`, `"cascade_confidence"`,
                `"class_means"`.
            batch_size: Integer, samples per batch for array inputs.
                Defaults to `256`.
            verbose: `0` (silent, default) or `1` (progress bar).

        Returns:
            An `EarlyExitResult` with `predictions` (class ids),
            `exit_indices` (0-based exit per sample), `macs` (MACs spent per
            sample, cumulative convention), `probabilities`, `exit_fractions`
            and `expected_macs`.
        """
        rule, thresholds = self._rule_and_thresholds(rule, thresholds)
        check_batch_size(batch_size)
        self._check_inputs(x)
        runner = self._get_runner()
        predictions, exit_indices, probabilities = runner.run_checked(
            x, rule, thresholds, batch_size=batch_size, verbose=verbose
        )
        costs = np.asarray(self.exit_macs, dtype="int64")
        return EarlyExitResult(
            predictions=predictions,
            exit_indices=exit_indices,
            macs=costs[exit_indices],
            probabilities=probabilities,
            exit_names=list(self.exit_names),
            exit_macs=list(self.exit_macs),
            backbone_macs=self.backbone_macs,
        )

    def evaluate_early_exit(
        self,
        x,
        y=None,
        thresholds=None,
        rule="max_probability",
        batch_size=256,
        curve=None,
    ):
        """Evaluates the early-exit network and returns an `EarlyExitReport`.

        Every exit is computed once (for per-exit accuracies on all samples);
        the exits taken are those the rule picks on those outputs
        (`keras_nachos.calibration.evaluate_exit_outputs`), which are the
        ones `predict_early_exit` takes.

        Args:
            x: Array of inputs, or a `tf.data.Dataset` of `(x, y)` batches
                (read once).
            y: Labels when `x` is an array: class ids in
                `[0, num_classes)`, or one-hot rows (converted).
            thresholds: One per early exit (or held by the rule).
            rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
            batch_size: Integer. Defaults to `256`.
            curve: Optional `(m, 2)` array of (expected MACs, accuracy) points
                to plot with the report (e.g. a calibration curve).

        Returns:
            An `EarlyExitReport` (`print` it, `.to_dict()`, `.plot(path)`).
        """
        from keras_nachos.calibration.evaluation import evaluate_exit_outputs
        from keras_nachos.reporting.early_exit_report import EarlyExitReport

        rule, thresholds = self._rule_and_thresholds(rule, thresholds)
        check_batch_size(batch_size)
        x, y = self._check_data(x, y)
        outputs = self.predict_exits(x, batch_size=batch_size)
        evaluation = evaluate_exit_outputs(
            outputs, y, self.exit_macs, rule, thresholds, self.num_classes
        )
        return EarlyExitReport.from_evaluation(
            evaluation, self.exit_names, self.exit_costs, curve=curve
        )

    def export_early_exit(
        self,
        directory,
        thresholds=None,
        rule="max_probability",
        quantize=None,
        representative_data=None,
        micro=False,
        single_file=None,
    ):
        """Writes the model as one LiteRT `.tflite` per stage + a manifest.

        The early exit stays real on the device: each stage (a backbone
        segment and its exit head) is its own file, and
        `keras_nachos.deploy.load(directory).predict_early_exit(x)` runs the
        rule between them (see `keras_nachos.deploy.export_early_exit`).

        Args:
            directory: Output folder.
            thresholds: One per early exit (or held by the rule).
            rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
            quantize: `None` (float32) or `"int8"` (full integer).
            representative_data: Input samples to calibrate int8 ranges on
                (required with `quantize="int8"`).
            micro: Boolean; `True` also measures each stage's TFLite Micro
                arena and writes C array headers (needs `tflite-micro`).
            single_file: Boolean or `None` (default: whenever it can); also
                writes `early_exit.tflite`, the whole early exit in one file
                for one sample, the stages chained by in-graph conditionals
                (float exports with a rule that `runs_in_graph`).

        Returns:
            The `keras_nachos.deploy.Manifest` written.
        """
        from keras_nachos.deploy.export import export_early_exit

        return export_early_exit(
            self, directory, thresholds=thresholds, rule=rule,
            quantize=quantize, representative_data=representative_data,
            micro=micro, single_file=single_file,
        )
