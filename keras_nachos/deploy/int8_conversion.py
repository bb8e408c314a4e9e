"""Full-integer (int8) conversion in a worker process.

TensorFlow's converter calibrates int8 ranges on the representative data in
C++ code that can end the whole process (a segmentation fault, measured on
NaN samples) instead of raising. So `export_early_exit(..., quantize="int8")`
converts its stages in a child process: the caller writes each stage model
as a SavedModel and its representative samples into a job folder, the
worker (this file, run by path, so that it imports TensorFlow and nothing of
keras_nachos) converts them, and a crash of the worker is a
`ConversionError` in the caller, who is left running with nothing written.
(`convert_stage`'s samples are checked before, so a crash is not expected:
the worker makes it harmless.)

The job folder, as the QAT worker's (`qat/job.py`), is written by one side
and read by the other:

| file | written by | holds |
| --- | --- | --- |
| `job.json` | caller | `{"stages": ["stage_1", ...]}`, in order |
| `stage_1/` | caller | the stage model as a SavedModel |
| `stage_1.npy` | caller | its representative samples (float32) |
| `stage_1.tflite` | worker | the int8 stage |
| `error.json` | worker | `{"type", "message"}` of the exception that stopped it |

This module imports only numpy at the top (TensorFlow and keras_nachos
inside the functions that need them).
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np

JOB = "job.json"
ERROR = "error.json"
# Lines of the worker's stderr quoted when it fails.
STDERR_LINES = 5
# Runs this file as `__main__` without importing the keras_nachos package.
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


class ConversionError(RuntimeError):
    """The int8 conversion failed or crashed in its worker process."""


def configure_int8(converter, samples):
    """Sets a `TFLiteConverter` to full integer (int8 input and outputs),
    calibrated on `samples` (an array of the model's input samples)."""
    import tensorflow as tf

    def representative():
        for sample in samples:
            yield [sample[None].astype("float32")]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter


def write_saved_model(model, path):
    """Writes a Keras model as the SavedModel `TFLiteConverter.from_keras_model`
    converts (its call with `training=False`, inputs named as the model's)."""
    import contextlib
    import functools
    import io
    import tempfile

    import keras
    import tensorflow as tf

    from keras_nachos.deploy.micro import captured_stderr

    archive = keras.export.ExportArchive()
    archive.track(model)
    signature = [tf.TensorSpec(x.shape, x.dtype, name=x.name)
                 for x in model.inputs]
    if len(signature) > 1:
        signature = [signature]
    archive.add_endpoint(
        "serve", functools.partial(model.__call__, training=False), signature
    )
    with tempfile.TemporaryFile("w+") as log, contextlib.redirect_stdout(
            io.StringIO()), captured_stderr(log):
        archive.write_out(path, verbose=False)


def convert_int8_in_worker(stage_models, samples, folder):
    """Converts stage models to int8 flatbuffers in a worker process.

    Args:
        stage_models: List of Keras models (`stage_export_models`); stage
            `i` is called `stage_<i + 1>` in the job and its errors.
        samples: List of arrays, each stage's representative inputs.
        folder: An empty folder for the job (the caller removes it).

    Returns:
        A list of bytes, one `.tflite` flatbuffer per stage.

    Raises:
        ConversionError: When the converter raised (its error) or crashed
            the worker (the signal, the last lines of its log).
    """
    from keras_nachos.deploy.qat.worker_process import worker_environment

    names = [f"stage_{i + 1}" for i in range(len(stage_models))]
    for name, model, x in zip(names, stage_models, samples):
        write_saved_model(model, os.path.join(folder, name))
        np.save(os.path.join(folder, name + ".npy"), np.asarray(x, "float32"))
    with open(os.path.join(folder, JOB), "w") as f:
        json.dump({"stages": names}, f)
    process = subprocess.run(
        [sys.executable, "-c", _BOOT, os.path.abspath(__file__), folder],
        env=worker_environment(), cwd=folder, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, check=False,
    )
    done = [n for n in names if os.path.exists(os.path.join(folder, n + ".tflite"))]
    if process.returncode != 0 or len(done) != len(names):
        failed = names[len(done)] if len(done) < len(names) else names[-1]
        raise ConversionError(_failure(folder, failed, process))
    flatbuffers = []
    for name in names:
        with open(os.path.join(folder, name + ".tflite"), "rb") as f:
            flatbuffers.append(f.read())
    return flatbuffers


def _failure(folder, stage, process):
    """The message of a failed worker."""
    path = os.path.join(folder, ERROR)
    if os.path.exists(path):
        with open(path) as f:
            error = json.load(f)
        return (f"The int8 conversion of {stage} failed (in its worker "
                f"process): {error['type']}: {error['message']}")
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    tail = " | ".join(lines[-STDERR_LINES:])
    code = process.returncode
    how = (f"crashed its worker process ({signal.Signals(-code).name})"
           if code < 0 and -code in signal.Signals._value2member_map_
           else f"ended its worker process with exit status {code}")
    return (f"The int8 conversion of {stage} {how}; this process goes on and "
            "nothing was written. Its representative data are checked "
            "(finite, of the stage's input shape): check the model's weights "
            "are finite, and report the converter's last lines"
            + (f": {tail}" if tail else "."))


def main(folder):
    """The worker: converts the job's stages; returns the exit status."""
    import traceback

    import tensorflow as tf

    try:
        with open(os.path.join(folder, JOB)) as f:
            names = json.load(f)["stages"]
        for name in names:
            converter = tf.lite.TFLiteConverter.from_saved_model(
                os.path.join(folder, name))
            configure_int8(converter, np.load(os.path.join(folder, name + ".npy")))
            flatbuffer = converter.convert()
            with open(os.path.join(folder, name + ".tflite"), "wb") as f:
                f.write(flatbuffer)
    except Exception as error:  # noqa: BLE001 - reported to the caller
        traceback.print_exc()
        with open(os.path.join(folder, ERROR), "w") as f:
            json.dump({"type": type(error).__name__,
                       "message": str(error)[-2000:]}, f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[-1]))
