"""Quantisation-aware training (and optional pruning) before an int8 export.

Post-training int8 quantisation (`export_early_exit(..., quantize="int8")`)
rounds a float network; quantisation-aware training (QAT) fine-tunes it with
the rounding simulated, so that the int8 stages lose less accuracy.
`export_quantization_aware` fine-tunes a copy of an `EarlyExitModel` with
TensorFlow Model Optimization (tfmot), optionally prunes it first, and
writes the same export folder as `export_early_exit` (one full-integer
`.tflite` per stage and a `manifest.json`), which
`keras_nachos.deploy.load(directory)` runs.

The tfmot work runs in a worker process (`worker_process.run_worker`,
`worker`), handed the model, the data and the options as a `job.Job`: the
fine-tuned weights live only in the `.tflite` files.
"""

import os
import shutil
import tempfile

import numpy as np

from keras_nachos.checks import check_bool
from keras_nachos.checks import check_float
from keras_nachos.checks import check_int
from keras_nachos.data_utils import check_inputs
from keras_nachos.deploy.data_checks import check_samples
from keras_nachos.deploy.export import check_directory
from keras_nachos.deploy.export import checked_rule
from keras_nachos.deploy.export import stage_spec
from keras_nachos.deploy.export import write_manifest
from keras_nachos.deploy.export_folder import staged_export
from keras_nachos.deploy.micro import prepare_for_micro
from keras_nachos.deploy.qat.job import EXPORT
from keras_nachos.deploy.qat.job import REBUILD_CHECK
from keras_nachos.deploy.qat.job import JobData
from keras_nachos.deploy.qat.job import JobOptions
from keras_nachos.deploy.qat.worker_process import check_tfmot_installed
from keras_nachos.deploy.qat.worker_process import run_worker
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value


def _check_labels(y, n, num_classes):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
        raise invalid_value(
            "y_train", f"a 1-D array of {n} integer labels (one per sample)",
            y if y.size <= 10 else f"array of shape {y.shape}, dtype {y.dtype}",
        )
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise invalid_value(
            "y_train", f"labels in [0, {num_classes})",
            f"labels in [{y.min()}, {y.max()}]",
        )
    return y.astype("int32")


def _check_arguments(model, directory, thresholds, rule, x_train, y_train,
                     epochs, batch_size, learning_rate, sparsity,
                     representative_data, max_representative, verbose, micro):
    from keras_nachos.models import EarlyExitModel

    if not isinstance(model, EarlyExitModel):
        raise invalid_type("model", "an EarlyExitModel", model)
    rule, thresholds, serialized_rule = checked_rule(model, rule, thresholds)
    check_bool("micro", micro)
    if micro:
        from keras_nachos.deploy.micro import micro_interpreter_class

        micro_interpreter_class()  # A clear error if tflite-micro is absent.
    check_directory(directory)
    check_int("epochs", epochs, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    learning_rate = check_float("learning_rate", learning_rate, low=0.0,
                                low_open=True)
    if sparsity is not None:
        sparsity = check_float(
            "sparsity", sparsity, low=0.0, high=1.0, low_open=True,
            high_open=True, expected="None or a float in (0, 1)",
        )
    check_int("max_representative", max_representative, min_value=1)
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise invalid_value("verbose", "0, 1 or 2", verbose)
    input_shape = model.backbone.inputs[0].shape
    if not hasattr(x_train, "shape"):
        raise invalid_type("x_train", "an array of inputs", x_train)
    x_train = check_samples(x_train, input_shape, "x_train").astype("float32")
    y_train = _check_labels(y_train, len(x_train), model.num_classes)
    if representative_data is None:
        samples = x_train
    else:
        samples = check_samples(representative_data, input_shape,
                                "representative_data").astype("float32")
    return (rule, thresholds, serialized_rule, x_train, y_train,
            samples[:max_representative], learning_rate, sparsity)


def export_quantization_aware(
    model,
    directory,
    thresholds,
    x_train,
    y_train,
    rule="max_probability",
    epochs=2,
    batch_size=32,
    learning_rate=1e-5,
    sparsity=None,
    representative_data=None,
    max_representative=500,
    verbose=0,
    micro=False,
):
    """Fine-tunes with quantisation-aware training, exports int8 stages.

    A copy of the model, rebuilt in `tf_keras`, is fine-tuned with tfmot's
    8-bit QAT (every exit's sparse categorical cross-entropy, summed; E2CM
    exits are not trained; their class means are fitted again on the
    fine-tuned features), then each stage is converted to full-integer
    int8 (int8 input and outputs) and written as `export_early_exit` does:
    `stage_N.tflite` and `manifest.json` (with `quantize="int8"` and a
    `training` record). `model` itself is not changed.

    With `sparsity`, magnitude pruning comes first: every `Conv2D` / `Dense`
    kernel (the heads' included) is pruned to that fraction of zeros and
    fine-tuned `epochs` epochs, then QAT (`epochs` more) keeps the zeros.

    The work runs in a child process (tfmot would switch this process to
    `tf_keras`); needs `pip install "keras-nachos[tfmot]"`.

    Args:
        model: An `EarlyExitModel`, trained (and its class means fitted).
        directory: Output folder (created; existing stage files and manifest
            are replaced, other files left alone). Written whole or not at
            all: a failed export leaves it as it was.
        thresholds: One threshold per early exit (`None` when the rule
            holds them).
        x_train: Array of training inputs to fine-tune on.
        y_train: Array of integer labels of `x_train`.
        rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
        epochs: Positive integer, QAT epochs (and pruning epochs before
            them with `sparsity`). Defaults to `2`.
        batch_size: Positive integer. Defaults to `32`.
        learning_rate: Positive float, Adam's learning rate. Defaults to
            `1e-5`: a small step, the model is trained already (on the
            Fashion-MNIST example, 1 epoch at 1e-5 kept the int8 early exit
            within 0.14 points of float; at 1e-4 it lost 0.2-0.5, more with
            more epochs: `benchmarks/deployment.py`).
        sparsity: `None` (no pruning, default) or a float in (0, 1), the
            fraction of every kernel's weights set to zero.
        representative_data: Array of inputs the int8 ranges of the
            stages' inputs are calibrated on. Defaults to `x_train`.
        max_representative: Positive integer, at most this many
            representative samples are used. Defaults to `500`.
        verbose: `0` (silent, default), `1` or `2`: the fine-tuning's
            progress, as in `fit`.
        micro: Boolean. If `True` (needs the `tflite-micro` package), the
            stages' TFLite Micro arenas are measured and C headers written,
            as `export_early_exit(..., micro=True)` does.

    Returns:
        The `Manifest` written.

    Raises:
        ValueError: For a bad argument (named), before any work: data of
            another shape, empty or not finite, labels out of range, a
            `directory` that is a file or read-only.
        ImportError: When tfmot or tf_keras is not installed.
        QuantizationAwareTrainingError: When the worker fails, e.g. on a
            layer it cannot rebuild in `tf_keras` (named with its class).
    """
    (rule, thresholds, serialized_rule, x_train, y_train, samples,
     learning_rate, sparsity) = _check_arguments(
        model, directory, thresholds, rule, x_train, y_train, epochs,
        batch_size, learning_rate, sparsity, representative_data,
        max_representative, verbose, micro,
    )
    check_tfmot_installed()
    options = JobOptions(
        mode=EXPORT, epochs=int(epochs), batch_size=int(batch_size),
        learning_rate=learning_rate, sparsity=sparsity, verbose=int(verbose),
    )
    workdir = tempfile.mkdtemp(prefix="keras_nachos_qat_")
    try:
        report = run_worker(
            model, workdir, options,
            JobData(x=x_train, y=y_train, representative=samples),
        )
        with staged_export(directory) as folder:
            specs = []
            for stage, stage_report in zip(model.stage_plan.stages,
                                           report.stages):
                shutil.copyfile(os.path.join(workdir, stage_report.file),
                                os.path.join(folder, stage.file_name))
                with open(os.path.join(folder, stage.file_name), "rb") as f:
                    specs.append(stage_spec(stage, f.read()))
            manifest = write_manifest(
                folder, model, specs, serialized_rule, thresholds, "int8",
                training=_training_record(epochs, sparsity, batch_size,
                                          learning_rate, x_train, report),
            )
            if micro:
                manifest = prepare_for_micro(folder)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return manifest


def _training_record(epochs, sparsity, batch_size, learning_rate, x_train,
                     report):
    """The manifest's `training` record of a QAT export."""
    return {
        "method": "quantization_aware",
        "qat_epochs": int(epochs),
        "pruning_epochs": int(epochs) if sparsity is not None else 0,
        "sparsity": sparsity,
        "weight_sparsity": report.weight_sparsity,
        "batch_size": int(batch_size),
        "learning_rate": learning_rate,
        "samples": int(len(x_train)),
        "class_means_refit": report.class_means_refit,
        "final_loss": report.history["loss"][-1],
    }


def rebuild_differences(models, x):
    """Max abs difference, per exit, of the tf_keras rebuild and the model.

    Runs the worker's rebuild (in a child process, as
    `export_quantization_aware` does) and compares its exit outputs on `x`
    with `model.predict_exits(x)`.

    Args:
        models: An `EarlyExitModel`, or a list of them (one worker for all).
        x: Array of inputs (of every model's input shape).

    Returns:
        A list of floats, one per exit (a list of such lists for a list of
        models).
    """
    from keras_nachos.models import EarlyExitModel

    many = isinstance(models, (list, tuple))
    models = list(models) if many else [models]
    if not models or not all(isinstance(m, EarlyExitModel) for m in models):
        raise invalid_type(
            "models", "an EarlyExitModel or a non-empty list of them", models
        )
    x = np.asarray(x, "float32")
    for m in models:
        check_inputs(x, m.backbone.inputs[0].shape, "x")
    workdir = tempfile.mkdtemp(prefix="keras_nachos_qat_")
    try:
        report = run_worker(
            models, workdir,
            JobOptions(mode=REBUILD_CHECK, models=len(models)), JobData(x=x),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    diffs = [check.max_abs_diff for check in report.models]
    return diffs if many else diffs[0]
