"""The tensors and files an export's manifest describes, read field by field.

`TensorSpec` (one input or output of a `.tflite` file), `StageSpec` (a stage
file and its tensors) and `SingleFileSpec` (`early_exit.tflite`) are what
`manifest.json` holds for each file; their `from_json` checks every field's
kind and raises `FieldError` naming the field (`stages[1].input.dtype`),
which `Manifest.read` turns into a `ManifestError` naming the manifest.
"""

import dataclasses
import math
import os

import numpy as np


class FieldError(Exception):
    """A manifest field missing or of the wrong kind."""

    def __init__(self, field, expected, value=None, missing=False):
        found = "missing" if missing else f"found {short(value)}"
        super().__init__(f"'{field}' ({found}; expected {expected})")


def short(value, limit=80):
    """`repr(value)`, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value):
    return (isinstance(value, (int, float, np.number))
            and not isinstance(value, bool))


def required(config, field, key):
    """`config[key]`, or a `FieldError` naming `field.key`."""
    if not isinstance(config, dict):
        raise FieldError(field, "an object", config)
    if key not in config:
        raise FieldError(f"{field}.{key}" if field else key, "a value",
                         missing=True)
    return config[key]


def is_plain_file_name(name):
    """Whether `name` names a file inside the export folder itself (no
    folder part, so a manifest cannot point outside its folder)."""
    return (isinstance(name, str) and name not in ("", ".", "..")
            and os.path.basename(name) == name and "/" not in name
            and "\\" not in name)


@dataclasses.dataclass
class TensorSpec:
    """One input or output of a stage.

    Attributes:
        name: Signature name (`"image"`, `"features"`, `"exit"`).
        shape: List, batch dimension first (`-1`: any batch size).
        dtype: `"float32"`, `"int8"` or `"uint8"`.
        scale: Quantisation scale (`None` for float tensors).
        zero_point: Quantisation zero point (`None` for float tensors).
        position: Integer, the tensor's place among the model's inputs or
            outputs (interpreters without signatures, such as TFLite Micro's,
            address tensors by position).
    """

    name: str
    shape: list
    dtype: str
    scale: float = None
    zero_point: int = None
    position: int = 0

    FIELDS = ("name", "shape", "dtype", "scale", "zero_point", "position")

    @property
    def quantized(self):
        return self.scale is not None

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, config, field="tensor"):
        """The spec of a JSON object, each field checked (`field` names the
        object in the manifest for the error)."""
        for key in ("name", "shape", "dtype"):
            required(config, field, key)
        unknown = sorted(set(config) - set(cls.FIELDS))
        if unknown:
            raise FieldError(f"{field}.{unknown[0]}", "no such field",
                           config[unknown[0]])
        spec = cls(**config)
        if not isinstance(spec.name, str) or not spec.name:
            raise FieldError(f"{field}.name", "a tensor name", spec.name)
        if not isinstance(spec.shape, list) or not all(
                is_int(d) and d >= -1 for d in spec.shape):
            raise FieldError(f"{field}.shape", "a list of sizes (-1: any)",
                           spec.shape)
        if not isinstance(spec.dtype, str) or not _is_dtype_name(spec.dtype):
            raise FieldError(f"{field}.dtype", "a dtype name such as 'float32' "
                           "or 'int8'", spec.dtype)
        if spec.scale is not None and not (
                is_number(spec.scale) and math.isfinite(spec.scale)
                and spec.scale > 0):
            raise FieldError(f"{field}.scale", "null or a positive number",
                           spec.scale)
        if spec.zero_point is not None and not is_int(spec.zero_point):
            raise FieldError(f"{field}.zero_point", "null or an integer",
                           spec.zero_point)
        if (spec.scale is None) != (spec.zero_point is None):
            raise FieldError(f"{field}.zero_point", "null exactly when `scale` "
                           "is null", spec.zero_point)
        if not is_int(spec.position) or spec.position < 0:
            raise FieldError(f"{field}.position", "a non-negative integer",
                           spec.position)
        return spec


def _is_dtype_name(name):
    try:
        return np.dtype(name).name == name
    except TypeError:
        return False


def _file_field(config, field):
    name = required(config, field, "file")
    if not is_plain_file_name(name):
        raise FieldError(f"{field}.file", "a file name in the export folder",
                       name)
    return name


def _count(config, field, key, allow_none=False):
    value = config.get(key, 0)
    if (value is None and allow_none) or (is_int(value) and value >= 0):
        return value
    raise FieldError(f"{field}.{key}", "a non-negative integer", value)


@dataclasses.dataclass
class StageSpec:
    """One stage: a backbone segment and the exit head after it.

    Attributes:
        file: The stage's `.tflite` file, relative to the export folder.
        input: `TensorSpec` of its input.
        exit: `TensorSpec` of its exit head's output.
        features: `TensorSpec` of the features it hands to the next stage
            (`None` for the last stage).
        bytes: Integer, the file's size (flash).
        arena_bytes: Integer, the TFLite Micro tensor arena it needs (RAM),
            or `None` when not measured.
    """

    file: str
    input: TensorSpec
    exit: TensorSpec
    features: TensorSpec = None
    bytes: int = 0
    arena_bytes: int = None

    TENSORS = ("input", "exit", "features")

    def to_json(self):
        return {
            "file": self.file,
            "input": self.input.to_json(),
            "exit": self.exit.to_json(),
            "features": None if self.features is None else self.features.to_json(),
            "bytes": self.bytes,
            "arena_bytes": self.arena_bytes,
        }

    @classmethod
    def from_json(cls, config, field="stage"):
        file = _file_field(config, field)
        tensors = {}
        for key in cls.TENSORS:
            value = config.get(key) if key == "features" else required(
                config, field, key)
            tensors[key] = None if value is None and key == "features" else (
                TensorSpec.from_json(value, f"{field}.{key}"))
        unknown = sorted(set(config) - {"file", "bytes", "arena_bytes",
                                        *cls.TENSORS})
        if unknown:
            raise FieldError(f"{field}.{unknown[0]}", "no such field",
                           config[unknown[0]])
        return cls(file=file, bytes=_count(config, field, "bytes"),
                   arena_bytes=_count(config, field, "arena_bytes", True),
                   **tensors)


@dataclasses.dataclass
class SingleFileSpec:
    """The one-file early exit (`early_exit.tflite`), for one sample.

    Attributes:
        file: Its file, relative to the export folder.
        image: `TensorSpec` of the input sample (batch 1).
        score_thresholds: `TensorSpec` of the float32 score thresholds, one
            per early exit (`ExitRule.float32_score_threshold`).
        exit_output: `TensorSpec` of the taken exit's class probabilities.
        exit_index: `TensorSpec` of the taken exit's index (int32).
        bytes: Integer, the file's size.
    """

    file: str
    image: TensorSpec
    score_thresholds: TensorSpec
    exit_output: TensorSpec
    exit_index: TensorSpec
    bytes: int = 0

    TENSORS = ("image", "score_thresholds", "exit_output", "exit_index")

    def to_json(self):
        config = {"file": self.file, "bytes": self.bytes}
        for key in self.TENSORS:
            config[key] = getattr(self, key).to_json()
        return config

    @classmethod
    def from_json(cls, config, field="single_file"):
        file = _file_field(config, field)
        tensors = {
            key: TensorSpec.from_json(required(config, field, key),
                                      f"{field}.{key}")
            for key in cls.TENSORS
        }
        return cls(file=file, bytes=_count(config, field, "bytes"), **tensors)


def interpreter_specs(interpreter):
    """`({name: TensorSpec} of the inputs, {name: TensorSpec} of the outputs)`
    of a LiteRT interpreter's default signature: what a converted file
    actually holds (the export records them; the runtime compares them with
    the manifest's)."""
    runner = interpreter.get_signature_runner()
    input_order = [d["index"] for d in interpreter.get_input_details()]
    output_order = [d["index"] for d in interpreter.get_output_details()]
    return (
        _specs(runner.get_input_details(), input_order),
        _specs(runner.get_output_details(), output_order),
    )


def _specs(details, order):
    specs = {}
    for name, d in details.items():
        scale, zero_point = d["quantization"]
        quantized = np.dtype(d["dtype"]) != np.float32 and scale != 0.0
        specs[name] = TensorSpec(
            name=name,
            shape=[int(v) for v in d["shape_signature"]],
            dtype=np.dtype(d["dtype"]).name,
            scale=float(scale) if quantized else None,
            zero_point=int(zero_point) if quantized else None,
            position=order.index(d["index"]),
        )
    return specs
