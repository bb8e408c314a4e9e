"""Starting the tfmot worker process and reading what it reports.

TensorFlow Model Optimization works only on `tf_keras` (Keras 2) models and,
once imported, switches the whole process to `tf_keras`
(`TF_USE_LEGACY_KERAS=1`). So its work runs in a child process
(`python -m keras_nachos.deploy.qat.worker FOLDER`), handed a `Job` folder:
the caller's process never imports tfmot and its Keras 3 model is left as
it was.
"""

import importlib.util
import os
import subprocess
import sys

from keras_nachos.deploy.qat.job import Job

REQUIREMENTS = ("tensorflow_model_optimization", "tf_keras")
WORKER = "keras_nachos.deploy.qat.worker"
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


def worker_environment():
    """The caller's environment, with this keras_nachos first on the path."""
    import keras_nachos

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_nachos.__file__)))
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = root if not path else root + os.pathsep + path
    env["KERAS_BACKEND"] = "tensorflow"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_worker(models, folder, options, data):
    """Runs the tfmot worker on a job in `folder`; returns its report.

    Args:
        models: The `EarlyExitModel`, or a list of them for a rebuild check.
        folder: An empty folder (the job's).
        options: A `JobOptions`.
        data: A `JobData`.

    Returns:
        The worker's report: an `ExportReport` or a `RebuildReport`.

    Raises:
        QuantizationAwareTrainingError: When the worker fails (its error).
    """
    check_tfmot_installed()
    job = Job(folder)
    job.write_inputs(models, options, data)
    process = subprocess.run(
        [sys.executable, "-m", WORKER, job.folder],
        env=worker_environment(),
        # `-m` puts the working folder first on the path: run in the job's
        # folder, so that no other `keras_nachos` folder beside the caller
        # shadows this one.
        cwd=job.folder,
        stdout=None if options.verbose else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    error = job.read_error()
    if process.returncode != 0 or error is not None:
        lines = [line for line in process.stderr.splitlines() if line.strip()]
        message = "\n".join(lines[-STDERR_LINES:]) or (
            f"exit status {process.returncode}"
        )
        if error is not None and error.message.strip():
            message = f"{error.type}: {error.message}"
        raise QuantizationAwareTrainingError(
            f"Quantisation-aware training failed in its worker process "
            f"(`python -m {WORKER}`): {message}"
        )
    return job.read_report(options)
