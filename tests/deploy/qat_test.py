"""Tests of `keras_nachos.deploy.qat`: QAT (and pruning) before the export.

The tfmot work runs in a worker process; these tests run it a few times on
tiny models (`small_cnn`, `toy_data`). They are skipped when tfmot or
tf_keras is not installed (`pip install "keras-nachos[tfmot]"`), looked up
without importing them: importing tfmot here would switch this process to
tf_keras.
"""

import importlib.util
import os
import sys

import keras
import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos import deploy
from keras_nachos.deploy import qat
from keras_nachos.deploy.interpreters import make_interpreter
from tests.deploy.runtime_test import midpoints
from tests.deploy.runtime_test import thresholds_between_samples
from tests.testing_utils import assert_invalid
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data

requires_tfmot = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in qat.REQUIREMENTS),
    reason='needs pip install "keras-nachos[tfmot]"',
)
LEGACY = "TF_USE_LEGACY_KERAS"


def make_model(head="global_pool", epochs=5, learning_rate=1e-2, n=256):
    x, y = toy_data(n, seed=1)
    model = EarlyExitModel.from_backbone(
        small_cnn(seed=2), ["p1", "p2"], 4, head=head
    )
    model.compile(keras.optimizers.Adam(learning_rate))
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    if head == "class_means":
        model.fit_class_means(x, y)
    return model, x, y


def stage_tensors(path):
    """`(tensor dtypes, {weight tensor name: fraction of zeros})` of a
    `.tflite` stage."""
    interpreter = make_interpreter(model_path=str(path))
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    dtypes = {np.dtype(t["dtype"]).name for t in details.values()}
    zeros = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED"):
            index = op["inputs"][1]
            zeros[details[index]["name"]] = float(
                np.mean(interpreter.get_tensor(index) == 0)
            )
    return dtypes, zeros


@requires_tfmot
def test_tf_keras_rebuild_gives_the_keras_outputs_for_every_head():
    x, y = toy_data(64, seed=4)
    models = []
    for kwargs in (
        {"head": "global_pool"},
        {"head": "global_pool", "confidence": True},
        {"head": "sdn"},
        {"head": "sdn", "confidence": True},
        {"head": "conv"},
        {"head": "class_means"},
    ):
        model = EarlyExitModel.from_backbone(small_cnn(seed=5), ["p1", "p2"], 4,
                                             **kwargs)
        model.compile("adam")
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        if kwargs["head"] == "class_means":
            model.fit_class_means(x, y)
        models.append(model)
    diffs = qat.rebuild_differences(models, x)
    assert len(diffs) == len(models)
    for model, model_diffs in zip(models, diffs):
        assert len(model_diffs) == model.num_exits == 3
        assert max(model_diffs) < 1e-5, (model.heads[0].name, model_diffs)


@requires_tfmot
def test_qat_export_runs_close_to_float_and_never_loads_tfmot_here(tmp_path):
    legacy_before = os.environ.get(LEGACY)
    # Trained (every exit right on the toy data), its first exit short of
    # saturating: a threshold between two samples' scores there (half of
    # them leave), 0.9 at the saturated second exit (int8 softmax outputs go
    # in steps of 1/256: 0.99998 would be out of their reach).
    model, x, y = make_model(head="sdn", epochs=4, learning_rate=3e-3)
    outputs = model.predict_exits(x)
    thresholds = [midpoints(outputs[0].max(axis=1), 0.5), 0.9]
    manifest = deploy.export_quantization_aware(
        model, tmp_path, thresholds, x, y, epochs=2
    )
    assert "tensorflow_model_optimization" not in sys.modules
    assert "tf_keras" not in sys.modules
    assert os.environ.get(LEGACY) == legacy_before

    assert manifest.quantize == "int8"
    assert manifest.training["qat_epochs"] == 2
    assert manifest.training["sparsity"] is None
    assert manifest.exit_costs == model.exit_costs.to_dict()
    assert deploy.Manifest.read(tmp_path).training == manifest.training
    for i, stage in enumerate(manifest.stages):
        assert stage.input.name == ("image" if i == 0 else "features_in")
        assert stage.input.dtype == stage.exit.dtype == "int8"
        dtypes, _ = stage_tensors(tmp_path / stage.file)
        assert dtypes <= {"int8", "int32"}, dtypes  # full integer

    runtime = deploy.load(tmp_path)
    assert runtime.unchanged_hand_overs == [True, True]
    result = runtime.predict_early_exit(x, batch_size=16)
    expected = model.predict_early_exit(x, thresholds)
    # QAT fine-tuning (lr 1e-4, 2 epochs) and int8 stay within 5 points of
    # the float model's accuracy (measured: 1.0 both) and most samples leave
    # where the float model's do (measured: 84%; the others leave earlier:
    # the fine-tuning makes the first exit a little surer, and its scores
    # are packed between 0.82 and 0.90 around the median threshold).
    assert abs(result.accuracy(y) - expected.accuracy(y)) <= 0.05
    assert np.mean(result.exit_indices == expected.exit_indices) >= 0.8
    for ours, keras_output in zip(runtime.run_stages(x), outputs):
        assert np.abs(ours - keras_output).max() < 0.1
    assert 0.3 < np.mean(expected.exit_indices == 0) < 0.7
    np.testing.assert_array_equal(
        result.macs, np.asarray(model.exit_macs)[result.exit_indices]
    )


@requires_tfmot
def test_sparsity_prunes_the_kernels_and_class_means_export_runs(tmp_path):
    model, x, y = make_model(head="class_means")
    outputs = model.predict_exits(x)
    thresholds = thresholds_between_samples(model, outputs, "class_means")
    manifest = deploy.export_quantization_aware(
        model, tmp_path, thresholds, x, y, rule="class_means", epochs=2,
        sparsity=0.5,
    )
    assert manifest.training["sparsity"] == 0.5
    assert manifest.training["pruning_epochs"] == 2
    recorded = manifest.training["weight_sparsity"]
    assert set(recorded) == {"b1", "b2", "b3", "logits"}
    assert min(recorded.values()) >= 0.49
    kernels = {}
    for stage in manifest.stages:
        dtypes, zeros = stage_tensors(tmp_path / stage.file)
        assert dtypes <= {"int8", "int32"}, dtypes  # the E2CM head too
        kernels.update(zeros)
    assert len(kernels) == 4  # b1, b2, b3, logits
    assert min(kernels.values()) >= 0.49, kernels

    assert manifest.training["class_means_refit"] is True
    # Half the weights gone, the exits are not the float model's any more:
    # it runs, and stays within 10 points of the float model's accuracy.
    result = deploy.load(tmp_path).predict_early_exit(x, batch_size=32)
    expected = model.predict_early_exit(x, thresholds, rule="class_means")
    assert abs(result.accuracy(y) - expected.accuracy(y)) <= 0.1


@requires_tfmot
def test_worker_errors_name_the_layer_it_cannot_rebuild(tmp_path):
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", name="b1")(inputs)
    x = keras.layers.RMSNormalization(name="norm")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    model = EarlyExitModel.from_backbone(keras.Model(inputs, outputs), ["b1"], 4)
    x, y = toy_data(32)
    with pytest.raises(qat.QuantizationAwareTrainingError) as info:
        deploy.export_quantization_aware(model, tmp_path, [0.9], x, y, epochs=1)
    message = str(info.value)
    assert "`norm`" in message and "RMSNormalization" in message, message
    assert not os.path.exists(tmp_path / "manifest.json")


@pytest.mark.parametrize(
    "argument, value",
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("batch_size", 0),
        ("learning_rate", 0.0),
        ("sparsity", 1.5),
        ("sparsity", 0.0),
        ("verbose", 3),
        ("max_representative", 0),
    ],
)
def test_bad_arguments_raise_before_any_work(tmp_path, monkeypatch, argument,
                                             value):
    model, x, y = _untrained()
    monkeypatch.setattr(qat, "run_worker", _no_worker)
    target = tmp_path / "out"
    assert_invalid(argument, deploy.export_quantization_aware, model, target,
                   [0.9, 0.9], x, y, **{argument: value})
    assert not target.exists()


def test_bad_data_and_model_raise(tmp_path, monkeypatch):
    model, x, y = _untrained()
    monkeypatch.setattr(qat, "run_worker", _no_worker)
    export = deploy.export_quantization_aware
    assert_invalid("y_train", export, model, tmp_path, [0.9, 0.9], x, y[:-1])
    assert_invalid("y_train", export, model, tmp_path, [0.9, 0.9], x, y + 4)
    assert_invalid("x_train", export, model, tmp_path, [0.9, 0.9], x[..., :0], y)
    assert_invalid("model", export, "model", tmp_path, [0.9, 0.9], x, y)
    assert_invalid("thresholds", export, model, tmp_path, [0.9], x, y)


def test_missing_tfmot_raises_an_import_error_naming_the_extra(tmp_path,
                                                               monkeypatch):
    model, x, y = _untrained()
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        qat.importlib.util, "find_spec",
        lambda name, *a: None if name == "tensorflow_model_optimization"
        else find_spec(name, *a),
    )
    with pytest.raises(ImportError, match=r'pip install "keras-nachos\[tfmot\]"'):
        deploy.export_quantization_aware(model, tmp_path, [0.9, 0.9], x, y)


def _untrained():
    x, y = toy_data(16)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    return model, x, y


def _no_worker(*args, **kwargs):
    raise AssertionError("the worker ran")


@requires_tfmot
def test_worker_ignores_another_keras_nachos_beside_the_caller(tmp_path, monkeypatch):
    # `python -m` puts the working folder first on the path: a folder named
    # keras_nachos there (an old checkout, say) must not be the one the
    # worker imports.
    decoy = tmp_path / "keras_nachos"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy')\n")
    monkeypatch.chdir(tmp_path)
    x, _ = toy_data(16, seed=4)
    model = EarlyExitModel.from_backbone(small_cnn(seed=1), ["p1", "p2"], 4)
    diffs = qat.rebuild_differences([model], x)
    assert max(diffs[0]) < 1e-5
