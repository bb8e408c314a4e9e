"""Exporting an EarlyExitModel as one LiteRT (.tflite) file per stage.

One file of the whole multi-exit model would compute every exit: no early
exit. So each stage (a backbone segment and the exit head after it) becomes a
model of its own, whose outputs are addressed by signature name (`"exit"`,
and `"features"` for the next stage: the output order of a converted model
is not the exit order), and the runtime (`keras_nachos.deploy.load`) runs
the exit rule between them. Conversion goes through
`TFLiteConverter.from_keras_model` (never `from_concrete_functions`, which
drops a Keras 3 model's weights), or for int8 through the SavedModel it
writes, converted in a worker process (`int8_conversion`: the converter's
C++ calibration can crash a process).

With `quantize="int8"` each stage is quantised to full integer (inputs and
outputs int8) from representative data: the first stage's from the data
given, each later stage's from the features the float stages before it
produce on that data. A stage's int8 features and the next stage's int8
input usually get the same scale and zero point (they are calibrated on the
same values); the manifest records both and the runtime requantises only
where they differ.

A float export with a rule that decides inside the graph (`runs_in_graph`:
max probability, score margin, class means) also gets `early_exit.tflite`,
the whole early exit in one file for one sample: the stages chained by
LiteRT `IF` ops on the rule's score, the thresholds an input. An app then
calls `invoke` once per sample and only the stages the sample needs run, with
no host code between them (the runtime's batch-1 path uses it).

Every argument, the target folder and the representative data (the model's
input shape, numeric, non-empty, finite) are checked before any work. The
files are written into a staging folder moved into place only when the
export is complete (`export_folder`): a failed export leaves the target as
it was. The manifest records every file's size and SHA-256 (`manifest`).
"""

import contextlib
import io
import os
import shutil
import sys
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_nachos import rules as rules_module
from keras_nachos.checks import check_bool
from keras_nachos.checks import check_int
from keras_nachos.deploy.data_checks import check_samples
from keras_nachos.deploy.export_folder import check_export_target
from keras_nachos.deploy.export_folder import staged_export
from keras_nachos.deploy.int8_conversion import configure_int8
from keras_nachos.deploy.int8_conversion import convert_int8_in_worker
from keras_nachos.deploy.manifest import Manifest
from keras_nachos.deploy.micro import captured_stderr
from keras_nachos.deploy.micro import prepare_for_micro
from keras_nachos.deploy.specs import SingleFileSpec
from keras_nachos.deploy.specs import StageSpec
from keras_nachos.deploy.specs import interpreter_specs
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.models import stages
from keras_nachos.version import __version__

QUANTIZE_MODES = (None, "int8")
SINGLE_FILE = "early_exit.tflite"


def stage_export_models(model):
    """One Keras model per stage, with outputs named for the runtime.

    Stage `i` takes `"image"` (the model's input, stage 1) or
    `"features_in"` (the previous stage's features) and returns
    `{"exit": head output, "features": its features}` (the last stage only
    `"exit"`): `model.stage_plan.export_models()`. The stages share the
    model's layers and weights.
    """
    return model.stage_plan.export_models()


def convert_stage(stage_model, quantize=None, representative=None):
    """Converts one stage model to a `.tflite` flatbuffer (bytes), here.

    (`export_early_exit` converts int8 stages in a worker process instead:
    `int8_conversion`.)

    Args:
        stage_model: A Keras model (see `stage_export_models`).
        quantize: `None` (float32) or `"int8"` (full integer, int8 input and
            outputs).
        representative: For int8, an array of input samples of this stage.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(stage_model)
    if quantize == "int8":
        configure_int8(converter, representative)
    return _convert(converter)


def _convert(converter):
    """`converter.convert()`, its logs shown only when it fails."""
    # The converter prints where it saved its temporary SavedModel, its C++
    # code logs the quantiser's settings, and it warns that the int8 input
    # has no statistics (it needs none: the representative data give them).
    # Shown only when the conversion fails.
    with tempfile.TemporaryFile("w+") as log, warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Statistics for quantized inputs were expected"
        )
        try:
            with contextlib.redirect_stdout(io.StringIO()), captured_stderr(log):
                return converter.convert()
        except Exception:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:])
            raise


def single_file_function(stage_models, rule, num_classes):
    """A `tf.function` of the whole early exit on one sample.

    It takes `image` (one sample, batch 1) and `score_thresholds` (float32,
    one per early exit: the rule's `score_threshold` rounded up to float32,
    see `ExitRule.float32_score_threshold`) and returns `exit_output` (the class
    probabilities of the exit taken) and `exit_index` (its index, int32).
    Stage `i + 1` runs only in the branch of a `tf.cond` on
    `rule.exit_score(rule.tf_score(...)) >= score_thresholds[i]`.
    """
    last = len(stage_models) - 1

    def run_from(i, inputs, score_thresholds):
        outputs = stage_models[i](inputs)
        probabilities = outputs[stages.EXIT][:, :num_classes]
        if i == last:
            return probabilities, tf.constant([i], tf.int32)
        score = rule.exit_score(rule.tf_score(probabilities))[0]
        return tf.cond(
            score >= score_thresholds[i],
            lambda: (probabilities, tf.constant([i], tf.int32)),
            lambda: run_from(
                i + 1, outputs[stages.FEATURES], score_thresholds
            ),
        )

    spec = stage_models[0].inputs[0]
    signature = [
        tf.TensorSpec(
            (1,) + tuple(spec.shape[1:]), spec.dtype, name=stages.IMAGE
        ),
        tf.TensorSpec((last,), tf.float32, name="score_thresholds"),
    ]

    @tf.function(input_signature=signature)
    def early_exit(image, score_thresholds):
        probabilities, index = run_from(0, image, score_thresholds)
        return {"exit_output": probabilities, "exit_index": index}

    return early_exit


def convert_single_file(stage_models, rule, num_classes):
    """Converts the one-file early exit (`single_file_function`) to bytes.

    The stages are tracked by a `keras.export.ExportArchive` (their weights
    travel in its SavedModel) and the SavedModel is converted with
    `TFLiteConverter.from_saved_model`.
    """
    archive = keras.export.ExportArchive()
    for stage_model in stage_models:
        archive.track(stage_model)
    archive.add_endpoint(
        "serving_default", single_file_function(stage_models, rule, num_classes)
    )
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile(
        "w+"
    ) as log:
        with contextlib.redirect_stdout(io.StringIO()), captured_stderr(log):
            archive.write_out(folder, verbose=False)
        return _convert(tf.lite.TFLiteConverter.from_saved_model(folder))


def single_file_spec(flatbuffer):
    """The `SingleFileSpec` of a converted one-file early exit."""
    input_specs, output_specs = tensor_specs(flatbuffer)
    return SingleFileSpec(
        file=SINGLE_FILE,
        image=input_specs[stages.IMAGE],
        score_thresholds=input_specs["score_thresholds"],
        exit_output=output_specs["exit_output"],
        exit_index=output_specs["exit_index"],
        bytes=len(flatbuffer),
    )


def tensor_specs(flatbuffer):
    """`({name: TensorSpec} of the inputs, {name: TensorSpec} of the outputs)`
    of a converted stage's signature."""
    from keras_nachos.deploy.interpreters import make_interpreter

    return interpreter_specs(make_interpreter(model_content=flatbuffer))


def checked_rule(model, rule, thresholds):
    """`(rule, thresholds, serialized rule)` of an export, checked.

    The rule must fit the model's heads and be serialisable (the runtime
    rebuilds it from the manifest).
    """
    rule = rules_module.get(rule)
    thresholds = rule.validate_thresholds(
        thresholds, model.num_exits - 1, model.num_classes
    )
    rules_module.check_rule_fits(rule, model.has_confidence[:-1])
    serialized_rule = keras.saving.serialize_keras_object(rule)
    if not isinstance(keras.saving.deserialize_keras_object(serialized_rule),
                      type(rule)):
        raise invalid_value(
            "rule",
            "a rule registered with `keras.saving.register_keras_serializable` "
            "(the runtime rebuilds it from the manifest)",
            rule,
        )
    return rule, thresholds, serialized_rule


def check_directory(directory):
    """Checks an export folder argument (`export_folder.check_export_target`):
    a path, not an existing file, in a folder this process can write to."""
    return check_export_target(directory)


def stage_spec(stage, flatbuffer):
    """The `StageSpec` of a `Stage` converted to `flatbuffer`."""
    input_specs, output_specs = tensor_specs(flatbuffer)
    return StageSpec(
        file=stage.file_name,
        input=input_specs[stage.input_name],
        exit=output_specs[stages.EXIT],
        features=output_specs.get(stages.FEATURES),
        bytes=len(flatbuffer),
    )


def _check_single_file(single_file, rule, quantize):
    """The `single_file` argument resolved to a boolean (checked)."""
    possible = quantize is None and rule.runs_in_graph
    if single_file is None:
        return possible
    check_bool("single_file", single_file)
    if single_file and not possible:
        why = (
            f'quantize="{quantize}" (the one-file early exit is float32)'
            if quantize is not None
            else f"the {rule.name} rule, which does not decide inside the "
            "graph (its `runs_in_graph` is False)"
        )
        raise invalid_value(
            "single_file", f"False or None with {why}", single_file
        )
    return single_file


def write_manifest(directory, model, stage_specs, serialized_rule, thresholds,
                   quantize, training=None, single_file=None):
    """Writes and returns the `Manifest` of `model` exported as the stages
    `stage_specs` (a list of `StageSpec`) in `directory`, with the size and
    SHA-256 of every stage file (and of the one-file early exit)."""
    manifest = Manifest(
        stages=stage_specs,
        rule=serialized_rule,
        thresholds=[float(t) for t in thresholds],
        num_classes=model.num_classes,
        exit_names=list(model.exit_names),
        exit_costs=model.exit_costs.to_dict(),
        quantize=quantize,
        version=__version__,
        training=training,
        single_file=single_file,
        confidence=[bool(c) for c in model.has_confidence],
    )
    manifest.record_files(directory, manifest.model_files)
    manifest.write(directory)
    return manifest


def export_early_exit(
    model,
    directory,
    thresholds=None,
    rule="max_probability",
    quantize=None,
    representative_data=None,
    max_representative=500,
    micro=False,
    single_file=None,
):
    """Writes one `.tflite` per stage and a `manifest.json` to `directory`.

    Args:
        model: An `EarlyExitModel`.
        directory: Output folder (created; existing stage files and manifest
            are replaced, other files left alone). Written whole or not at
            all: a failed export leaves it as it was.
        thresholds: One threshold per early exit (or held by the rule).
        rule: An `ExitRule` or its name (a registered, serialisable rule).
        quantize: `None` (float32 stages) or `"int8"` (full-integer stages,
            int8 input and outputs).
        representative_data: For int8: an array of inputs (or a dataset of
            `(x, y)` or `x` batches) the quantisation ranges are calibrated
            on; a few hundred training images are enough.
        max_representative: Integer, at most this many samples are used.
            Defaults to `500`.
        micro: Boolean. If `True` (needs the `tflite-micro` package), each
            stage's TFLite Micro tensor arena is measured into the manifest
            and each stage is also written as a C array header
            (`stage_<n>.h`) for firmware.
        single_file: Boolean or `None`. If `True`, also writes
            `early_exit.tflite`: the whole early exit as one file for one
            sample, the stages chained by in-graph conditionals on the
            rule's score (for float exports with a rule that `runs_in_graph`:
            max probability, score margin, class means). The default `None`
            writes it whenever it can.

    Returns:
        The `Manifest` written.

    Raises:
        ValueError: For a bad argument (named), before any work: a
            `directory` that is a file or read-only, `representative_data`
            of another shape, empty or with NaN or infinite values.
        ImportError: With `micro=True` without the `tflite-micro` package.
        ConversionError: When the int8 converter fails or crashes (in its
            worker process: this one goes on, nothing is written).
    """
    rule, thresholds, serialized_rule = checked_rule(model, rule, thresholds)
    if quantize not in QUANTIZE_MODES:
        raise invalid_value("quantize", 'None or "int8"', quantize)
    check_int("max_representative", max_representative, min_value=1)
    check_bool("micro", micro)
    single_file = _check_single_file(single_file, rule, quantize)
    if micro:
        from keras_nachos.deploy.micro import micro_interpreter_class

        micro_interpreter_class()  # A clear error if tflite-micro is absent.
    target = check_directory(directory)
    samples = None
    if quantize == "int8":
        if representative_data is None:
            raise invalid_value(
                "representative_data",
                'input samples to calibrate the int8 ranges on (quantize="int8" '
                "needs them; a few hundred training images are enough)",
                representative_data,
            )
        samples = check_samples(
            _samples(representative_data, max_representative),
            model.backbone.inputs[0].shape, "representative_data",
        )
    plan = model.stage_plan
    stage_models = plan.export_models()
    with staged_export(target) as folder:
        specs = []
        flatbuffers = _stage_flatbuffers(plan, stage_models, quantize, samples)
        for stage, flatbuffer in zip(plan.stages, flatbuffers):
            with open(os.path.join(folder, stage.file_name), "wb") as f:
                f.write(flatbuffer)
            specs.append(stage_spec(stage, flatbuffer))
        one_file = None
        if single_file:
            flatbuffer = convert_single_file(stage_models, rule,
                                             model.num_classes)
            with open(os.path.join(folder, SINGLE_FILE), "wb") as f:
                f.write(flatbuffer)
            one_file = single_file_spec(flatbuffer)
        manifest = write_manifest(
            folder, model, specs, serialized_rule, thresholds, quantize,
            single_file=one_file,
        )
        if micro:
            manifest = prepare_for_micro(folder)
    return manifest


def _stage_flatbuffers(plan, stage_models, quantize, samples):
    """The stages converted: float ones here, int8 ones in a worker process
    (`int8_conversion`), each later stage calibrated on the features the
    float stages before it give on `samples`."""
    if quantize is None:
        return [convert_stage(stage_model) for stage_model in stage_models]
    inputs = [samples]
    for stage, stage_model in zip(plan.stages[:-1], stage_models[:-1]):
        features = np.asarray(
            stage_model.predict(inputs[-1], verbose=0)[stages.FEATURES])
        if not np.isfinite(features).all():
            raise invalid_value(
                "model",
                "a model whose stages give finite features on "
                "`representative_data` (are its weights finite?)",
                f"{stage.name} gives {int(np.sum(~np.isfinite(features)))} "
                "non-finite feature values",
            )
        inputs.append(features)
    job = tempfile.mkdtemp(prefix="keras_nachos_int8_")
    try:
        return convert_int8_in_worker(stage_models, inputs, job)
    finally:
        shutil.rmtree(job, ignore_errors=True)


def _samples(data, limit):
    """At most `limit` input samples from an array or a dataset."""
    if isinstance(data, tf.data.Dataset):
        batches, count = [], 0
        for element in data:
            if isinstance(element, (tuple, list)):
                element = element[0]
            batches.append(np.asarray(element))
            count += len(batches[-1])
            if count >= limit:
                break
        return np.concatenate(batches)[:limit] if batches else np.zeros((0,))
    try:
        x = np.asarray(data)
    except (TypeError, ValueError):
        raise invalid_type(
            "representative_data", "an array of inputs or a tf.data.Dataset",
            data,
        ) from None
    return x[:limit] if x.ndim else x
