"""The process that runs tfmot for `export_quantization_aware`.

`python -m keras_nachos.deploy._qat_worker WORKDIR` reads `WORKDIR/model.keras`
(the `EarlyExitModel`; `model_0.keras`, ... for a rebuild check),
`WORKDIR/data.npz` (`x`, `y`, `representative`) and `WORKDIR/options.json`
(`"mode"`: `"export"` or `"rebuild_check"`), and writes
`WORKDIR/report.json` (and, for an export, `WORKDIR/stage_N.tflite`). On failure it writes `WORKDIR/error.json`
(`{"type", "message"}`) and exits with status 1.

TensorFlow Model Optimization switches the process to `tf_keras`
(`TF_USE_LEGACY_KERAS=1`) when imported: that is why it runs here, never in
the caller's process. Steps of an export:

1. Rebuild the model in tf_keras (`tf_keras_rebuild.rebuild`).
2. With `sparsity`: wrap every `Conv2D` / `Dense` in
   `prune_low_magnitude` (constant sparsity from the first step), fine-tune
   `epochs` epochs, strip the pruning wrappers.
3. Annotate every layer for 8-bit QAT (the E2CM distance layer fake-quantises
   itself), `quantize_apply` (with the prune-preserving scheme after
   pruning), set the activation ranges from a few batches (a running mean of
   the batch ranges, where tfmot's moving average would need thousands of
   steps to leave its initial `[-6, 6]`), then fine-tune `epochs` epochs.
   The loss is the sum over the trained exits of the sparse categorical
   cross-entropy on their class probabilities. E2CM heads' class means are
   then fitted again on the fine-tuned (fake-quantised) features.
4. Cut the QAT network into stages (the inputs `"image"` / `"features_in"`,
   outputs `"exit"` and `"features"`, as `stage_export_models`) and convert
   each to full-integer int8. A later stage starts with a fake-quantiser
   holding the previous stage's int8 features' scale and zero point, so that
   the features go from stage to stage unchanged.
"""

import contextlib
import json
import os
import re
import sys
import traceback

import numpy as np

MAX_WARM_UP_BATCHES = 8


def _read(workdir):
    with open(os.path.join(workdir, "options.json")) as f:
        options = json.load(f)
    with np.load(os.path.join(workdir, "data.npz")) as data:
        arrays = {k: data[k] for k in data.files}
    return options, arrays


def _load_model(workdir, name="model.keras"):
    import keras

    import keras_nachos  # noqa: F401  (registers the classes)

    return keras.saving.load_model(os.path.join(workdir, name), compile=False)


def rebuild_check(model, x):
    """Max abs difference between the rebuild's exits and the model's."""
    from keras_nachos.deploy.tf_keras_rebuild import rebuild

    network = rebuild(model)
    ours = network.predict(x, verbose=0)[: model.num_exits]
    theirs = model.predict_exits(x)
    return {
        "max_abs_diff": [
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(ours, theirs)
        ],
        "layers": [layer.name for layer in network.layers],
    }


def _compile(network, model, learning_rate):
    import tf_keras

    k = model.num_classes

    def exit_loss(y_true, y_pred):
        return tf_keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred[:, :k]
        )

    losses = [exit_loss if trained else None for trained in model.trained_exits]
    losses += [None] * (len(network.outputs) - len(losses))
    network.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate), loss=losses
    )


def _fit(network, model, x, y, options, callbacks=()):
    _compile(network, model, options["learning_rate"])
    history = network.fit(
        x, [y] * len(network.outputs), epochs=options["epochs"],
        batch_size=options["batch_size"], verbose=options["verbose"],
        callbacks=list(callbacks), shuffle=True,
    )
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def _prunable(layer):
    import tf_keras

    return isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)) and (
        layer.trainable and not isinstance(layer, tf_keras.layers.DepthwiseConv2D)
    )


def prune(network, model, x, y, options):
    """Magnitude pruning of every Conv2D / Dense kernel to `sparsity`."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from keras_nachos.deploy.tf_keras_rebuild import CUSTOM_OBJECTS

    schedule = tfmot.sparsity.keras.ConstantSparsity(
        options["sparsity"], begin_step=0, frequency=1
    )

    def wrap(layer):
        if _prunable(layer):
            return tfmot.sparsity.keras.prune_low_magnitude(
                layer, pruning_schedule=schedule
            )
        return layer

    with tf_keras.utils.custom_object_scope(CUSTOM_OBJECTS):
        pruned = tf_keras.models.clone_model(network, clone_function=wrap)
    history = _fit(
        pruned, model, x, y, options,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
    )
    return tfmot.sparsity.keras.strip_pruning(pruned), history


def _copy_class_means(source, target):
    from keras_nachos.deploy.tf_keras_rebuild import ClassMeansDistance

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

    from keras_nachos.deploy.tf_keras_rebuild import CUSTOM_OBJECTS
    from keras_nachos.deploy.tf_keras_rebuild import ClassMeansDistance
    from keras_nachos.deploy.tf_keras_rebuild import RebuildError

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


def refit_class_means(qat, model, x, y):
    """Fits the E2CM heads' means and scales again, on the QAT network's
    (fake-quantised) features: fine-tuning and pruning move the features
    the Keras model's means were fitted on. As `fit_class_means`: `mu_k`
    the class's mean features, `s_k` its samples' mean distance to `mu_k`.

    Returns:
        Whether there were heads to refit (and samples of every class).
    """
    import tf_keras

    from keras_nachos import heads as heads_module

    k = model.num_classes
    indices = [i for i, head in enumerate(model.heads)
               if isinstance(head, heads_module.ClassMeansHead)]
    counts = np.bincount(y, minlength=k)
    if not indices or np.any(counts == 0):
        return False
    cuts = qat.outputs[model.num_exits:]
    extract = tf_keras.Model(qat.inputs[0], [cuts[i] for i in indices])
    features = extract.predict(x, batch_size=256, verbose=0)
    if not isinstance(features, (list, tuple)):
        features = [features]
    for i, f in zip(indices, features):
        layer = qat.get_layer(f"{model.heads[i].name}_class_means")
        f = np.asarray(f, "float64").reshape(len(f), -1)
        means = np.stack([f[y == c].mean(axis=0) for c in range(k)])
        distances = np.linalg.norm(f - means[y], axis=1)
        scales = np.maximum(
            np.bincount(y, weights=distances, minlength=k) / counts, 1e-12
        )
        layer.means.assign(means.astype("float32"))
        layer.scales.assign(scales.astype("float32"))
    return True


class _FixedFakeQuant:
    """Factory of the tf_keras layer that fake-quantises a stage's input."""

    _cls = None

    @classmethod
    def get(cls):
        if cls._cls is None:
            import tensorflow as tf
            import tf_keras

            class FixedFakeQuant(tf_keras.layers.Layer):
                def __init__(self, minimum, maximum, **kwargs):
                    super().__init__(**kwargs)
                    self.minimum = float(minimum)
                    self.maximum = float(maximum)

                def call(self, inputs):
                    return tf.quantization.fake_quant_with_min_max_args(
                        inputs, self.minimum, self.maximum, num_bits=8,
                        narrow_range=False,
                    )

                def get_config(self):
                    return dict(super().get_config(), minimum=self.minimum,
                                maximum=self.maximum)

            cls._cls = FixedFakeQuant
        return cls._cls


def stage_model(qat, index, num_exits, input_spec=None):
    """The tf_keras model of stage `index` (0-based) of the QAT network."""
    import tf_keras

    cuts = qat.outputs[num_exits:]
    last = index == num_exits - 1
    start = qat.inputs[0] if index == 0 else cuts[index - 1]
    ends = [qat.outputs[index]] + ([] if last else [cuts[index]])
    segment = tf_keras.Model(start, ends, name=f"segment_{index + 1}")
    inputs = tf_keras.Input(
        tuple(start.shape[1:]), name="image" if index == 0 else "features_in"
    )
    x = inputs
    if input_spec is not None:
        # The previous stage's int8 features: the same scale and zero point.
        scale, zero_point = input_spec["scale"], input_spec["zero_point"]
        x = _FixedFakeQuant.get()(
            (-128 - zero_point) * scale, (127 - zero_point) * scale,
            name="features_in_quantize",
        )(x)
    outputs = segment(x)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    named = {"exit": tf_keras.layers.Identity(name="exit")(outputs[0])}
    if not last:
        named["features"] = tf_keras.layers.Identity(name="features")(outputs[1])
    return tf_keras.Model(inputs, named, name=f"stage_{index + 1}")


def float_ops(flatbuffer):
    """Names of the ops of a converted stage that touch float32 tensors."""
    from keras_nachos.deploy.interpreters import make_interpreter

    interpreter = make_interpreter(model_content=flatbuffer)
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    found = []
    for op in interpreter._get_ops_details():
        indices = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0]
        if any(np.dtype(details[i]["dtype"]) == np.float32 for i in indices):
            found.append(op["op_name"])
    return found


_WEIGHTED_OPS = {"CONV_2D": 1, "FULLY_CONNECTED": 1, "DEPTHWISE_CONV_2D": 1}


def weight_sparsity(flatbuffer):
    """Fraction of zeros of every conv / fully-connected weight tensor of a
    converted stage, by layer name (measured in the file: the weights the
    device gets; int8 weights are symmetric, their zero is 0.0)."""
    from keras_nachos.deploy.interpreters import make_interpreter

    interpreter = make_interpreter(model_content=flatbuffer)
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    sparsity = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] not in _WEIGHTED_OPS:
            continue
        index = op["inputs"][_WEIGHTED_OPS[op["op_name"]]]
        weights = interpreter.get_tensor(index)
        name = details[index]["name"]
        match = re.search(r"quant_([^/;]+)/", name)
        sparsity[match.group(1) if match else name] = float(
            np.mean(weights == 0)
        )
    return sparsity


def export(model, arrays, options, workdir):
    import tf_keras

    from keras_nachos.deploy.export import convert_stage
    from keras_nachos.deploy.export import tensor_specs
    from keras_nachos.deploy.tf_keras_rebuild import rebuild

    tf_keras.utils.set_random_seed(0)
    x, y = arrays["x"], arrays["y"]
    network = rebuild(model)
    report = {"pruning_history": None}
    if options["sparsity"] is not None:
        network, report["pruning_history"] = prune(
            network, model, x, y, options
        )
    qat = quantize(network, pruned=options["sparsity"] is not None)
    warm_up_ranges(qat, x, options["batch_size"])
    report["history"] = _fit(qat, model, x, y, options)
    report["class_means_refit"] = refit_class_means(qat, model, x, y)
    if report["class_means_refit"]:
        warm_up_ranges(qat, x, options["batch_size"])  # the new distances'
    samples = arrays["representative"]
    input_spec = None
    report["stages"] = []
    for i in range(model.num_exits):
        stage = stage_model(qat, i, model.num_exits, input_spec)
        flatbuffer = convert_stage(stage, "int8", samples)
        name = f"stage_{i + 1}.tflite"
        with open(os.path.join(workdir, name), "wb") as f:
            f.write(flatbuffer)
        _, outputs = tensor_specs(flatbuffer)
        report["stages"].append(
            {"file": name, "float_ops": float_ops(flatbuffer),
             "weight_sparsity": weight_sparsity(flatbuffer)}
        )
        if i < model.num_exits - 1:
            input_spec = outputs["features"].to_json()
            samples = np.asarray(stage.predict(samples, verbose=0)["features"])
    report["weight_sparsity"] = {
        k: v for stage in report["stages"] for k, v in stage["weight_sparsity"].items()
    }
    return report


def main(workdir):
    try:
        options, arrays = _read(workdir)
        if options["mode"] == "rebuild_check":
            report = {"models": [
                rebuild_check(_load_model(workdir, f"model_{i}.keras"), arrays["x"])
                for i in range(options["models"])
            ]}
        else:
            report = export(_load_model(workdir), arrays, options, workdir)
        with open(os.path.join(workdir, "report.json"), "w") as f:
            json.dump(report, f)
    except Exception as error:  # noqa: BLE001 - reported to the caller
        traceback.print_exc()
        with open(os.path.join(workdir, "error.json"), "w") as f:
            json.dump({"type": type(error).__name__, "message": str(error)}, f)
        return 1
    return 0


if __name__ == "__main__":
    # What importing tfmot sets anyway; here (not at import) so that
    # importing this module changes nothing.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    sys.exit(main(sys.argv[1]))
