"""Tests of `keras_nachos.deploy.qat.worker_process`: the worker runs this
keras_nachos in a process of its own, and a missing tfmot is named."""

import importlib.util
import os

import pytest

import keras_nachos
from keras_nachos import EarlyExitModel
from keras_nachos import deploy
from keras_nachos.deploy.qat import worker_process
from tests.deploy.qat.testing_utils import requires_tfmot
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


@requires_tfmot
def test_worker_ignores_another_keras_nachos_beside_the_caller(rebuild_run):
    # The rebuild check ran from a folder holding a decoy `keras_nachos`
    # (`rebuild_run`): the worker imported this one, and its rebuild of the
    # untrained model gives that model's outputs.
    _, _, diffs = rebuild_run
    assert max(diffs[-1]) < 1e-5


def test_worker_environment_puts_this_keras_nachos_first(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    env = worker_process.worker_environment()
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_nachos.__file__)))
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/elsewhere"]
    assert env["KERAS_BACKEND"] == "tensorflow"


def test_missing_tfmot_raises_an_import_error_naming_the_extra(tmp_path,
                                                               monkeypatch):
    x, y = toy_data(16)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        worker_process.importlib.util, "find_spec",
        lambda name, *a: None if name == "tensorflow_model_optimization"
        else find_spec(name, *a),
    )
    with pytest.raises(ImportError, match=r'pip install "keras-nachos\[tfmot\]"'):
        deploy.export_quantization_aware(model, tmp_path, [0.9, 0.9], x, y)
    with pytest.raises(ImportError, match="tensorflow_model_optimization not"):
        deploy.check_tfmot_installed()
