"""The supernet's training: the sandwich rule with in-place distillation."""

import inspect

import keras
import tensorflow as tf
from keras import ops

from keras_nachos.data_utils import check_fit_arguments
from keras_nachos.errors import invalid_value

_METRICS = ("loss", "largest_accuracy", "smallest_accuracy")


class SandwichTraining:
    """`keras.Model` training steps of a `Supernet` (a mixin).

    Every step trains the largest subnet on the labels (updating the
    batch-norm moving statistics, which follow the largest subnet), then the
    smallest and `num_random` random subnets, each on the largest one's
    outputs (`distillation`) or on the labels (BigNAS). Every exit head is
    trained at every step, with one cross-entropy per exit position (its
    head designs sharing the weight) and one for the final exit. The
    metrics are the loss and the largest and the smallest subnets'
    accuracies.

    `fit` and `evaluate` check their data first, against the space: finite
    images of its input shape, labels that are class ids in
    `[0, num_classes)` (one-hot rows are converted), one per image
    (`data_utils.check_fit_arguments`; a dataset by its element spec).

    The class it is mixed into provides `_forward(x, encoding, head_keys,
    training, update)`, `space`, `heads`, `position_heads`, `num_random`,
    `distillation`, `_subnets` (a `SubnetEncoding`) and `_seed_generator`.
    """

    def _check_fit_data(self, arguments):
        check_fit_arguments(
            arguments, (None,) + tuple(self.space.input_shape),
            self.space.num_classes, "class_ids",
        )

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, its data checked first (see the class)."""
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        arguments = bound.arguments
        self._check_fit_data(arguments)
        arguments.pop("self")
        return super().fit(**arguments)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, its data checked first (see the class)."""
        bound = inspect.signature(keras.Model.evaluate).bind(
            self, *args, **kwargs
        )
        arguments = bound.arguments
        extra = arguments.pop("kwargs", {})
        if not extra.get("_use_cached_eval_dataset"):
            self._check_fit_data(arguments)  # (`fit`'s were checked)
        arguments.pop("self")
        return super().evaluate(**arguments, **extra)

    def compile(self, optimizer="adam", **kwargs):
        """Configures training; `optimizer` and `keras.Model.compile`'s other
        arguments except `loss` and `metrics` (the supernet's losses are the
        exit cross-entropies of its subnets)."""
        for name in ("loss", "metrics", "weighted_metrics"):
            if kwargs.get(name) is not None:
                raise invalid_value(
                    name, "nothing: the supernet trains its subnets' exit "
                    "losses itself", kwargs[name],
                )
            kwargs.pop(name, None)
        super().compile(optimizer=optimizer, **kwargs)
        self._trackers = {
            name: keras.metrics.Mean(name=name) for name in _METRICS
        }

    def get_compile_config(self):
        if not getattr(self, "compiled", False) or self.optimizer is None:
            return None
        return {"optimizer": keras.optimizers.serialize(self.optimizer)}

    def compile_from_config(self, config):
        """Compiles a loaded supernet as it was saved, so `fit` goes on with
        the optimizer's state."""
        self.compile(optimizer=keras.optimizers.deserialize(config["optimizer"]))
        self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return list(getattr(self, "_trackers", {}).values())

    def train_step(self, data):
        x, y = data[0], data[1]
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        keys = tuple(self.heads)
        largest = ops.convert_to_tensor(self._subnets.largest())
        smallest = ops.convert_to_tensor(self._subnets.smallest())
        with tf.GradientTape() as tape:
            final, heads = self._forward(x, largest, keys, training=True,
                                         update=True)
            total = self._exit_loss(y, final, heads)
            teacher = (
                ops.stop_gradient(final),
                {k: ops.stop_gradient(v) for k, v in heads.items()},
            )
            small_final = None
            for i in range(1 + self.num_random):
                encoding = (
                    smallest if i == 0
                    else self._subnets.sample(self._seed_generator)
                )
                out_final, out_heads = self._forward(
                    x, encoding, keys, training=True
                )
                if self.distillation:
                    total = total + self._exit_loss(
                        teacher, out_final, out_heads, soft=True
                    )
                else:
                    total = total + self._exit_loss(y, out_final, out_heads)
                if i == 0:
                    small_final = out_final
        variables = self.trainable_variables
        gradients = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._update_trackers(total, y, final, small_final)

    def test_step(self, data):
        """Largest and smallest subnets on the data: the largest with the
        moving batch-norm statistics (its own), the smallest with each
        batch's statistics (the moving ones are not its own; a batch's are
        what re-estimation would give, up to the batch's noise)."""
        x, y = data[0], data[1]
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        final, heads = self._forward(
            x, ops.convert_to_tensor(self._subnets.largest()),
            tuple(self.heads),
        )
        small, _ = self._forward(
            x, ops.convert_to_tensor(self._subnets.smallest()), (),
            training=True,
        )
        total = self._exit_loss(y, final, heads)
        return self._update_trackers(total, y, final, small)

    def _exit_loss(self, targets, final, heads, soft=False):
        """Mean cross-entropy of the final exit plus, per exit position, the
        mean over its heads; `targets` are labels, or with `soft` the
        teacher's `(final, {head key: output})`."""
        if soft:
            teacher_final, teacher_heads = targets

            def loss(target, output):
                return ops.mean(
                    keras.losses.categorical_crossentropy(target, output)
                )
        else:
            teacher_final = targets
            teacher_heads = {k: targets for k in heads}

            def loss(target, output):
                return ops.mean(
                    keras.losses.sparse_categorical_crossentropy(target, output)
                )
        total = loss(teacher_final, final)
        for keys in self.position_heads.values():
            terms = [loss(teacher_heads[k], heads[k]) for k in keys]
            total = total + ops.sum(ops.stack(terms)) / len(terms)
        return total

    def _update_trackers(self, total, y, final, small_final):
        trackers = self._trackers
        trackers["loss"].update_state(total)
        trackers["largest_accuracy"].update_state(
            ops.cast(ops.equal(ops.argmax(final, -1), y), "float32")
        )
        trackers["smallest_accuracy"].update_state(
            ops.cast(ops.equal(ops.argmax(small_final, -1), y), "float32")
        )
        return {name: t.result() for name, t in trackers.items()}
