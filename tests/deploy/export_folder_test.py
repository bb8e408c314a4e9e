"""Tests of `keras_nachos.deploy.export_folder`: an export folder written
whole or not at all."""

import json
import os

import pytest

from keras_nachos.deploy import export_folder
from keras_nachos.deploy.export_folder import check_export_target
from keras_nachos.deploy.export_folder import staged_export


def _write(folder, files):
    for name, text in files.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


def _read(folder):
    return {name: open(os.path.join(folder, name)).read()
            for name in sorted(os.listdir(folder))}


def _manifest(stages, single=False, files=None):
    config = {"stages": [{"file": f"stage_{n}.tflite"} for n in
                         range(1, stages + 1)]}
    if single:
        config["single_file"] = {"file": "early_exit.tflite"}
    if files is not None:
        config["files"] = {name: {} for name in files}
    return json.dumps(config)


def test_a_new_folder_appears_whole(tmp_path):
    target = tmp_path / "a" / "b" / "export"
    with staged_export(target) as folder:
        _write(folder, {"stage_1.tflite": "1", "manifest.json": "{}"})
        assert not target.exists()  # Nothing there until it is complete.
        assert os.path.dirname(folder) == str(tmp_path)
        assert os.path.basename(folder).startswith(".export.")
    assert _read(target) == {"manifest.json": "{}", "stage_1.tflite": "1"}
    assert os.listdir(tmp_path) == ["a"]


def test_an_earlier_export_is_replaced_and_other_files_kept(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    _write(target, {
        "manifest.json": _manifest(3, single=True, files=["stage_3.h"]),
        "stage_1.tflite": "old 1", "stage_2.tflite": "old 2",
        "stage_3.tflite": "old 3", "early_exit.tflite": "old",
        "stage_1.h": "old header", "stage_3.h": "old header",
        "notes.txt": "the user's",
    })
    with staged_export(target) as folder:
        assert os.path.dirname(folder) == str(target)
        _write(folder, {"manifest.json": _manifest(2), "stage_1.tflite": "new 1",
                        "stage_2.tflite": "new 2"})
    assert _read(target) == {
        "manifest.json": _manifest(2), "notes.txt": "the user's",
        "stage_1.tflite": "new 1", "stage_2.tflite": "new 2",
    }


@pytest.mark.parametrize("failure", [KeyboardInterrupt, ValueError, OSError])
def test_a_failure_leaves_the_target_as_it_was(tmp_path, failure):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    _write(earlier, {"manifest.json": _manifest(1), "stage_1.tflite": "old"})
    for target in (tmp_path / "new", earlier):
        with pytest.raises(failure), staged_export(target) as folder:
            _write(folder, {"stage_1.tflite": "half"})
            raise failure("stopped")
    assert _read(earlier) == {"manifest.json": _manifest(1),
                              "stage_1.tflite": "old"}
    assert os.listdir(tmp_path) == ["earlier"]


def test_the_target_is_checked(tmp_path, monkeypatch):
    file = tmp_path / "file.txt"
    file.write_text("x")
    for target, message in (
        ("", "a folder path"), (None, "a folder path"), (3, "a folder path"),
        (file, "it names an existing file"),
        (file / "sub" / "dir", f"it is under {file}, which is an existing file"),
    ):
        with pytest.raises(ValueError, match=f"argument `directory`. Expected "
                           f".*{message}"):
            check_export_target(target)
    assert check_export_target(tmp_path / "new") == str(tmp_path / "new")
    # A read-only folder (as `os.access` reports it: a read-only mount, or
    # permissions for anyone but root).
    real_access = os.access
    monkeypatch.setattr(export_folder.os, "access", lambda path, mode: (
        path != str(tmp_path) and real_access(path, mode)))
    for target in (tmp_path, tmp_path / "new"):
        with pytest.raises(ValueError, match=f"{tmp_path} is read-only"):
            check_export_target(target)
    assert os.listdir(tmp_path) == ["file.txt"]


def test_export_files_are_those_the_manifest_names(tmp_path):
    _write(tmp_path, {"manifest.json": _manifest(
        2, single=True, files=["stage_9.h", "../escape", "manifest.json"])})
    assert export_folder.export_files(tmp_path) == {
        "stage_1.tflite", "stage_2.tflite", "stage_1.h", "stage_2.h",
        "stage_9.h", "early_exit.tflite"}
    _write(tmp_path, {"manifest.json": "{"})
    assert export_folder.export_files(tmp_path) == set()
