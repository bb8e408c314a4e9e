"""Training of an early-exit model: every exit from one label array.

`EarlyExitTrainer` is the part of `EarlyExitModel` that Keras' training
loop calls (`compile`, `compute_loss`, `compute_metrics`, `fit`), as Keras'
own `Trainer` is a part of `keras.Model`, and the fitting of E2CM class
means. It reads the model's `exit_names`, `trained_exits` and
`num_classes`.
"""

import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_nachos.data_utils import check_fit_arguments
from keras_nachos.errors import invalid_value
from keras_nachos.training.exit_losses import as_loss
from keras_nachos.training.exit_weights import ExitWeightSchedule
from keras_nachos.training.exit_weights import ExitWeightScheduler
from keras_nachos.training.monitor_modes import MonitorModes
from keras_nachos.training.multi_exit_loss import MultiExitLoss


class TrainingState:
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



class EarlyExitTrainer:
    """Compiles, trains and evaluates every exit of an `EarlyExitModel`."""

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

    def label_format(self):
        """What the compiled losses take as labels: `"class_ids"` (sparse
        losses, `NachosLoss`), `"one_hot"` (categorical losses) or `None`
        (a loss of unknown targets: labels are passed on unchecked)."""
        state = self._training_state
        if state.multi_exit_loss is not None:
            return getattr(state.multi_exit_loss, "label_format", None)
        if state.exit_losses is None:
            return "class_ids"  # not compiled: Keras refuses to train
        formats = {
            _loss_label_format(loss)
            for loss, trained in zip(state.exit_losses, self.trained_exits)
            if trained
        }
        return formats.pop() if len(formats) == 1 else None

    def _check_fit_data(self, arguments):
        check_fit_arguments(
            arguments, self.inputs[0].shape, self.num_classes,
            self.label_format(),
        )

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, its data checked first.

        Arrays (`x`, `validation_data`) must be finite inputs of the model's
        input shape with one label each: class ids in `[0, num_classes)`
        (one-hot rows are converted) for the sparse losses and `NachosLoss`,
        one-hot rows for a categorical loss (see
        `data_utils.check_fit_arguments`); a dataset is checked by its
        element spec. Refused data raises a `ValueError` naming the argument
        before any training.
        """
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        arguments = bound.arguments
        self._check_fit_data(arguments)
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
        self._build_optimizer()
        return super().fit(**arguments)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, its data checked first as `fit`'s."""
        bound = inspect.signature(keras.Model.evaluate).bind(
            self, *args, **kwargs
        )
        arguments = bound.arguments
        extra = arguments.pop("kwargs", {})
        if not extra.get("_use_cached_eval_dataset"):
            # (`fit` evaluates its validation data, checked already, so.)
            self._check_fit_data(arguments)
        arguments.pop("self")
        return super().evaluate(**arguments, **extra)

    def _build_optimizer(self):
        """Builds the optimizer on the trainable variables before the first
        `fit`, as Keras does under a distribution strategy. Without one,
        Keras builds it inside the first traced train step, which TensorFlow
        then traces a second time: a model's first `fit` took about twice as
        long (the same weights are trained either way)."""
        if self.optimizer is None or self.optimizer.built or not self.built:
            return
        with self.distribute_strategy.scope():
            self.optimizer.build(self.trainable_variables)

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

    def compiled_metrics_containers(self):
        """Keras' metric containers of this model (without the loss trackers)."""
        return super().metrics


def _loss_label_format(loss):
    """`"class_ids"`, `"one_hot"` or `None` for a compiled exit loss."""
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return "class_ids"
    if isinstance(loss, (keras.losses.CategoricalCrossentropy,
                         keras.losses.CategoricalFocalCrossentropy)):
        return "one_hot"
    name = getattr(getattr(loss, "fn", None), "__name__", None)
    return {
        "sparse_categorical_crossentropy": "class_ids",
        "categorical_crossentropy": "one_hot",
        "categorical_focal_crossentropy": "one_hot",
    }.get(name)


def _copy(obj):
    """A fresh copy of a loss or metric (strings are returned as they are)."""
    if isinstance(obj, (keras.losses.Loss, keras.metrics.Metric)):
        return obj.__class__.from_config(obj.get_config())
    return obj
