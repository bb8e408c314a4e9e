"""Tests of `keras_nachos.deploy.manifest` and the export's door checks."""

import hashlib
import json
import os

import numpy as np
import pytest

from keras_nachos import deploy
from keras_nachos.deploy import ManifestError
from keras_nachos.deploy.manifest import signature_digests
from tests.testing_utils import toy_data


@pytest.fixture
def exported(float_exports):
    """`(model, manifest, folder)` of `small_cnn(seed=2)` exported in float
    (the session's export: tests change copies only)."""
    return float_exports["model"]


def _copy(directory, tmp_path):
    target = tmp_path / "copy"
    target.mkdir()
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            (target / name).write_bytes(f.read())
    return target


def test_manifest_round_trip_and_contents(exported):
    model, manifest, directory = exported
    reread = deploy.Manifest.read(directory)
    assert reread.to_json() == manifest.to_json()
    config = json.load(open(os.path.join(directory, "manifest.json")))
    assert config["input"] == {"name": "image", "shape": [-1, 16, 16, 1],
                               "dtype": "float32", "scale": None,
                               "zero_point": None, "position": 0}
    assert config["exit_costs"]["cumulative"] == list(model.exit_costs.cumulative)
    assert config["exit_costs"]["taken_head"] == list(model.exit_costs.taken_head)
    assert config["thresholds"] == [0.9, 0.9]
    assert config["num_classes"] == 4 and len(config["stages"]) == 3
    assert config["rule"]["class_name"] == "MaxProbability"
    assert [s["file"] for s in config["stages"]] == [
        "stage_1.tflite", "stage_2.tflite", "stage_3.tflite"]
    assert config["stages"][-1]["features"] is None
    assert config["flash_bytes"] == sum(
        os.path.getsize(os.path.join(directory, s["file"])) for s in config["stages"])
    single = config["single_file"]
    assert single["file"] == "early_exit.tflite"
    assert single["image"]["shape"] == [1, 16, 16, 1]
    assert single["score_thresholds"]["shape"] == [2]
    assert single["exit_output"]["shape"] == [1, 4]
    assert single["bytes"] == os.path.getsize(os.path.join(directory, single["file"]))


def test_files_and_signature_are_recorded(exported):
    directory = exported[2]
    config = json.load(open(os.path.join(directory, "manifest.json")))
    names = ["early_exit.tflite", "stage_1.tflite", "stage_2.tflite",
             "stage_3.tflite"]
    assert sorted(config["files"]) == names
    for name in names:
        data = open(os.path.join(directory, name), "rb").read()
        assert config["files"][name] == {
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert config["confidence"] == [False, False, False]
    # One SHA-256 per field but the thresholds (and itself).
    assert sorted(config["signature_sha256"]) == sorted(
        set(config) - {"thresholds", "signature_sha256"})
    assert config["signature_sha256"] == signature_digests(config)
    assert config["signature_sha256"]["num_classes"] == hashlib.sha256(
        b"4").hexdigest()
    reread = deploy.Manifest.read(directory)
    assert reread.verifiable and reread.content_sha256 == reread.signature_sha256
    assert not [n for n in os.listdir(directory) if n.endswith(".partial")]


def test_missing_stage_file_is_named(exported, tmp_path):
    target = _copy(exported[2], tmp_path)
    os.remove(target / "stage_2.tflite")
    with pytest.raises(ManifestError, match="stage_2.tflite.*is missing"):
        deploy.load(target)


def test_missing_single_file_is_named(exported, tmp_path):
    target = _copy(exported[2], tmp_path)
    os.remove(target / "early_exit.tflite")
    with pytest.raises(ManifestError, match="early_exit.tflite.*is missing"):
        deploy.load(target)


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: json.dumps(dict(json.loads(text), format="other/1")),
     "not a keras_nachos early-exit manifest"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items()
                              if k != "stages"}), "lacks or garbles 'stages'"),
    (lambda text: json.dumps(dict(json.loads(text), thresholds=[0.5])),
     "3 stages, 3 exits and 1 thresholds"),
])
def test_damaged_manifest_says_what_to_do(exported, tmp_path, damage, message):
    target = _copy(exported[2], tmp_path)
    path = target / "manifest.json"
    path.write_text(damage(path.read_text()))
    with pytest.raises(ManifestError, match=message) as info:
        deploy.load(target)
    assert "export the model again" in str(info.value)


def test_folder_without_manifest(tmp_path):
    with pytest.raises(ManifestError, match="has no manifest.json"):
        deploy.load(tmp_path)
    with pytest.raises(ValueError, match="`directory`"):
        deploy.load(tmp_path / "nowhere")


def test_export_checks_arguments_before_writing(exported, tmp_path):
    model = exported[0]
    target = tmp_path / "out"
    with pytest.raises(ValueError, match="`quantize`.*Received: quantize='int4'"):
        model.export_early_exit(target, [0.9, 0.9], quantize="int4")
    with pytest.raises(ValueError, match="`representative_data`"):
        model.export_early_exit(target, [0.9, 0.9], quantize="int8")
    with pytest.raises(ValueError, match="`representative_data`"):
        model.export_early_exit(target, [0.9, 0.9], quantize="int8",
                                representative_data=np.zeros((4, 8, 8, 1)))
    with pytest.raises(ValueError, match="threshold"):
        model.export_early_exit(target, [0.9])
    assert not target.exists()


def test_runtime_checks_inputs(exported):
    runtime = deploy.load(exported[2])
    with pytest.raises(ValueError, match="batch_size"):
        runtime.predict_early_exit(np.zeros((2, 16, 16, 1)), batch_size=0)
    with pytest.raises(ValueError):
        runtime.predict_early_exit(np.zeros((2, 8, 8, 1)))
    x, _ = toy_data(8, seed=5)
    assert runtime.predict_early_exit(x).exit_indices.shape == (8,)
