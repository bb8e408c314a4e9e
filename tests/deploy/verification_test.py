"""Tests of `keras_nachos.deploy.verification`: an export checked against its
manifest before it runs (swapped, truncated and edited files named)."""

import os
import re
import shutil
import warnings

import numpy as np
import pytest

from keras_nachos import deploy
from keras_nachos.deploy import ManifestError
from keras_nachos.deploy import UnverifiedExportWarning
from keras_nachos.deploy.manifest import Manifest
from keras_nachos.deploy.verification import verify_export
from tests.deploy.testing_utils import copy_export
from tests.deploy.testing_utils import edit_manifest
from tests.testing_utils import toy_data


def _set(path, value):
    """An edit setting `config[path[0]][path[1]]... = value`."""

    def edit(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def test_a_fresh_export_verifies(float_exports):
    _, manifest, folder = float_exports["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # No warning for a new export.
        runtime = deploy.load(folder)
    assert runtime.verified and manifest.verifiable
    assert verify_export(folder, Manifest.read(folder)) is True


@pytest.mark.parametrize("name", ["stage_1.tflite", "early_exit.tflite"])
def test_a_file_of_another_model_copied_in_is_named(float_exports, tmp_path,
                                                    name):
    # Same architecture, other weights: its tensors agree with the manifest,
    # only the SHA-256 tells the files apart.
    target = copy_export(float_exports["model"][2], tmp_path / "export")
    shutil.copyfile(os.path.join(float_exports["other"][2], name), target / name)
    with pytest.raises(ManifestError) as info:
        deploy.load(target)
    message = str(info.value)
    # Its size differs, or if not its SHA-256.
    assert re.search(rf"`files\['{name}'\].(bytes|sha256)`", message), message
    assert str(target / name) in message
    assert "another model's file" in message
    assert "export_early_exit(" in message


def test_a_truncated_file_is_named(float_exports, tmp_path):
    target = copy_export(float_exports["model"][2], tmp_path / "export")
    data = (target / "stage_2.tflite").read_bytes()
    (target / "stage_2.tflite").write_bytes(data[: len(data) // 2])
    with pytest.raises(ManifestError, match=r"`files\['stage_2.tflite'\].bytes`"
                       ".*truncated"):
        deploy.load(target)


def test_a_stage_file_in_another_stage_place_is_named(float_exports, tmp_path):
    # In a manifest without SHA-256 records, the tensors still tell.
    target = copy_export(float_exports["model"][2], tmp_path / "export")
    shutil.copyfile(target / "stage_1.tflite", target / "stage_2.tflite")
    edit_manifest(target, _old_format)
    with pytest.warns(UnverifiedExportWarning), pytest.raises(
            ManifestError, match=r"stage_2.tflite has the inputs \['image'\] "
            r"where .* names \['features_in'\] \(`stages\[1\]`\)"):
        deploy.load(target)


# (edit, what the error names): each field edited in manifest.json.
EDITS = [
    (_set(["num_classes"], 5),
     r"`num_classes` \(5\) and `confidence\[0\]` \(False\) disagree with "
     r"stage_1.tflite, whose exit gives 4 columns"),
    (_set(["stages", 0, "input", "dtype"], "int8"),
     r"stage_1.tflite disagree on the 'image' tensor's dtype "
     r"\(`stages\[0\].input.dtype`\): the manifest says 'int8', the file has "
     r"'float32'"),
    (_set(["stages", 1, "exit", "shape"], [-1, 3]),
     r"stage_2.tflite disagree on the 'exit' tensor's shape "
     r"\(`stages\[1\].exit.shape`\)"),
    (_set(["single_file", "exit_output", "dtype"], "uint8"),
     r"early_exit.tflite disagree on the 'exit_output' tensor's dtype "
     r"\(`single_file.exit_output.dtype`\)"),
    (_set(["stages", 2, "input", "scale"], 0.5),
     r"'stages\[2\].input.zero_point'"),  # A scale needs its zero point.
    (_set(["files", "stage_3.tflite", "sha256"], "0" * 64),
     r"`files\['stage_3.tflite'\].sha256`"),
    (_set(["exit_names"], ["a", "b", "c"]),
     r"`exit_names` no longer match the SHA-256 recorded in "
     r"`signature_sha256`"),
    (_set(["exit_costs", "backbone"], 1),
     r"`exit_costs` no longer match"),
    (_set(["rule", "class_name"], "Entropy"), r"`rule` no longer match"),
    (_set(["quantize"], "int8"),
     r"`quantize` \('int8'\) disagrees with stage_1.tflite, whose input is "
     r"float32"),
    (_set(["stages", 0, "input", "dtype"], "int9"),
     r"lacks or garbles 'stages\[0\].input.dtype' \(found 'int9'"),
    (_set(["num_classes"], 4.5), r"lacks or garbles 'num_classes'"),
    (_set(["stages", 0, "file"], "../stage_1.tflite"),
     r"lacks or garbles 'stages\[0\].file'"),
    (lambda config: config.pop("signature_sha256"),
     r"lacks or garbles 'signature_sha256' \(missing"),
]


def test_every_edited_field_is_named_with_what_to_do(float_exports, tmp_path):
    original = float_exports["model"][2]
    for i, (edit, message) in enumerate(EDITS):
        target = copy_export(original, tmp_path / f"export_{i}")
        edit_manifest(target, edit)
        with pytest.raises(ManifestError, match=message) as info:
            deploy.load(target)
        assert "export the model again" in str(info.value).lower()


def test_edited_thresholds_are_allowed_and_checked(float_exports, tmp_path):
    target = copy_export(float_exports["model"][2], tmp_path / "export")
    edit_manifest(target, _set(["thresholds"], [0.5, 0.6]))
    runtime = deploy.load(target)
    assert runtime.verified
    np.testing.assert_array_equal(runtime.thresholds, [0.5, 0.6])
    edit_manifest(target, _set(["thresholds"], [0.5, 2.0]))
    with pytest.raises(ManifestError, match=r"`thresholds` are not thresholds "
                       r"of its rule .*out of range: \[2.0\]"):
        deploy.load(target)


def _old_format(config):
    """A manifest as keras_nachos wrote them before the SHA-256 records."""
    for key in ("files", "signature_sha256", "confidence"):
        config.pop(key)


def test_an_old_manifest_loads_unverified_and_runs(float_exports, tmp_path):
    model, _, folder = float_exports["model"]
    target = copy_export(folder, tmp_path / "export")
    edit_manifest(target, _old_format)
    with pytest.warns(UnverifiedExportWarning, match="cannot be verified"):
        runtime = deploy.load(target)
    assert not runtime.verified and not runtime.manifest.verifiable
    x, _ = toy_data(16, seed=3)
    expected = model.predict_early_exit(x, [0.9, 0.9])
    result = runtime.predict_early_exit(x)
    np.testing.assert_array_equal(result.exit_indices, expected.exit_indices)
    np.testing.assert_array_equal(result.predictions, expected.predictions)
    # Its tensors are still checked.
    edit_manifest(target, _set(["stages", 0, "exit", "dtype"], "int8"))
    with pytest.warns(UnverifiedExportWarning), pytest.raises(
            ManifestError, match=r"`stages\[0\].exit.dtype`"):
        deploy.load(target)


def test_confidence_columns_are_counted(float_exports, tmp_path):
    # An exit with a confidence column has num_classes + 1 columns: a
    # manifest saying exit 1 has one (and the others not) is refused.
    target = copy_export(float_exports["model"][2], tmp_path / "export")
    edit_manifest(target, _set(["confidence"], [True, False, False]))
    with pytest.raises(ManifestError, match=r"`num_classes` \(4\) and "
                       r"`confidence\[0\]` \(True\) disagree with stage_1"):
        deploy.load(target)


def test_a_file_that_is_not_a_model_is_named(float_exports, tmp_path):
    target = copy_export(float_exports["model"][2], tmp_path / "export")
    (target / "stage_3.tflite").write_bytes(b"not a flatbuffer" * 10)
    edit_manifest(target, _old_format)
    with pytest.warns(UnverifiedExportWarning), pytest.raises(
            ManifestError, match=r"stage_3.tflite, named by .* is not a "
            r"LiteRT model"):
        deploy.load(target)
