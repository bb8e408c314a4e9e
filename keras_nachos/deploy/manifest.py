"""`manifest.json`: what an exported early-exit network is made of.

The manifest lists the stages in order (their `.tflite` files, input and
output tensor names, shapes, dtypes and quantisation parameters), the exit
rule with its thresholds, the model's input, the class count (and which
exits output a confidence column after the class probabilities), the MACs
of every exit in both conventions and the library version. A runtime needs
nothing else to run the early exit.

An export verifies itself: `files` records the size and SHA-256 of every
file written (each stage, `early_exit.tflite`, the C headers), and
`signature_sha256` the SHA-256 of each of its other fields but `thresholds`
(which may be edited, e.g. after a new calibration: the runtime checks them
as it checks its `thresholds` argument). `keras_nachos.deploy.load` checks both,
and the stage files' tensors against the manifest, before anything runs
(`keras_nachos.deploy.verification`). Manifests written before these
records existed still load, with an `UnverifiedExportWarning`.
"""

import dataclasses
import hashlib
import json
import os

from keras_nachos.deploy.specs import FieldError
from keras_nachos.deploy.specs import SingleFileSpec
from keras_nachos.deploy.specs import StageSpec
from keras_nachos.deploy.specs import TensorSpec  # noqa: F401 (its home before)
from keras_nachos.deploy.specs import is_int
from keras_nachos.deploy.specs import is_number
from keras_nachos.deploy.specs import is_plain_file_name
from keras_nachos.deploy.specs import required
from keras_nachos.errors import invalid_value

MANIFEST = "manifest.json"
FORMAT = "keras_nachos.early_exit/1"
# What to do about an export folder that cannot be used.
AGAIN = (
    "export the model again (`model.export_early_exit(directory, ...)`, "
    "`keras_nachos.deploy.export_quantization_aware` or `keras-nachos export "
    "... --format litert`)"
)
# The fields `signature_sha256` leaves out.
UNSIGNED = ("thresholds", "signature_sha256")
QUANTIZE_MODES = (None, "int8")


class ManifestError(ValueError):
    """An export folder whose manifest or stage files cannot be used."""


class UnverifiedExportWarning(UserWarning):
    """An export whose manifest predates the files' SHA-256 records: its
    files cannot be verified (only their tensors are checked)."""


def file_record(path):
    """`{"bytes": size, "sha256": hex digest}` of the file at `path`."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def signature_digests(config):
    """`{field: SHA-256 (hex)}` of each field of a manifest's JSON object
    but the `UNSIGNED` ones, each value in a canonical form (sorted keys, no
    spaces): a changed digest names the field that was edited."""
    # Through JSON first: what is hashed at writing is what is read back.
    signed = json.loads(json.dumps(
        {k: v for k, v in config.items() if k not in UNSIGNED}))
    return {
        key: hashlib.sha256(json.dumps(
            value, sort_keys=True, separators=(",", ":")).encode("utf-8")
        ).hexdigest()
        for key, value in sorted(signed.items())
    }


def _is_sha256(value):
    return isinstance(value, str) and len(value) == 64 and all(
        c in "0123456789abcdef" for c in value)


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
        confidence: List of booleans, one per exit: whether its output has
            a confidence column after the `num_classes` class probabilities
            (`None` in manifests that predate it).
        files: Dict from each file of the export (but the manifest) to
            `{"bytes": size, "sha256": hex digest}` (`None` in manifests
            that predate it; `record_files` fills it).
        signature_sha256: Dict from each field of the manifest but
            `UNSIGNED` to the SHA-256 of its value, as recorded in the
            manifest (`None` in manifests that predate it); `write` records
            fresh ones.
        content_sha256: For a manifest `read` from a file, the same digests
            of the fields as they are in the file now (`signature_digests`:
            a field edited since the export has another).
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
    confidence: list = None
    files: dict = None
    signature_sha256: dict = None
    content_sha256: dict = dataclasses.field(default=None, compare=False)

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

    @property
    def verifiable(self):
        """Whether the manifest records its files' SHA-256 and its own
        signature (manifests written before keras_nachos recorded them do
        not: their files cannot be verified)."""
        return self.files is not None and self.signature_sha256 is not None

    @property
    def model_files(self):
        """The `.tflite` files the runtime opens: the stages' and the one
        file early exit's."""
        files = [stage.file for stage in self.stages]
        if self.single_file is not None:
            files.append(self.single_file.file)
        return files

    def record_files(self, directory, names):
        """Records the size and SHA-256 of the files `names` (in
        `directory`) in `files`, keeping the records of other files."""
        files = dict(self.files or {})
        for name in names:
            files[name] = file_record(os.path.join(directory, name))
        self.files = files

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
        if self.confidence is not None:
            config["confidence"] = [bool(c) for c in self.confidence]
        if self.training is not None:
            config["training"] = self.training
        if self.single_file is not None:
            config["single_file"] = self.single_file.to_json()
        if self.files is not None:
            config["files"] = {name: dict(record) for name, record in
                               sorted(self.files.items())}
            config["signature_sha256"] = signature_digests(config)
        return config

    def write(self, directory):
        """Writes `directory/manifest.json` (whole or not at all: through a
        temporary file replacing it)."""
        config = self.to_json()
        self.signature_sha256 = config.get("signature_sha256")
        self.content_sha256 = self.signature_sha256
        path = os.path.join(directory, MANIFEST)
        partial = path + ".partial"
        try:
            with open(partial, "w") as f:
                json.dump(config, f, indent=2)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    @classmethod
    def read(cls, directory):
        """Reads and checks `directory/manifest.json`: every field's kind,
        the counts of stages, exits and thresholds, and that every file it
        names exists. (`keras_nachos.deploy.verification.verify_export`
        checks the files' contents.)"""
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
                f"{AGAIN}."
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise ManifestError(
                f"{path} cannot be read ({error}): {AGAIN}."
            ) from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ManifestError(
                f"{path} is not a keras_nachos early-exit manifest (format "
                f"{config.get('format') if isinstance(config, dict) else None!r}, "
                f"expected {FORMAT!r}): {AGAIN}."
            )
        try:
            manifest = cls._from_json(config)
        except FieldError as error:
            raise ManifestError(
                f"{path} lacks or garbles {error}: {AGAIN}."
            ) from None
        manifest.content_sha256 = signature_digests(config)
        if len(manifest.stages) != len(manifest.exit_names) or len(
            manifest.thresholds
        ) != len(manifest.stages) - 1:
            raise ManifestError(
                f"{path} has {len(manifest.stages)} stages, "
                f"{len(manifest.exit_names)} exits and "
                f"{len(manifest.thresholds)} thresholds: {AGAIN}."
            )
        if manifest.confidence is not None and len(manifest.confidence) != len(
                manifest.stages):
            raise ManifestError(
                f"{path} has {len(manifest.stages)} stages and "
                f"{len(manifest.confidence)} `confidence` entries: "
                f"{AGAIN}."
            )
        for name in manifest.model_files + sorted(manifest.files or {}):
            file = os.path.join(directory, name)
            if not os.path.isfile(file):
                raise ManifestError(
                    f"The file {file} named by {path} is missing: copy the "
                    f"whole export folder, or {AGAIN}."
                )
        return manifest

    @classmethod
    def _from_json(cls, config):
        """The manifest of a JSON object, each field checked (`FieldError`)."""
        stages = required(config, "", "stages")
        if not isinstance(stages, list) or not stages:
            raise FieldError("stages", "a non-empty list of stages", stages)
        num_classes = required(config, "", "num_classes")
        if not is_int(num_classes) or num_classes < 1:
            raise FieldError("num_classes", "a positive integer", num_classes)
        thresholds = required(config, "", "thresholds")
        if not isinstance(thresholds, list) or not all(
                is_number(t) for t in thresholds):
            raise FieldError("thresholds", "a list of numbers", thresholds)
        exit_names = required(config, "", "exit_names")
        if not isinstance(exit_names, list) or not all(
                isinstance(n, str) for n in exit_names):
            raise FieldError("exit_names", "a list of names", exit_names)
        for key, kinds, expected in (
            ("rule", (dict, str), "a serialized exit rule"),
            ("exit_costs", (dict,), "the model's ExitCosts"),
        ):
            if not isinstance(required(config, "", key), kinds):
                raise FieldError(key, expected, config[key])
        if config.get("quantize") not in QUANTIZE_MODES:
            raise FieldError("quantize", 'null or "int8"', config["quantize"])
        confidence = config.get("confidence")
        if confidence is not None and not (isinstance(confidence, list) and all(
                isinstance(c, bool) for c in confidence)):
            raise FieldError("confidence", "a list of booleans, one per exit",
                             confidence)
        files = config.get("files")
        if files is not None:
            _check_files_field(files)
        digest = config.get("signature_sha256")
        if digest is not None and not (isinstance(digest, dict) and all(
                isinstance(k, str) and _is_sha256(v) for k, v in digest.items())):
            raise FieldError("signature_sha256", "an object from field names "
                             "to SHA-256 (64 hex digits)", digest)
        if (files is None) != (digest is None):
            missing = "files" if files is None else "signature_sha256"
            raise FieldError(missing, "a value (the manifest records the "
                             "other of `files` and `signature_sha256`)",
                             missing=True)
        training = config.get("training")
        if training is not None and not isinstance(training, dict):
            raise FieldError("training", "null or an object", training)
        single = config.get("single_file")
        return cls(
            stages=[StageSpec.from_json(s, f"stages[{i}]")
                    for i, s in enumerate(stages)],
            rule=config["rule"],
            thresholds=list(thresholds),
            num_classes=int(num_classes),
            exit_names=list(exit_names),
            exit_costs=dict(config["exit_costs"]),
            quantize=config.get("quantize"),
            version=config.get("version"),
            training=training,
            single_file=None if single is None
            else SingleFileSpec.from_json(single),
            confidence=confidence,
            files=None if files is None else {
                name: dict(record) for name, record in files.items()},
            signature_sha256=None if digest is None else dict(digest),
        )


def _check_files_field(files):
    if not isinstance(files, dict):
        raise FieldError("files", "an object from file names to records", files)
    for name, record in files.items():
        if not is_plain_file_name(name) or name == MANIFEST:
            raise FieldError("files", "file names in the export folder", name)
        if not (isinstance(record, dict) and set(record) == {"bytes", "sha256"}
                and is_int(record["bytes"]) and record["bytes"] >= 0
                and _is_sha256(record["sha256"])):
            raise FieldError(f"files[{name!r}]", '{"bytes": size, "sha256": '
                             "64 hex digits}", record)
