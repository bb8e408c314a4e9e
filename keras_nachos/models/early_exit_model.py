"""The early-exit model: a backbone with exit heads at chosen points."""

import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_nachos import heads as heads_module
from keras_nachos import rules as rules_module
from keras_nachos.costs import stage_costs
from keras_nachos.data_utils import check_batch_size
from keras_nachos.data_utils import check_inputs
from keras_nachos.data_utils import inputs_and_labels
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.inference import EarlyExitResult
from keras_nachos.inference import StagedRunner
from keras_nachos.models import graph_cuts
from keras_nachos.models.head_factory import adapt_head_pooling
from keras_nachos.models.head_factory import head_factory
from keras_nachos.models.head_factory import is_adaptive
from keras_nachos.training.exit_losses import as_loss
from keras_nachos.training.exit_weights import ExitWeightSchedule
from keras_nachos.training.exit_weights import ExitWeightScheduler
from keras_nachos.training.monitor_modes import MonitorModes
from keras_nachos.training.multi_exit_loss import MultiExitLoss


class _Derived:
    """Plain holder for objects derived from the graph, that Keras must not
    track (stage sub-models, exit costs, the staged runner)."""

    def __init__(self):
        self.stage_models = None
        self.exit_costs = None
        self.device_costs = None
        self.runner = None


class _TrainingState:
    """Plain holder for compile-time state that Keras must not track."""

    def __init__(self, num_exits):
        self.exit_weights = tf.Variable(
            np.ones(num_exits, "float32"), trainable=False, name="exit_weights"
        )
        self.schedule = None
        self.exit_losses = None
        self.multi_exit_loss = None
        self.loss_trackers = {}
        self.compile_config = None


@keras.saving.register_keras_serializable(package="keras_nachos")
class EarlyExitModel(keras.Model):
    """A backbone with early-exit classifiers, one output per exit.

    The model is a functional Keras model whose outputs are a dict of class
    probabilities, one entry per exit, in order: `"exit_1"`, `"exit_2"`, ...,
    `"final"` (`model.exit_names`). Heads with `confidence=True` add one column
    (the exit confidence) after the `num_classes` probabilities.

    Most users build one with `EarlyExitModel.from_backbone(...)`. Training
    takes one label array for all exits (`model.fit(x, y)`); inference with a
    real early exit is `model.predict_early_exit(x, thresholds)`.

    Args:
        backbone: A functional `keras.Model` with a single input and output.
        exit_points: List of layer names of `backbone`, in graph order; an
            early exit is attached after each.
        heads: List of `ExitHead` layers, one per exit point.
        final_head: Optional `ExitHead` put on the backbone's output (for a
            backbone without a classifier). Defaults to `None`: the backbone's
            output is the final exit.
        final_softmax: Boolean, whether to apply a softmax to the backbone's
            output (when it gives logits). Defaults to `False`.
        **kwargs: `keras.Model` keyword arguments, such as `name`.
    """

    def __init__(
        self,
        backbone,
        exit_points,
        heads,
        final_head=None,
        final_softmax=False,
        **kwargs,
    ):
        backbone = graph_cuts.as_functional(backbone)
        exit_points = list(exit_points)
        heads = list(heads)
        if len(heads) != len(exit_points):
            raise invalid_value(
                "heads",
                f"one head per exit point ({len(exit_points)})",
                heads,
            )
        # === Layers ===
        cuts = graph_cuts.find_cut_tensors(backbone, exit_points)
        final_layer = final_head
        if final_layer is None and final_softmax:
            # Outputs in float32 under mixed precision, as Keras recommends.
            final_layer = keras.layers.Softmax(
                name="final_softmax",
                dtype=keras.config.dtype_policy().variable_dtype,
            )

        # === Functional Model ===
        outputs = {}
        for i, (cut, head) in enumerate(zip(cuts, heads)):
            outputs[f"exit_{i + 1}"] = head(cut)
        final = backbone.outputs[0]
        if final_layer is not None:
            final = final_layer(final)
        outputs["final"] = final
        super().__init__(inputs=backbone.inputs[0], outputs=outputs, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.exit_points = exit_points
        self.heads = heads
        self.final_head = final_head
        self.final_softmax = final_softmax
        self.exit_names = [f"exit_{i + 1}" for i in range(len(heads))] + [
            "final"
        ]
        self.num_classes = int(final.shape[-1])
        self._cut_tensors = cuts
        self._exit_tensors = [outputs[n] for n in self.exit_names]
        self._final_layer = final_layer
        self._training_state = _TrainingState(len(self.exit_names))
        self._derived = _Derived()

    # ------------------------------------------------------------------
    # Construction from a backbone.
    # ------------------------------------------------------------------
    @classmethod
    def from_backbone(
        cls,
        backbone,
        exit_points,
        num_classes,
        head="global_pool",
        confidence=False,
        final_head=None,
        name=None,
    ):
        """Attaches early exits to a functional backbone.

        Args:
            backbone: A functional `keras.Model` (e.g. a
                `keras.applications` model built with `weights=None`).
            exit_points: List of layer names, in graph order. Each must cut
                the graph into a before and an after: a layer inside a
                residual branch is rejected.
            num_classes: Integer, number of classes.
            head: The early-exit head design: `"global_pool"` (default),
                `"sdn"` (mixed max/avg pooling + dense), `"conv"` (NACHOS,
                three 3x3 convs + dense, with the adaptive pooling rule), an
                `ExitHead` instance used as a template (cloned for each exit),
                or a callable `fn(exit_index, feature_shape) -> ExitHead`.
            confidence: Boolean, whether early heads also output a confidence
                for the cascade rule. Defaults to `False`.
            final_head: `None` (default: the backbone's output is the final
                exit if it has `num_classes` units; a backbone ending in a
                feature map gets a head of the same design), `True` (always put
                a head on the backbone's last features), or an `ExitHead`.
            name: Optional model name.

        Returns:
            An `EarlyExitModel`.

        Example:

        >>> inputs = keras.Input((28, 28, 1))
        >>> x = keras.layers.Conv2D(8, 3, name="block1")(inputs)
        >>> x = keras.layers.Conv2D(8, 3, name="block2")(x)
        >>> x = keras.layers.GlobalAveragePooling2D()(x)
        >>> outputs = keras.layers.Dense(10, activation="softmax")(x)
        >>> backbone = keras.Model(inputs, outputs)
        >>> model = EarlyExitModel.from_backbone(backbone, ["block1"], 10)
        >>> model.exit_names
        ['exit_1', 'final']
        """
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise invalid_type("num_classes", "an integer >= 2", num_classes)
        if num_classes < 2:
            raise invalid_value("num_classes", "an integer >= 2", num_classes)
        if isinstance(exit_points, str):
            exit_points = [exit_points]
        if not exit_points:
            raise invalid_value(
                "exit_points", "a non-empty list of layer names", exit_points
            )
        backbone = graph_cuts.as_functional(backbone)
        cuts = graph_cuts.find_cut_tensors(backbone, exit_points)
        output_shape = tuple(backbone.outputs[0].shape)
        final_softmax = False
        if final_head is None:
            if len(output_shape) > 2:
                final_head = True
            elif output_shape[-1] != num_classes or len(output_shape) != 2:
                raise invalid_value(
                    "num_classes",
                    f"the number of units of the backbone's output "
                    f"{output_shape} (or pass `final_head=True` to put a head "
                    "on the backbone's last features)",
                    num_classes,
                )
            else:
                final_softmax = not graph_cuts.ends_in_softmax(backbone)
        make_head = head_factory(head, num_classes)
        heads = [
            make_head(i, tuple(cut.shape), confidence, f"exit_{i + 1}_head")
            for i, cut in enumerate(cuts)
        ]
        if final_head is True:
            final_head = make_head(
                len(cuts), output_shape, False, "final_head"
            )
        elif final_head is not None and not isinstance(
            final_head, heads_module.ExitHead
        ):
            raise invalid_type(
                "final_head", "None, True or an ExitHead", final_head
            )
        if is_adaptive(head):
            heads = adapt_head_pooling(backbone, cuts, heads, final_head)
        return cls(
            backbone,
            exit_points,
            heads,
            final_head=final_head,
            final_softmax=final_softmax,
            name=name,
        )

    @property
    def num_exits(self):
        return len(self.exit_names)

    @property
    def trained_exits(self):
        """Whether each exit is trained by gradients (E2CM exits are not)."""
        return [
            not isinstance(h, heads_module.ClassMeansHead) for h in self.heads
        ] + [True]

    def fit_class_means(self, x, y=None, batch_size=256, verbose=0):
        """Fits the class means of every `ClassMeansHead` exit (E2CM).

        Two batched passes over the data with constant memory (running sums
        per class, never all features): the first computes the class means
        `mu_k`, the second the normalisers `s_k`, the mean distance of class
        `k`'s samples to `mu_k`. The backbone and other heads are not changed.

        Args:
            x: Array of inputs, or a `tf.data.Dataset` of `(x, y)` batches.
            y: Integer labels when `x` is an array.
            batch_size: Integer, for array inputs. Defaults to `256`.
            verbose: `0` or `1` (progress bar per pass).

        Returns:
            The model itself.
        """
        from keras_nachos.training.class_means_fitting import fit_class_means

        fit_class_means(self, x, y, batch_size=batch_size, verbose=verbose)
        return self

    @property
    def has_confidence(self):
        return [
            bool(getattr(h, "confidence", False)) for h in self.heads
        ] + [False]

    # ------------------------------------------------------------------
    # Training.
    # ------------------------------------------------------------------
    def compile(
        self,
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=None,
        exit_weights=None,
        **kwargs,
    ):
        """Configures training of all exits from one label array.

        Args:
            optimizer: As in `keras.Model.compile`.
            loss: A loss (name or `keras.losses.Loss`) applied to every exit,
                a dict of losses keyed by exit name, or a `MultiExitLoss`
                (e.g. `keras_nachos.losses.NachosLoss`) that couples exits.
                Exit outputs are probabilities (not logits).
            metrics: A list of metrics applied to every exit (logged as
                `exit_1_accuracy`, ..., `final_accuracy`), or a dict keyed by
                exit name. `weighted_metrics` (in `**kwargs`) likewise.
            exit_weights: Weights of the per-exit losses: `None` (all 1), a
                list of floats (one per exit), `"sdn"` (Shallow-Deep Networks'
                ramp) or an `ExitWeightSchedule`. Ignored by a
                `MultiExitLoss`, which weights exits itself.
            **kwargs: Other `keras.Model.compile` arguments.
        """
        state = self._training_state
        state.compile_config = dict(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            exit_weights=exit_weights,
            **kwargs,
        )
        state.multi_exit_loss = None
        state.exit_losses = None
        if isinstance(loss, MultiExitLoss):
            state.multi_exit_loss = loss
            loss.bind(self)
            names = loss.term_names
        else:
            state.exit_losses = self._per_exit_losses(loss)
            names = [
                f"{n}_loss"
                for n, trained in zip(self.exit_names, self.trained_exits)
                if trained
            ]
        state.loss_trackers = {n: keras.metrics.Mean(name=n) for n in names}
        state.schedule = ExitWeightSchedule.get(exit_weights, self)
        state.exit_weights.assign(
            np.asarray(state.schedule.weights(0, 1), "float32")
        )
        if kwargs.get("weighted_metrics") is not None:
            kwargs["weighted_metrics"] = self._per_exit_metrics(
                kwargs["weighted_metrics"]
            )
        super().compile(
            optimizer=optimizer,
            loss=None,
            metrics=self._per_exit_metrics(metrics),
            **kwargs,
        )

    def _per_exit_losses(self, loss):
        if isinstance(loss, dict):
            unknown = sorted(set(loss) - set(self.exit_names))
            missing = [n for n in self.exit_names if n not in loss]
            if unknown or missing:
                raise invalid_value(
                    "loss",
                    f"a dict with one loss per exit {self.exit_names} "
                    f"(unknown keys: {unknown}, missing: {missing})",
                    loss,
                )
            return [as_loss(loss[n]) for n in self.exit_names]
        if loss is None:
            raise invalid_value(
                "loss", "a loss, a dict of losses or a MultiExitLoss", loss
            )
        return [as_loss(_copy(loss)) for _ in self.exit_names]

    def _per_exit_metrics(self, metrics):
        if metrics is None or isinstance(metrics, dict):
            return metrics
        if not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        return {n: [_copy(m) for m in metrics] for n in self.exit_names}

    def get_compile_config(self):
        if self.compiled and self._training_state.compile_config is not None:
            return keras.saving.serialize_keras_object(
                self._training_state.compile_config
            )
        return None

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            # Create the optimizer's variables so saved ones can be loaded.
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return super().metrics + list(
            self._training_state.loss_trackers.values()
        )

    def _exit_outputs(self, y_pred):
        return [y_pred[n] for n in self.exit_names]

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        state = self._training_state
        # Losses in floatx, whatever the outputs' dtype (a backbone's own
        # output is bfloat16 under "mixed_bfloat16"), as Keras' losses do.
        outputs = [
            ops.cast(out, keras.config.floatx())
            for out in self._exit_outputs(y_pred)
        ]
        trackers = state.loss_trackers
        # Under a tf.distribute strategy each replica returns its share of the
        # loss (the replicas' gradients are summed): Keras' Loss objects
        # divide by the number of replicas themselves, the rest is divided
        # here; the logged values are not divided (as Keras logs them).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if state.multi_exit_loss is not None:
            total, terms = state.multi_exit_loss.compute_terms(
                y, outputs, sample_weight=sample_weight, training=training
            )
            for name, value in terms.items():
                trackers[name].update_state(value)
            if replicas > 1:
                total = total / replicas
        elif state.exit_losses is None:
            raise ValueError(
                "The model has not been compiled: call `model.compile(...)`."
            )
        else:
            total = 0.0
            weights = ops.convert_to_tensor(state.exit_weights)
            for i, (name, loss_fn, out) in enumerate(
                zip(self.exit_names, state.exit_losses, outputs)
            ):
                if not self.trained_exits[i]:
                    continue  # class-means exits are fitted, not trained
                value = loss_fn(y, out[..., : self.num_classes], sample_weight)
                trackers[f"{name}_loss"].update_state(
                    value * replicas if replicas > 1 else value
                )
                total = total + weights[i] * value
        for extra in self.losses:
            total = total + ops.sum(extra) / replicas
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels = {n: y for n in self.exit_names}
        probabilities = {
            n: y_pred[n][..., : self.num_classes] for n in self.exit_names
        }
        return super().compute_metrics(
            x, labels, probabilities, sample_weight=sample_weight
        )

    def fit(self, *args, **kwargs):
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        arguments = bound.arguments
        callbacks = list(arguments.get("callbacks") or [])
        if self._training_state.schedule is not None and not any(
            isinstance(c, ExitWeightScheduler) for c in callbacks
        ):
            callbacks.append(
                ExitWeightScheduler(
                    self._training_state.schedule,
                    self._training_state.exit_weights,
                    epochs=arguments.get("epochs", 1),
                )
            )
        monitors = MonitorModes.needed_by(callbacks)
        if monitors:  # first, to set modes before the callbacks read them
            callbacks.insert(0, MonitorModes(monitors))
        arguments["callbacks"] = callbacks
        arguments.pop("self")
        return super().fit(**arguments)

    def compiled_metrics_containers(self):
        """Keras' metric containers of this model (without the loss trackers)."""
        return super().metrics

    # ------------------------------------------------------------------
    # MACs.
    # ------------------------------------------------------------------
    @property
    def stage_models(self):
        """The backbone cut at the exit points: one functional model per stage.

        Stage `i` runs from exit point `i - 1` (the input for the first) to
        exit point `i` (the backbone's output for the last) and shares the
        backbone's layers.
        """
        derived = self._derived
        if derived.stage_models is None:
            derived.stage_models = graph_cuts.stage_models(
                self.backbone.inputs[0],
                self._cut_tensors,
                self.backbone.outputs[0],
            )
        return list(derived.stage_models)

    @property
    def exit_layers(self):
        """The layer after each stage: its head (`None` for a final exit that
        is the backbone's own output)."""
        return list(self.heads) + [self._final_layer]

    @property
    def exit_costs(self):
        """An `ExitCosts`: the MACs of leaving at each exit (counted once).

        `exit_macs`, `exit_macs_taken_head`, `backbone_macs`, `head_macs` and
        `expected_macs` all read it.
        """
        derived = self._derived
        if derived.exit_costs is None:
            derived.exit_costs = stage_costs(self.stage_models, self.exit_layers)
        return derived.exit_costs

    @property
    def device_costs(self):
        """A `DeviceCosts`: the estimated flash and RAM of the int8 stages.

        `device_costs.flash_bytes` (all stage files) and
        `device_costs.ram_bytes` (the largest TFLite Micro arena), estimated
        from the layers without converting (see
        `keras_nachos.costs.device_memory`); `export_early_exit(...,
        micro=True)` measures the real ones.
        """
        derived = self._derived
        if derived.device_costs is None:
            from keras_nachos.costs.device_memory import device_costs

            derived.device_costs = device_costs(self)
        return derived.device_costs

    @property
    def exit_macs(self):
        """Cumulative MACs to reach each exit, every earlier head included.

        `C_b = M^bb_b + sum_{j<=b} M^h_j`: a sample leaving at exit `b` has run
        the backbone up to `b` and every head on the way.
        """
        return self.exit_costs.cumulative

    @property
    def exit_macs_taken_head(self):
        """MACs to reach each exit counting only the taken head.

        `M^bb_b + M^h_b`: the convention of the NACHOS/EDANAS reference code,
        which leaves out the earlier heads a sample went through. Reported so
        numbers can be set beside theirs; `exit_macs` is the right cost.
        """
        return self.exit_costs.taken_head

    @property
    def backbone_macs(self):
        """MACs of the network without early exits (backbone + final exit)."""
        return self.exit_costs.backbone

    @property
    def head_macs(self):
        """MACs of each exit's head (the final exit's is 0 without a head)."""
        return list(self.exit_costs.head_macs)

    def expected_macs(self, exit_fractions, convention="cumulative"):
        """Expected MACs per sample for given exit fractions.

        Args:
            exit_fractions: Sequence of `num_exits` non-negative fractions that
                sum to 1 (the share of samples leaving at each exit).
            convention: `"cumulative"` (default, every head on the way is
                paid) or `"taken_head"` (the reference code's convention).

        Returns:
            Float, `sum_b pi_b * C_b`.
        """
        return self.exit_costs.expected(exit_fractions, convention)

    # ------------------------------------------------------------------
    # Inference.
    # ------------------------------------------------------------------
    def _get_runner(self):
        derived = self._derived
        if derived.runner is None:
            derived.runner = StagedRunner(self)
        return derived.runner

    def _check_inputs(self, x, argument="x"):
        check_inputs(x, self.backbone.inputs[0].shape, argument)

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
        outputs = self.predict(x, batch_size=batch_size, verbose=verbose)
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
        predictions, exit_indices, probabilities = runner.run(
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
            x: Array of inputs, or a `tf.data.Dataset` of `(x, y)` batches.
            y: Integer labels when `x` is an array.
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
        x, y = inputs_and_labels(x, y)
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

    # ------------------------------------------------------------------
    # Serialization.
    # ------------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "exit_points": list(self.exit_points),
            "heads": [keras.saving.serialize_keras_object(h) for h in self.heads],
            "final_head": (
                None
                if self.final_head is None
                else keras.saving.serialize_keras_object(self.final_head)
            ),
            "final_softmax": self.final_softmax,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(
            config["backbone"]
        )
        config["heads"] = [
            keras.saving.deserialize_keras_object(h) for h in config["heads"]
        ]
        if config.get("final_head") is not None:
            config["final_head"] = keras.saving.deserialize_keras_object(
                config["final_head"]
            )
        return cls(**config)


def _copy(obj):
    """A fresh copy of a loss or metric (strings are returned as they are)."""
    if isinstance(obj, (keras.losses.Loss, keras.metrics.Metric)):
        return obj.__class__.from_config(obj.get_config())
    return obj
