"""Checking an export folder against its manifest, before anything runs.

`verify_export` is what `keras_nachos.deploy.load` (and `prepare_for_micro`)
does once after reading `manifest.json`:

1. every file the manifest records (`files`) has its recorded size and
   SHA-256, and every stage file is recorded: a truncated file, a stage file
   or `early_exit.tflite` of another model copied in, are named;
2. every stage file's tensors (as a LiteRT interpreter reads them: names,
   shapes, dtypes, quantisation, positions) are the manifest's;
3. `num_classes` (with `confidence`) gives each exit's column count, and
   `quantize` the stages' input dtype;
4. no signed field of the manifest was edited (`signature_sha256`: all but
   `thresholds`).

Each disagreement is a `ManifestError` naming the file and the field, with
what to do. A manifest written before the SHA-256 records existed gets
checks 2 and 3 and an `UnverifiedExportWarning`.
"""

import math
import os
import warnings

from keras_nachos.deploy.manifest import AGAIN
from keras_nachos.deploy.manifest import MANIFEST
from keras_nachos.deploy.manifest import ManifestError
from keras_nachos.deploy.manifest import UnverifiedExportWarning
from keras_nachos.deploy.manifest import file_record
from keras_nachos.deploy.specs import interpreter_specs

COPY_AGAIN = f"copy the whole export folder again, or {AGAIN}"


def verify_export(directory, manifest):
    """Checks the files of the export in `directory` against its manifest.

    Args:
        directory: The export folder.
        manifest: Its `Manifest` (`Manifest.read(directory)`).

    Returns:
        `True` when the files and the manifest were verified against their
        SHA-256 records, `False` for a manifest without them (after an
        `UnverifiedExportWarning`).

    Raises:
        ManifestError: Naming the file and the field that disagree.
    """
    path = os.path.join(directory, MANIFEST)
    if not manifest.verifiable:
        warnings.warn(
            f"{path} (keras_nachos {manifest.version}) predates the SHA-256 "
            "records of exports: its files cannot be verified (only their "
            "tensors are checked). "
            f"To get an export that verifies itself, {AGAIN}.",
            UnverifiedExportWarning, stacklevel=3,
        )
    if manifest.files is not None:
        _check_files(directory, manifest, path)
    for i, stage in enumerate(manifest.stages):
        expected = {"input": [stage.input],
                    "output": [stage.exit] + ([stage.features]
                                              if stage.features else [])}
        _check_tensors(directory, stage.file, f"stages[{i}]", expected, path)
    single = manifest.single_file
    if single is not None:
        expected = {"input": [single.image, single.score_thresholds],
                    "output": [single.exit_output, single.exit_index]}
        _check_tensors(directory, single.file, "single_file", expected, path)
    _check_classes(manifest, path)
    _check_quantize(manifest, path)
    if manifest.verifiable:
        _check_signature(manifest, path)
        return True
    return False


def _check_files(directory, manifest, path):
    for name in manifest.model_files:
        if name not in manifest.files:
            raise ManifestError(
                f"{path} records no size and SHA-256 of {name} (`files` "
                f"lacks it), so it cannot be verified: {AGAIN}."
            )
    for name, record in sorted(manifest.files.items()):
        file = os.path.join(directory, name)
        actual = file_record(file)
        if actual["bytes"] != record["bytes"]:
            raise ManifestError(
                f"{file} has {actual['bytes']:,} bytes where {path} records "
                f"{record['bytes']:,} (`files['{name}'].bytes`): it is "
                "truncated, or another model's file was copied in. "
                f"{_capital(COPY_AGAIN)}."
            )
        if actual["sha256"] != record["sha256"]:
            raise ManifestError(
                f"{file} is not the file this export wrote: its SHA-256 is "
                f"{actual['sha256'][:16]}..., {path} records "
                f"{record['sha256'][:16]}... (`files['{name}'].sha256`); "
                "another model's file was copied in, or it was changed. "
                f"{_capital(COPY_AGAIN)}."
            )


def _capital(text):
    return text[0].upper() + text[1:]


def _open_specs(directory, name, path):
    """`(inputs, outputs)` `TensorSpec` dicts of the file `name`."""
    from keras_nachos.deploy.interpreters import make_interpreter

    file = os.path.join(directory, name)
    try:
        return interpreter_specs(make_interpreter(model_path=file))
    except (ValueError, RuntimeError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ManifestError(
            f"{file}, named by {path}, is not a LiteRT model with a signature "
            f"({reason}): {COPY_AGAIN}."
        ) from None


def _check_tensors(directory, name, field, expected, path):
    """Compares the manifest's `TensorSpec`s of file `name` (`expected`:
    `{"input": [...], "output": [...]}`) with the file's own."""
    inputs, outputs = _open_specs(directory, name, path)
    file = os.path.join(directory, name)
    for kind, actual in (("input", inputs), ("output", outputs)):
        names = sorted(spec.name for spec in expected[kind])
        if sorted(actual) != names:
            raise ManifestError(
                f"{file} has the {kind}s {sorted(actual)} where {path} names "
                f"{names} (`{field}`): it is another stage's or another "
                f"model's file. {_capital(COPY_AGAIN)}."
            )
    specs = {**inputs, **outputs}
    for spec in expected["input"] + expected["output"]:
        actual = specs[spec.name]
        for key in ("shape", "dtype", "scale", "zero_point", "position"):
            ours, theirs = getattr(spec, key), getattr(actual, key)
            if not _same(ours, theirs):
                raise ManifestError(
                    f"{path} and {name} disagree on the {spec.name!r} "
                    f"tensor's {key} (`{field}.{_tensor_field(field, spec)}."
                    f"{key}`): the manifest says {ours!r}, the file has "
                    f"{theirs!r}. The manifest was edited or the file "
                    f"replaced: {COPY_AGAIN}."
                )


def _tensor_field(field, spec):
    """The manifest key of a tensor (`input`, `exit`, `features`, `image`,
    ...): a stage's input is `input`, its outputs are keyed by name."""
    if field.startswith("stages") and spec.name in ("image", "features_in"):
        return "input"
    return spec.name


def _same(ours, theirs):
    if isinstance(ours, float) and isinstance(theirs, float):
        return math.isclose(ours, theirs, rel_tol=1e-6)
    return ours == theirs


def _check_classes(manifest, path):
    """Each exit's columns are `num_classes` (plus one with a confidence)."""
    k = manifest.num_classes
    for i, stage in enumerate(manifest.stages):
        width = stage.exit.shape[-1] if stage.exit.shape else None
        if manifest.confidence is None:  # An older manifest: either.
            ok, said = width in (k, k + 1), f"`num_classes` ({k})"
        else:
            extra = int(manifest.confidence[i])
            ok = width == k + extra
            said = (f"`num_classes` ({k}) and `confidence[{i}]` "
                    f"({manifest.confidence[i]})")
        if not ok:
            raise ManifestError(
                f"{path}'s {said} disagree with {stage.file}, whose exit "
                f"gives {width} columns: the manifest was edited or belongs "
                f"to another model. {_capital(AGAIN)}."
            )
    single = manifest.single_file
    if single is not None and single.exit_output.shape[-1:] != [k]:
        raise ManifestError(
            f"{path}'s `num_classes` ({k}) disagrees with {single.file}, "
            f"whose `exit_output` gives {single.exit_output.shape[-1]} "
            f"classes. {_capital(AGAIN)}."
        )


def _check_quantize(manifest, path):
    """`quantize` is the stages' input dtype (float32 or int8)."""
    dtype = "int8" if manifest.quantize == "int8" else "float32"
    for stage in manifest.stages:
        if stage.input.dtype != dtype:
            raise ManifestError(
                f"{path}'s `quantize` ({manifest.quantize!r}) disagrees with "
                f"{stage.file}, whose input is {stage.input.dtype}. "
                f"{_capital(AGAIN)}."
            )


def _check_signature(manifest, path):
    """No signed field was edited since the export."""
    recorded, now = manifest.signature_sha256, manifest.content_sha256
    changed = sorted(k for k in set(recorded) | set(now)
                     if recorded.get(k) != now.get(k))
    if changed:
        fields = ", ".join(f"`{k}`" for k in changed)
        raise ManifestError(
            f"{path} was edited after the export: {fields} no longer "
            "match the SHA-256 recorded in `signature_sha256` (only "
            "`thresholds` may be edited). The runtime would run the files "
            f"with wrong settings: {AGAIN}."
        )
