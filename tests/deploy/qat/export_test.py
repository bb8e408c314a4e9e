"""Tests of `keras_nachos.deploy.qat.export`: quantisation-aware training
(and pruning) before the int8 export, run in the worker process on tiny
models (`small_cnn`, `toy_data`)."""

import os
import shutil
import sys

import keras
import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos import deploy
from keras_nachos.deploy.interpreters import make_interpreter
from keras_nachos.deploy.qat import export as qat_export
from keras_nachos.deploy.qat.job import ExportReport
from keras_nachos.deploy.qat.job import StageReport
from tests.deploy.qat.testing_utils import requires_tfmot
from tests.deploy.testing_utils import copy_export
from tests.deploy.testing_utils import folder_state
from tests.deploy.testing_utils import midpoints
from tests.deploy.testing_utils import thresholds_between_samples
from tests.testing_utils import assert_invalid
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data

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
    monkeypatch.setattr(qat_export, "run_worker", _no_worker)
    target = tmp_path / "out"
    assert_invalid(argument, deploy.export_quantization_aware, model, target,
                   [0.9, 0.9], x, y, **{argument: value})
    assert not target.exists()


def test_bad_data_and_model_raise(tmp_path, monkeypatch):
    model, x, y = _untrained()
    monkeypatch.setattr(qat_export, "run_worker", _no_worker)
    export = deploy.export_quantization_aware
    assert_invalid("y_train", export, model, tmp_path, [0.9, 0.9], x, y[:-1])
    assert_invalid("y_train", export, model, tmp_path, [0.9, 0.9], x, y + 4)
    assert_invalid("x_train", export, model, tmp_path, [0.9, 0.9], x[..., :0], y)
    assert_invalid("model", export, "model", tmp_path, [0.9, 0.9], x, y)
    assert_invalid("thresholds", export, model, tmp_path, [0.9], x, y)


def _untrained():
    x, y = toy_data(16)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    return model, x, y


def _no_worker(*args, **kwargs):
    raise AssertionError("the worker ran")


def test_non_finite_data_is_refused_before_the_worker(tmp_path, monkeypatch):
    model, x, y = _untrained()
    monkeypatch.setattr(qat_export, "run_worker", _no_worker)
    export = deploy.export_quantization_aware
    nan = x.copy()
    nan[2, 5, 5, 0] = np.nan
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "manifest.json").write_text("{}")
    for target in (tmp_path / "new", earlier):
        assert_invalid("x_train", export, model, target, [0.9, 0.9], nan, y)
        for bad in (nan, x[:0], nan[..., :0]):
            assert_invalid("representative_data", export, model, target,
                           [0.9, 0.9], x, y, representative_data=bad)
    assert os.listdir(tmp_path) == ["earlier"]
    assert os.listdir(earlier) == ["manifest.json"]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_a_failed_export_leaves_the_earlier_one(float_exports, tmp_path,
                                                monkeypatch, failure):
    model, _, folder = float_exports["model"]
    x, y = toy_data(16)

    def worker(models, workdir, options, data):
        # What the worker leaves in its folder: the stage files, a report.
        for stage in model.stage_plan.stages:
            shutil.copyfile(os.path.join(folder, stage.file_name),
                            os.path.join(workdir, stage.file_name))
        return ExportReport(
            stages=[StageReport(file=s.file_name, float_ops=[],
                                weight_sparsity={})
                    for s in model.stage_plan.stages],
            history={"loss": [0.5]}, pruning_history=None,
            class_means_refit=False)

    def interrupted(*args, **kwargs):
        raise failure("stopped while writing the manifest")

    monkeypatch.setattr(qat_export, "check_tfmot_installed", lambda: None)
    monkeypatch.setattr(qat_export, "run_worker", worker)
    monkeypatch.setattr(qat_export, "write_manifest", interrupted)
    earlier = copy_export(folder, tmp_path / "earlier")
    before = folder_state(earlier)
    for target in (tmp_path / "new", earlier):
        with pytest.raises(failure):
            deploy.export_quantization_aware(model, target, [0.9, 0.9], x, y)
    assert folder_state(earlier) == before
    assert os.listdir(tmp_path) == ["earlier"]
