"""`manifest.json`: what an exported early-exit network is made of.

The manifest lists the stages in order (their `.tflite` files, input and
output tensor names, shapes, dtypes and quantisation parameters), the exit
rule with its thresholds, the model's input, the class count, the MACs of
every exit in both conventions and the library version. A runtime needs
nothing else to run the early exit.
"""

import dataclasses
import json
import os

from keras_nachos.errors import invalid_value

MANIFEST = "manifest.json"
FORMAT = "keras_nachos.early_exit/1"


class ManifestError(ValueError):
    """An export folder whose manifest or stage files cannot be used."""


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

    @property
    def quantized(self):
        return self.scale is not None

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, config):
        return cls(**config)


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
    def from_json(cls, config):
        config = dict(config)
        for key in ("input", "exit", "features"):
            if config.get(key) is not None:
                config[key] = TensorSpec.from_json(config[key])
        return cls(**config)


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
    def from_json(cls, config):
        config = dict(config)
        for key in cls.TENSORS:
            config[key] = TensorSpec.from_json(config[key])
        return cls(**config)


@dataclasses.dataclass
class Manifest:
    """Everything a runtime needs to run an exported early exit.

    Attributes:
        stages: List of `StageSpec`, in order.
        rule: The exit rule, serialized (`keras.saving.serialize_keras_object`).
        thresholds: List of floats, one per early exit.
        num_classes: Integer.
        exit_names: List of exit names.
        exit_costs: `ExitCosts.to_dict()` of the model: MACs of every exit in
            both conventions and of the backbone.
        quantize: `None` (float) or `"int8"`.
        version: The keras_nachos version that wrote it.
        format: The manifest format.
        training: `None`, or a dict of how the exported weights were
            fine-tuned for the export (quantisation-aware training:
            `{"qat_epochs": ..., "sparsity": ..., ...}`).
        single_file: `SingleFileSpec` of `early_exit.tflite`, or `None`
            when the export has none.
    """

    stages: list
    rule: dict
    thresholds: list
    num_classes: int
    exit_names: list
    exit_costs: dict
    quantize: str = None
    version: str = None
    format: str = FORMAT
    training: dict = None
    single_file: SingleFileSpec = None

    @property
    def input(self):
        return self.stages[0].input

    @property
    def flash_bytes(self):
        """Integer, the bytes of all stage files (what firmware stores)."""
        return sum(s.bytes for s in self.stages)

    @property
    def peak_arena_bytes(self):
        """Integer, the largest stage arena, or `None` when the arenas were
        not measured. The stages run one after the other, so firmware can
        give them one arena of this size, copying each stage's features out
        of it (the `features` tensor's bytes) before the next stage starts."""
        arenas = [s.arena_bytes for s in self.stages]
        return None if None in arenas else max(arenas)

    def to_json(self):
        config = {
            "format": self.format,
            "version": self.version,
            "quantize": self.quantize,
            "num_classes": self.num_classes,
            "exit_names": list(self.exit_names),
            "rule": self.rule,
            "thresholds": [float(t) for t in self.thresholds],
            "input": self.input.to_json(),
            "exit_costs": self.exit_costs,
            "flash_bytes": self.flash_bytes,
            "peak_arena_bytes": self.peak_arena_bytes,
            "stages": [s.to_json() for s in self.stages],
        }
        if self.training is not None:
            config["training"] = self.training
        if self.single_file is not None:
            config["single_file"] = self.single_file.to_json()
        return config

    def write(self, directory):
        with open(os.path.join(directory, MANIFEST), "w") as f:
            json.dump(self.to_json(), f, indent=2)

    @classmethod
    def read(cls, directory):
        """Reads and checks `directory/manifest.json` and its stage files."""
        if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(
            directory
        ):
            raise invalid_value(
                "directory", "an export folder (written by export_early_exit)",
                directory,
            )
        path = os.path.join(directory, MANIFEST)
        if not os.path.exists(path):
            raise ManifestError(
                f"{directory} is not an early-exit export: it has no {MANIFEST} "
                "(write one with `model.export_early_exit(directory, ...)`)."
            )
        try:
            with open(path) as f:
                config = json.load(f)
        except json.JSONDecodeError as error:
            raise ManifestError(
                f"{path} is not valid JSON ({error.msg} at line {error.lineno}): "
                "export the model again."
            ) from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ManifestError(
                f"{path} is not a keras_nachos early-exit manifest (format "
                f"{config.get('format') if isinstance(config, dict) else None!r}, "
                f"expected {FORMAT!r}): export the model again."
            )
        try:
            manifest = cls(
                stages=[StageSpec.from_json(s) for s in config["stages"]],
                rule=config["rule"],
                thresholds=list(config["thresholds"]),
                num_classes=int(config["num_classes"]),
                exit_names=list(config["exit_names"]),
                exit_costs=dict(config["exit_costs"]),
                quantize=config.get("quantize"),
                version=config.get("version"),
                training=config.get("training"),
                single_file=None if config.get("single_file") is None
                else SingleFileSpec.from_json(config["single_file"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ManifestError(
                f"{path} lacks or garbles {error}: export the model again."
            ) from None
        if len(manifest.stages) != len(manifest.exit_names) or len(
            manifest.thresholds
        ) != len(manifest.stages) - 1:
            raise ManifestError(
                f"{path} has {len(manifest.stages)} stages, "
                f"{len(manifest.exit_names)} exits and "
                f"{len(manifest.thresholds)} thresholds: export the model again."
            )
        files = [stage.file for stage in manifest.stages]
        if manifest.single_file is not None:
            files.append(manifest.single_file.file)
        for name in files:
            file = os.path.join(directory, name)
            if not os.path.exists(file):
                raise ManifestError(
                    f"The file {file} named by {path} is missing: copy the "
                    "whole export folder, or export the model again."
                )
        return manifest
