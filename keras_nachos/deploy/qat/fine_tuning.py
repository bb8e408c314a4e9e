"""Pruning and quantisation-aware fine-tuning of a tf_keras rebuild (tfmot).

Runs only in the QAT worker process (`keras_nachos.deploy.qat.worker`):
tfmot and tf_keras are imported inside the functions, so that importing
this module changes nothing.
"""

import contextlib

import numpy as np

MAX_WARM_UP_BATCHES = 8


def exit_losses(model):
    """The loss of each output of the tf_keras rebuild of `model`.

    Each trained exit gets the loss `EarlyExitModel.compile` gives it by
    default: Keras' `"sparse_categorical_crossentropy"` as the library's
    per-exit `Loss` (`keras_nachos.training.exit_losses.as_loss`), on the
    exit's class probabilities (a confidence column left out); tf_keras sums
    them. An E2CM exit (fitted, not trained) and the features at the exit
    points get none.
    """
    from keras_nachos.training.exit_losses import as_loss

    k = model.num_classes
    loss = as_loss("sparse_categorical_crossentropy")

    def exit_loss(y_true, y_pred):
        return loss(y_true, y_pred[..., :k])

    losses = [exit_loss if trained else None for trained in model.trained_exits]
    return losses + [None] * (len(model.stage_plan.cuts))


def fit(network, model, x, y, options, callbacks=()):
    """Fine-tunes the tf_keras `network` (Adam, `options`' epochs, batch
    size and learning rate) on every trained exit; returns its history."""
    import tf_keras

    network.compile(
        optimizer=tf_keras.optimizers.Adam(options.learning_rate),
        loss=exit_losses(model),
    )
    history = network.fit(
        x, [y] * len(network.outputs), epochs=options.epochs,
        batch_size=options.batch_size, verbose=options.verbose,
        callbacks=list(callbacks), shuffle=True,
    )
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def _prunable(layer):
    import tf_keras

    return isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)) and (
        layer.trainable and not isinstance(layer, tf_keras.layers.DepthwiseConv2D)
    )


def prune(network, model, x, y, options):
    """Magnitude pruning of every Conv2D / Dense kernel to `sparsity`.

    Returns:
        `(the pruned network, stripped of its wrappers, the fine-tuning's
        history)`.
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from keras_nachos.deploy.qat.tf_keras_rebuild import CUSTOM_OBJECTS

    schedule = tfmot.sparsity.keras.ConstantSparsity(
        options.sparsity, begin_step=0, frequency=1
    )

    def wrap(layer):
        if _prunable(layer):
            return tfmot.sparsity.keras.prune_low_magnitude(
                layer, pruning_schedule=schedule
            )
        return layer

    with tf_keras.utils.custom_object_scope(CUSTOM_OBJECTS):
        pruned = tf_keras.models.clone_model(network, clone_function=wrap)
    history = fit(
        pruned, model, x, y, options,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
    )
    return tfmot.sparsity.keras.strip_pruning(pruned), history


def _copy_class_means(source, target):
    from keras_nachos.deploy.qat.tf_keras_rebuild import ClassMeansDistance

    for layer in source.layers:
        if isinstance(layer, ClassMeansDistance):
            new = target.get_layer(layer.name)
            new.means.assign(layer.means)
            new.scales.assign(layer.scales)


def quantize(network, pruned=False):
    """The tfmot QAT model of the tf_keras network."""
    import tensorflow_model_optimization as tfmot
    import tf_keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E501
        default_8bit_quantize_registry as registry_module,
    )

    from keras_nachos.deploy.qat.tf_keras_rebuild import CUSTOM_OBJECTS
    from keras_nachos.deploy.qat.tf_keras_rebuild import ClassMeansDistance
    from keras_nachos.deploy.qat.tf_keras_rebuild import RebuildError

    # tfmot has no public API to ask which layers its 8-bit scheme supports.
    registry = registry_module.Default8BitQuantizeRegistry()
    qk = tfmot.quantization.keras

    def annotate(layer):
        if isinstance(layer, ClassMeansDistance):
            return ClassMeansDistance.from_config(
                dict(layer.get_config(), quantize=True)
            )
        if isinstance(layer, tf_keras.layers.InputLayer):
            return layer.__class__.from_config(layer.get_config())
        if not registry.supports(layer):
            raise RebuildError(
                f"Cannot quantise layer `{layer.name}` (class "
                f"{type(layer).__name__}): tfmot's 8-bit scheme does not "
                "support it."
            )
        return qk.quantize_annotate_layer(layer)

    with tf_keras.utils.custom_object_scope(CUSTOM_OBJECTS):
        annotated = tf_keras.models.clone_model(network, clone_function=annotate)
    scheme = (
        tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        if pruned else None
    )
    with qk.quantize_scope(CUSTOM_OBJECTS):
        if scheme is None:
            qat = qk.quantize_apply(annotated)
        else:
            qat = qk.quantize_apply(annotated, scheme)
    _copy_class_means(network, qat)
    return qat


@contextlib.contextmanager
def _ema_decay(decay):
    """Makes tfmot's moving-average quantisers use `decay` (eager calls).

    tfmot has no public API to set it: its quantisers call
    `quant_ops.MovingAvgQuantize` with a fixed 0.999, replaced here for the
    calls made inside the context (this process is the worker's own).
    """
    from tensorflow_model_optimization.python.core.quantization.keras import (
        quant_ops,
    )

    original = quant_ops.MovingAvgQuantize

    def patched(*args, **kwargs):
        kwargs["ema_decay"] = decay
        return original(*args, **kwargs)

    quant_ops.MovingAvgQuantize = patched
    try:
        yield
    finally:
        quant_ops.MovingAvgQuantize = original


def warm_up_ranges(qat, x, batch_size):
    """Sets the activation ranges to the running mean of batch ranges."""
    import tensorflow as tf

    batches = [
        x[i : i + batch_size]
        for i in range(0, len(x), batch_size)
    ][:MAX_WARM_UP_BATCHES]
    for b, batch in enumerate(batches):
        with _ema_decay(b / (b + 1.0)):
            qat(tf.constant(batch), training=True)


class _QatFeatures:
    """The QAT network as `fit_class_means` reads an `EarlyExitModel`.

    `keras_nachos.training.fit_class_means` fits a Keras 3 model's E2CM
    heads from the features at its exit points, streamed over batches. Here
    the features are the QAT network's (tf_keras, fake-quantised): this
    view has the Keras 3 model's heads (fitted in place, then copied into
    the network) and, as the tensors at the exit points, the outputs of a
    Keras 3 layer that runs the tf_keras network's features.
    """

    def __init__(self, qat, model):
        import keras
        import tf_keras

        from keras_nachos.deploy.qat.tf_keras_rebuild import exits_and_cuts

        _, cuts = exits_and_cuts(qat, model.num_exits)
        network = tf_keras.Model(qat.inputs[0], cuts)

        class QatFeatures(keras.layers.Layer):
            def call(self, inputs, training=False):
                features = network(inputs, training=training)
                if isinstance(features, (list, tuple)):
                    return list(features)
                return [features]

            def compute_output_spec(self, inputs, training=False):
                return [
                    keras.KerasTensor((None,) + tuple(c.shape[1:]), "float32")
                    for c in cuts
                ]

        spec = model.inputs[0]
        self.inputs = [keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype)]
        self._cut_tensors = QatFeatures(name="qat_features")(self.inputs[0])
        self.heads = model.heads
        self.num_classes = model.num_classes
        self._check_inputs = model._check_inputs


def refit_class_means(qat, model, x, y):
    """Fits the E2CM heads' means and scales again, on the QAT network's
    (fake-quantised) features: fine-tuning and pruning move the features
    the Keras model's means were fitted on. As `fit_class_means` (which
    does it): `mu_k` the class's mean features, `s_k` its samples' mean
    distance to `mu_k`.

    Returns:
        Whether there were heads to refit (and samples of every class).
    """
    from keras_nachos import heads as heads_module
    from keras_nachos.training import fit_class_means

    heads = [head for head in model.heads
             if isinstance(head, heads_module.ClassMeansHead)]
    counts = np.bincount(y, minlength=model.num_classes)
    if not heads or np.any(counts == 0):
        return False
    fit_class_means(_QatFeatures(qat, model), x, y, batch_size=256)
    for head in heads:
        layer = qat.get_layer(f"{head.name}_class_means")
        layer.means.assign(head.means.numpy())
        layer.scales.assign(head.scales.numpy())
    return True
