"""Search folders and exports shared by the command tests: each is made
once per session, and the tests that change a folder work on a copy."""

import json
import os
import shutil

import pytest

from tests.cli.testing_utils import TINY
from tests.cli.testing_utils import main_output

# The finished search of `finished_search`: `TINY`, with its progress lines
# (one epoch per candidate: the tests need a front, not a good one).
SEARCH = TINY[: TINY.index("--verbose")]


@pytest.fixture(scope="session")
def finished_search(tmp_path_factory):
    """`keras-nachos search` on digits, finished: `(folder, printed)`.
    Tests only read the folder (`copy_of` it to change it)."""
    out = str(tmp_path_factory.mktemp("finished") / "run")
    code, printed, err = main_output(["search", *SEARCH, "--out", out])
    assert code == 0, err
    return out, printed


@pytest.fixture
def copy_of(tmp_path):
    """`copy_of(folder)`: a copy of a shared folder, to change."""

    def copy(folder):
        target = str(tmp_path / os.path.basename(folder))
        shutil.copytree(folder, target)
        return target

    return copy


@pytest.fixture(scope="session")
def saved_eenn(tmp_path_factory):
    """A small EENN trained on digits (16x16), saved as .keras with the
    .json `keras-nachos export` writes beside it."""
    # Imported here, not when pytest loads this file: TensorFlow's start-up
    # lines would escape pytest's capture.
    from keras_nachos import EarlyExitModel
    from keras_nachos import datasets
    from tests.testing_utils import small_cnn

    splits = datasets.load("digits", image_size=(16, 16), seed=0)
    model = EarlyExitModel.from_backbone(
        small_cnn(num_classes=10, seed=1), ["p1", "p2"], 10)
    model.compile("adam", metrics=["accuracy"])
    model.fit(*splits.train, epochs=4, batch_size=64, verbose=0)
    folder = tmp_path_factory.mktemp("saved")
    path = str(folder / "eenn.keras")
    model.save(path)
    with open(str(folder / "eenn.json"), "w") as f:
        json.dump({"thresholds": [0.9, 0.9], "rule": "max_probability"}, f)
    return model, path, splits


@pytest.fixture(scope="session")
def int8_export(saved_eenn, tmp_path_factory):
    """`keras-nachos export SAVED --format litert --int8 --micro`:
    `(folder, printed)`."""
    _, path, _ = saved_eenn
    out = str(tmp_path_factory.mktemp("device") / "device")
    code, printed, err = main_output([
        "export", path, "--format", "litert", "--int8", "--micro",
        "--dataset", "digits", "--output", out])
    assert code == 0, err
    return out, printed
