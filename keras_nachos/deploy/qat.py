"""Quantisation-aware training (and optional pruning) before an int8 export.

Post-training int8 quantisation (`export_early_exit(..., quantize="int8")`)
rounds a float network; quantisation-aware training (QAT) fine-tunes it with
the rounding simulated, so that the int8 stages lose less accuracy.
`export_quantization_aware` fine-tunes a copy of an `EarlyExitModel` with
TensorFlow Model Optimization (tfmot), optionally prunes it first, and
writes the same export folder as `export_early_exit` (one full-integer
`.tflite` per stage and a `manifest.json`), which
`keras_nachos.deploy.load(directory)` runs.

tfmot works only on `tf_keras` (Keras 2) models and, once imported, switches
the whole process to `tf_keras` (`TF_USE_LEGACY_KERAS=1`). So the work runs
in a child process (`python -m keras_nachos.deploy._qat_worker`), handed the
model as a `.keras` file, the data as an `.npz` and the options as JSON:
the caller's process never imports tfmot and its Keras 3 model is left as it
was (the fine-tuned weights live only in the `.tflite` files).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from keras_nachos.checks import check_float
from keras_nachos.checks import check_int
from keras_nachos.data_utils import check_inputs
from keras_nachos.deploy.export import check_directory
from keras_nachos.deploy.export import checked_rule
from keras_nachos.deploy.export import stage_spec
from keras_nachos.deploy.export import write_manifest
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

REQUIREMENTS = ("tensorflow_model_optimization", "tf_keras")
WORKER = "keras_nachos.deploy._qat_worker"
# Lines of the worker's stderr quoted when it fails without a report.
STDERR_LINES = 5


class QuantizationAwareTrainingError(RuntimeError):
    """The QAT worker process failed; the message is its error."""


def check_tfmot_installed():
    """Raises an `ImportError` unless tfmot and tf_keras are installed.

    Looks them up without importing them (importing tfmot switches the
    process to `tf_keras`).
    """
    missing = [m for m in REQUIREMENTS if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            "Quantisation-aware training needs TensorFlow Model Optimization "
            f"and tf_keras ({', '.join(missing)} not installed): "
            'pip install "keras-nachos[tfmot]"'
        )


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
                     representative_data, max_representative, verbose):
    from keras_nachos.models import EarlyExitModel

    if not isinstance(model, EarlyExitModel):
        raise invalid_type("model", "an EarlyExitModel", model)
    rule, thresholds, serialized_rule = checked_rule(model, rule, thresholds)
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
    x_train = np.asarray(x_train, "float32")
    check_inputs(x_train, input_shape, "x_train")
    if len(x_train) == 0:
        raise invalid_value("x_train", "a non-empty array of inputs",
                            "an empty array")
    y_train = _check_labels(y_train, len(x_train), model.num_classes)
    if representative_data is None:
        samples = x_train
    else:
        samples = np.asarray(representative_data, "float32")
        check_inputs(samples, input_shape, "representative_data")
        if len(samples) == 0:
            raise invalid_value("representative_data",
                                "a non-empty array of inputs", "an empty array")
    return (rule, thresholds, serialized_rule, x_train, y_train,
            samples[:max_representative], learning_rate, sparsity)


def _worker_environment():
    """The caller's environment, with this keras_nachos first on the path."""
    import keras_nachos

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_nachos.__file__)))
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = root if not path else root + os.pathsep + path
    env["KERAS_BACKEND"] = "tensorflow"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_worker(model, workdir, options, arrays):
    """Runs the tfmot worker on `model` in `workdir`; returns its report.

    Args:
        model: The `EarlyExitModel` (saved to `workdir/model.keras`), or a
            list of them for a rebuild check (`model_0.keras`, ...).
        workdir: An empty folder.
        options: Dict of the worker's options (`"mode"`: `"export"` or
            `"rebuild_check"`).
        arrays: Dict of numpy arrays (`x`, `y`, `representative`).

    Returns:
        The worker's report (a dict).

    Raises:
        QuantizationAwareTrainingError: When the worker fails (its error).
    """
    check_tfmot_installed()
    if isinstance(model, (list, tuple)):
        for i, m in enumerate(model):
            m.save(os.path.join(workdir, f"model_{i}.keras"))
    else:
        model.save(os.path.join(workdir, "model.keras"))
    np.savez(os.path.join(workdir, "data.npz"), **arrays)
    with open(os.path.join(workdir, "options.json"), "w") as f:
        json.dump(options, f)
    workdir = os.path.abspath(workdir)
    process = subprocess.run(
        [sys.executable, "-m", WORKER, workdir],
        env=_worker_environment(),
        # `-m` puts the working folder first on the path: run in `workdir`,
        # so that no other `keras_nachos` folder beside the caller shadows
        # this one.
        cwd=workdir,
        stdout=None if options.get("verbose") else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    error_file = os.path.join(workdir, "error.json")
    if process.returncode != 0 or os.path.exists(error_file):
        lines = [line for line in process.stderr.splitlines() if line.strip()]
        message = "\n".join(lines[-STDERR_LINES:]) or (
            f"exit status {process.returncode}"
        )
        if os.path.exists(error_file):
            with open(error_file) as f:
                error = json.load(f)
            if error["message"].strip():
                message = f"{error['type']}: {error['message']}"
        raise QuantizationAwareTrainingError(
            f"Quantisation-aware training failed in its worker process "
            f"(`python -m {WORKER}`): {message}"
        )
    with open(os.path.join(workdir, "report.json")) as f:
        return json.load(f)


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
            are replaced).
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

    Returns:
        The `Manifest` written.

    Raises:
        ImportError: When tfmot or tf_keras is not installed.
        QuantizationAwareTrainingError: When the worker fails, e.g. on a
            layer it cannot rebuild in `tf_keras` (named with its class).
    """
    (rule, thresholds, serialized_rule, x_train, y_train, samples,
     learning_rate, sparsity) = _check_arguments(
        model, directory, thresholds, rule, x_train, y_train, epochs,
        batch_size, learning_rate, sparsity, representative_data,
        max_representative, verbose,
    )
    check_tfmot_installed()
    options = {
        "mode": "export", "epochs": int(epochs), "batch_size": int(batch_size),
        "learning_rate": learning_rate, "sparsity": sparsity,
        "verbose": int(verbose),
    }
    workdir = tempfile.mkdtemp(prefix="keras_nachos_qat_")
    try:
        report = run_worker(
            model, workdir, options,
            {"x": x_train, "y": y_train, "representative": samples},
        )
        os.makedirs(directory, exist_ok=True)
        stages = []
        for i, stage in enumerate(report["stages"]):
            with open(os.path.join(workdir, stage["file"]), "rb") as f:
                flatbuffer = f.read()
            with open(os.path.join(directory, stage["file"]), "wb") as f:
                f.write(flatbuffer)
            stages.append(stage_spec(i, stage["file"], flatbuffer))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return write_manifest(
        directory, model, stages, serialized_rule, thresholds, "int8",
        training={
            "method": "quantization_aware",
            "qat_epochs": int(epochs),
            "pruning_epochs": int(epochs) if sparsity is not None else 0,
            "sparsity": sparsity,
            "weight_sparsity": report["weight_sparsity"],
            "batch_size": int(batch_size),
            "learning_rate": learning_rate,
            "samples": int(len(x_train)),
            "class_means_refit": report["class_means_refit"],
            "final_loss": report["history"]["loss"][-1],
        },
    )


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
            models, workdir, {"mode": "rebuild_check", "models": len(models)},
            {"x": x},
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    diffs = [r["max_abs_diff"] for r in report["models"]]
    return diffs if many else diffs[0]
