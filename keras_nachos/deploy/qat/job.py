"""The QAT job: what the caller's process and the tfmot worker hand each other.

tfmot runs in a worker process (`python -m keras_nachos.deploy.qat.worker
FOLDER`) because importing it switches a process to tf_keras. The caller
(`worker_process.run_worker`) and the worker talk through files in the job's
folder, each written by one side and read by the other, all named here:

| file | written by | holds |
| --- | --- | --- |
| `model.keras` (`model_0.keras`, ...) | caller | the `EarlyExitModel`(s) |
| `data.npz` | caller | a `JobData`: `x`, `y`, `representative` |
| `options.json` | caller | a `JobOptions` |
| `stage_1.tflite`, ... | worker | the int8 stage files (an export) |
| `report.json` | worker | an `ExportReport` or a `RebuildReport` |
| `error.json` | worker | a `JobError`: the exception that stopped it |

This module imports neither TensorFlow nor tfmot.
"""

import dataclasses
import json
import os

import numpy as np

from keras_nachos.errors import invalid_value

EXPORT = "export"
REBUILD_CHECK = "rebuild_check"
MODES = (EXPORT, REBUILD_CHECK)


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """What the worker is asked to do.

    Attributes:
        mode: `"export"` (fine-tune, convert, write the stage files) or
            `"rebuild_check"` (compare the tf_keras rebuilds' exits with
            the models').
        models: Integer, the number of models (`model_0.keras`, ...) of a
            rebuild check. Defaults to `1`.
        epochs: Integer, QAT epochs (and pruning epochs with `sparsity`).
        batch_size: Integer.
        learning_rate: Float, Adam's learning rate.
        sparsity: `None` or a float in (0, 1): prune to that fraction first.
        verbose: `0`, `1` or `2`: the fine-tuning's progress, as in `fit`.
    """

    mode: str
    models: int = 1
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    sparsity: float | None = None
    verbose: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise invalid_value("mode", f"one of {MODES}", self.mode)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config):
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class JobData:
    """The arrays of a job.

    Attributes:
        x: Array of inputs (to fine-tune on, or to compare exits on).
        y: Optional array of integer labels of `x`.
        representative: Optional array of inputs the int8 ranges of the
            stages' inputs are calibrated on.
    """

    x: np.ndarray
    y: np.ndarray | None = None
    representative: np.ndarray | None = None

    def save(self, path):
        arrays = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not None
        }
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path):
        with np.load(path) as data:
            return cls(**{name: data[name] for name in data.files})


@dataclasses.dataclass(frozen=True)
class StageReport:
    """One int8 stage file the worker wrote.

    Attributes:
        file: String, its file name in the job's folder (`"stage_1.tflite"`).
        float_ops: List of the names of its ops that touch float32 tensors
            (none in a full-integer stage).
        weight_sparsity: Dict from layer name to the fraction of zeros of
            its conv / fully-connected weights in the file.
    """

    file: str
    float_ops: list
    weight_sparsity: dict


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What an export job did.

    Attributes:
        stages: List of `StageReport`s, one per stage in order.
        history: Dict of the QAT fine-tuning's logs (`fit`'s history).
        pruning_history: Dict of the pruning fine-tuning's logs, or `None`
            without pruning.
        class_means_refit: Boolean, whether E2CM heads' class means were
            fitted again on the QAT network's features.
    """

    stages: list
    history: dict
    pruning_history: dict | None
    class_means_refit: bool

    @property
    def weight_sparsity(self):
        """Dict from layer name to its weights' fraction of zeros, all
        stages together."""
        return {
            name: value
            for stage in self.stages
            for name, value in stage.weight_sparsity.items()
        }

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config):
        config = dict(config)
        config["stages"] = [StageReport(**s) for s in config["stages"]]
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class RebuildCheck:
    """How closely one model's tf_keras rebuild gives its outputs.

    Attributes:
        max_abs_diff: List of floats, per exit, the largest absolute
            difference between the rebuild's and the model's outputs.
        layers: List of the names of the rebuild's layers.
    """

    max_abs_diff: list
    layers: list


@dataclasses.dataclass(frozen=True)
class RebuildReport:
    """What a rebuild check found: one `RebuildCheck` per model."""

    models: list

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config):
        return cls(models=[RebuildCheck(**m) for m in config["models"]])


REPORTS = {EXPORT: ExportReport, REBUILD_CHECK: RebuildReport}


@dataclasses.dataclass(frozen=True)
class JobError:
    """The exception that stopped the worker.

    Attributes:
        type: String, the exception's class name.
        message: String, its message.
    """

    type: str
    message: str

    @classmethod
    def from_exception(cls, error):
        return cls(type=type(error).__name__, message=str(error))

    def to_dict(self):
        return dataclasses.asdict(self)


class Job:
    """The files of a QAT job in `folder` (see the module's table).

    Args:
        folder: Path of the job's folder.
    """

    MODEL = "model.keras"
    DATA = "data.npz"
    OPTIONS = "options.json"
    REPORT = "report.json"
    ERROR = "error.json"

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)

    def path(self, name):
        """The path of the file `name` in the job's folder."""
        return os.path.join(self.folder, name)

    def model_path(self, index=None):
        """`model.keras`, or `model_{index}.keras` for a rebuild check."""
        return self.path(self.MODEL if index is None else f"model_{index}.keras")

    # The caller's side.
    def write_inputs(self, models, options, data):
        """Writes the models (one, or a list for a rebuild check), the
        `JobOptions` and the `JobData`."""
        if isinstance(models, (list, tuple)):
            for i, model in enumerate(models):
                model.save(self.model_path(i))
        else:
            models.save(self.model_path())
        data.save(self.path(self.DATA))
        _write_json(self.path(self.OPTIONS), options.to_dict())

    def read_report(self, options):
        """The worker's report of the job run with `options`."""
        with open(self.path(self.REPORT)) as f:
            return REPORTS[options.mode].from_dict(json.load(f))

    def read_error(self):
        """The worker's `JobError`, or `None` if it wrote none."""
        if not os.path.exists(self.path(self.ERROR)):
            return None
        with open(self.path(self.ERROR)) as f:
            return JobError(**json.load(f))

    # The worker's side.
    def read_options(self):
        with open(self.path(self.OPTIONS)) as f:
            return JobOptions.from_dict(json.load(f))

    def read_data(self):
        return JobData.load(self.path(self.DATA))

    def load_models(self, options):
        """The job's model (a list of them for a rebuild check), with
        keras_nachos' classes registered."""
        import keras

        import keras_nachos  # noqa: F401  (registers the classes)

        def load(path):
            return keras.saving.load_model(path, compile=False)

        if options.mode == REBUILD_CHECK:
            return [load(self.model_path(i)) for i in range(options.models)]
        return load(self.model_path())

    def write_report(self, report):
        _write_json(self.path(self.REPORT), report.to_dict())

    def write_error(self, error):
        _write_json(self.path(self.ERROR), JobError.from_exception(error).to_dict())


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)
