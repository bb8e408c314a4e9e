"""An `EarlyExitModel` rebuilt as a `tf_keras` (Keras 2) functional model.

TensorFlow Model Optimization (quantisation-aware training, pruning) works
only on `tf_keras` models. The rebuild walks the Keras 3 model's graph and
makes, for every layer, the `tf_keras` layer of the same class from its
config, then copies the weights (`set_weights`): the rebuilt network gives
the same outputs. Exit heads are rebuilt from built-in `tf_keras` layers
(which tfmot knows how to quantise):

- `GlobalPoolHead`, `ConvHead`: their sublayers as they are.
- `MixedPoolHead`: `MixedPooling2D` (`a * max + (1 - a) * avg`) becomes
  `max(a * x) + avg((1 - a) * x)`: a frozen 1x1 `DepthwiseConv2D` (kernel
  `a`, resp. `1 - a`) before a `MaxPooling2D`, resp. an
  `AveragePooling2D`, and an `Add`: the mixing weight is kept, not
  fine-tuned.
- `ClassMeansHead` (E2CM): a `ClassMeansDistance` layer holding the class
  means and distance scales, which computes `softmax(-||x - mu_k|| / s_k)`
  from the differences (integer arithmetic could not afford the
  `|x|^2 - 2 x.mu + |mu|^2` cancellation of the Keras layer).
- A confidence output: its `Dense` and a `Concatenate` after the classifier.

The rebuilt model's outputs are the exits in order, then the features at
each exit point (the stage boundaries of the model's `stage_plan`;
`exits_and_cuts` splits them). Only the worker process
(`keras_nachos.deploy.qat.worker`) imports this module: `tf_keras` must not
be loaded into the caller's process.
"""

import inspect

import numpy as np
import tensorflow as tf
import tf_keras

from keras_nachos import functional_graph
from keras_nachos import heads as heads_module

# Base-layer keyword arguments every tf_keras layer accepts.
_BASE_KWARGS = {"name", "trainable", "dtype", "activity_regularizer"}
# Config entries of Keras 3 layers that tf_keras lacks and that do not change
# what a layer computes when left at these values.
_IGNORABLE = (None, False)


class RebuildError(ValueError):
    """A layer of the Keras 3 model that the tf_keras rebuild cannot make."""


def _unsupported(layer, why):
    return RebuildError(
        f"Cannot rebuild layer `{layer.name}` (class "
        f"{type(layer).__module__}.{type(layer).__name__}) in tf_keras for "
        f"quantisation-aware training: {why}."
    )


class ClassMeansDistance(tf_keras.layers.Layer):
    """E2CM's exit in tf_keras: `softmax(-||x - mu_k||_2 / s_k)`.

    With `quantize=True` every intermediate tensor (and the means and
    scales) goes through a tfmot fake-quantiser, so that the converter makes
    the whole head integer-only.

    Args:
        num_classes: Integer.
        feature_dim: Integer, size of the flattened features.
        quantize: Boolean, whether to fake-quantise (QAT). Defaults to
            `False`.
        **kwargs: Base layer keyword arguments.
    """

    _ACTIVATIONS = ("difference", "squared", "sum", "distance", "scaled")

    def __init__(self, num_classes, feature_dim, quantize=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.quantize = bool(quantize)

    def build(self, input_shape):
        self.means = self.add_weight(
            name="class_means", shape=(self.num_classes, self.feature_dim),
            initializer="zeros", trainable=False,
        )
        self.scales = self.add_weight(
            name="distance_scales", shape=(self.num_classes,),
            initializer="ones", trainable=False,
        )
        self.quantizers = {}
        if self.quantize:
            from tensorflow_model_optimization.quantization.keras import (
                quantizers,
            )

            for name in self._ACTIVATIONS:
                q = quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False,
                    narrow_range=False,
                )
                self.quantizers[name] = (q, q.build(None, name, self))
            for name in ("means", "neg_inv_scales"):
                q = quantizers.LastValueQuantizer(
                    num_bits=8, per_axis=False, symmetric=True,
                    narrow_range=True,
                )
                self.quantizers[name] = (q, q.build(None, name, self))
        super().build(input_shape)

    def _q(self, name, tensor, training):
        if not self.quantize:
            return tensor
        quantizer, weights = self.quantizers[name]
        if isinstance(training, (bool, int)):
            return quantizer(tensor, bool(training), weights)
        return tf.cond(
            tf.cast(training, tf.bool),
            lambda: quantizer(tensor, True, weights),
            lambda: quantizer(tensor, False, weights),
        )

    def call(self, inputs, training=None):
        if training is None:
            training = tf_keras.backend.learning_phase()
        x = tf.reshape(inputs, (-1, 1, self.feature_dim))
        means = self._q("means", self.means, training)
        difference = self._q("difference", x - means[None], training)
        squared = self._q("squared", difference * difference, training)
        total = self._q("sum", tf.reduce_sum(squared, axis=-1), training)
        distance = self._q("distance", tf.sqrt(total), training)
        neg_inv_scales = self._q("neg_inv_scales", -1.0 / self.scales, training)
        scaled = self._q("scaled", distance * neg_inv_scales, training)
        return tf.nn.softmax(scaled, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "feature_dim": self.feature_dim,
            "quantize": self.quantize,
        })
        return config


CUSTOM_OBJECTS = {"ClassMeansDistance": ClassMeansDistance}


def _policy_name(dtype):
    if isinstance(dtype, dict):
        return dtype.get("config", {}).get("name", "float32")
    return dtype


def _tf_keras_config(layer, cls):
    """The Keras 3 layer's config, in the tf_keras class's arguments."""
    config = dict(layer.get_config())
    signature = inspect.signature(cls.__init__)
    accepted = set(signature.parameters) | _BASE_KWARGS
    out = {}
    for key, value in config.items():
        if key.endswith("_initializer"):
            continue  # the weights are copied
        if key == "dtype":
            value = _policy_name(value)
        elif isinstance(value, dict) and "class_name" in value and (
            key.endswith("_regularizer") or key.endswith("_constraint")
        ):
            value = {"class_name": value["class_name"],
                     "config": value.get("config", {})}
        if key not in accepted:
            if any(value is v for v in _IGNORABLE):
                continue
            raise _unsupported(
                layer, f"tf_keras' {cls.__name__} has no `{key}` (={value!r})"
            )
        out[key] = value
    return out


def convert_layer(layer, name=None):
    """The tf_keras layer of a built-in Keras 3 layer (weights not copied)."""
    module = type(layer).__module__
    cls = getattr(tf_keras.layers, type(layer).__name__, None)
    if not module.startswith("keras.") or cls is None:
        raise _unsupported(
            layer,
            "only built-in Keras layers and keras_nachos exit heads can be "
            "rebuilt",
        )
    config = _tf_keras_config(layer, cls)
    if name is not None:
        config["name"] = name
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as error:
        raise _unsupported(layer, f"tf_keras refuses its config ({error})") from None


class _Builder:
    """Applies converted layers and remembers the weights to copy."""

    def __init__(self):
        self.copies = []  # (tf_keras layer, list of arrays)

    def apply(self, layer, tensors, name=None, **kwargs):
        new = convert_layer(layer, name=name)
        out = new(tensors, **kwargs)
        self.copies.append((new, layer.get_weights()))
        return out

    def copy_weights(self):
        for new, weights in self.copies:
            if weights:
                new.set_weights(weights)


def _mixed_pooling(builder, layer, x, prefix):
    # a * max(x) + (1 - a) * avg(x) as max(a * x) + avg((1 - a) * x): the
    # same (a > 0), and each pooling then reads a tensor that tfmot
    # fake-quantises (a max-pool right after another one cannot be
    # converted to int8).
    alpha = float(1.0 / (1.0 + np.exp(-float(np.asarray(layer.mix_logit)))))
    channels = int(x.shape[-1])
    branches = []
    for pool, weight, tag in (
        (layer.max_pool, alpha, "max"), (layer.avg_pool, 1.0 - alpha, "avg")
    ):
        scale = tf_keras.layers.DepthwiseConv2D(
            1, use_bias=False, trainable=False, name=f"{prefix}_{tag}_weight"
        )
        scaled = scale(x)
        builder.copies.append(
            (scale, [np.full((1, 1, channels, 1), weight, "float32")])
        )
        branches.append(builder.apply(pool, scaled, name=f"{prefix}_{tag}"))
    return tf_keras.layers.Add(name=f"{prefix}_mix")(branches)


def _head(builder, head, x):
    """Applies a keras_nachos exit head's tf_keras rebuild to `x`."""
    prefix = head.name
    if isinstance(head, heads_module.ClassMeansHead):
        layer = ClassMeansDistance(
            head.num_classes, head.feature_dim, name=f"{prefix}_class_means"
        )
        out = layer(x)
        builder.copies.append(
            (layer, [np.asarray(head.means), np.asarray(head.scales)])
        )
        return out
    if not isinstance(head, heads_module.ExitHead) or type(head).call is not (
        heads_module.ExitHead.call
    ) or type(head).body_call is not heads_module.ExitHead.body_call:
        raise _unsupported(
            head, "exit heads other than keras_nachos' own cannot be rebuilt"
        )
    for sub in head.body:
        if isinstance(sub, heads_module.MixedPooling2D):
            x = _mixed_pooling(builder, sub, x, f"{prefix}_{sub.name}")
        else:
            x = builder.apply(sub, x, name=f"{prefix}_{sub.name}")
    probabilities = builder.apply(
        head.classifier, x, name=f"{prefix}_{head.classifier.name}"
    )
    if head.confidence_layer is None:
        return probabilities
    confidence = builder.apply(
        head.confidence_layer, x, name=f"{prefix}_{head.confidence_layer.name}"
    )
    return tf_keras.layers.Concatenate(axis=-1, name=f"{prefix}_output")(
        [probabilities, confidence]
    )


def rebuild(model):
    """Rebuilds an `EarlyExitModel` as a tf_keras functional model.

    Args:
        model: An `EarlyExitModel` (Keras 3).

    Returns:
        A `tf_keras.Model` with the model's input and, as a list, the
        outputs of every exit (`model.exit_names` order) followed by the
        features at every exit point; same weights, same outputs.

    Raises:
        RebuildError: For a layer it cannot rebuild (named with its class).
    """
    import keras

    builder = _Builder()
    tensors = {}  # id(Keras 3 tensor) -> tf_keras tensor
    head_ids = {id(h) for h in model.exit_layers if h is not None}
    for node in functional_graph.nodes(model):
        layer = node.operation
        if node.is_input:
            spec = node.outputs[0]
            tensors[id(spec)] = tf_keras.Input(
                tuple(spec.shape[1:]), dtype=spec.dtype, name=layer.name
            )
            continue
        args, kwargs = node.call_arguments(tensors)
        if id(layer) in head_ids and isinstance(layer, heads_module.ExitHead):
            if len(args) != 1 or kwargs:
                raise _unsupported(layer, "a head takes one tensor")
            out = _head(builder, layer, args[0])
        elif isinstance(layer, keras.Model):
            raise _unsupported(
                layer, "nested models are not rebuilt (flatten the backbone)"
            )
        else:
            out = builder.apply(
                layer, args[0] if len(args) == 1 else list(args), **kwargs
            )
        outputs = out if isinstance(out, (list, tuple)) else [out]
        for k3, new in zip(node.outputs, outputs):
            tensors[id(k3)] = new
    builder.copy_weights()
    plan = model.stage_plan
    inputs = tensors[id(plan.inputs)]
    exits = [tensors[id(t)] for t in plan.exit_outputs]
    cuts = [tensors[id(t)] for t in plan.cuts]
    return tf_keras.Model(inputs, exits + cuts, name=f"{model.name}_tf_keras")


def exits_and_cuts(network, num_exits):
    """`(exit outputs, features at the exit points)` of a rebuilt network
    (or of a tfmot clone of it, whose outputs are in the same order)."""
    return network.outputs[:num_exits], network.outputs[num_exits:]
