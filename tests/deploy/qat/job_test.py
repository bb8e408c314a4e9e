"""Tests of `keras_nachos.deploy.qat.job`: what the caller and the worker
hand each other survives the files it goes through."""

import json

import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos.deploy.qat import job as job_module
from keras_nachos.deploy.qat.job import ExportReport
from keras_nachos.deploy.qat.job import Job
from keras_nachos.deploy.qat.job import JobData
from keras_nachos.deploy.qat.job import JobError
from keras_nachos.deploy.qat.job import JobOptions
from keras_nachos.deploy.qat.job import RebuildCheck
from keras_nachos.deploy.qat.job import RebuildReport
from keras_nachos.deploy.qat.job import StageReport
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


def test_inputs_round_trip_through_the_job_folder(tmp_path):
    x, y = toy_data(12)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    options = JobOptions(mode="export", epochs=2, batch_size=8,
                         learning_rate=1e-5, sparsity=0.5, verbose=1)
    data = JobData(x=x, y=y, representative=x[:5])
    Job(tmp_path).write_inputs(model, options, data)

    job = Job(str(tmp_path))  # The worker's view of the same folder.
    assert job.read_options() == options
    read = job.read_data()
    np.testing.assert_array_equal(read.x, x)
    np.testing.assert_array_equal(read.y, y)
    np.testing.assert_array_equal(read.representative, x[:5])
    assert read.y.dtype == y.dtype
    loaded = job.load_models(options)
    assert isinstance(loaded, EarlyExitModel)
    for a, b in zip(loaded.predict_exits(x), model.predict_exits(x)):
        np.testing.assert_array_equal(a, b)


def test_rebuild_check_inputs_hold_every_model_and_no_labels(tmp_path):
    x, _ = toy_data(4)
    models = [EarlyExitModel.from_backbone(small_cnn(seed=s), ["p1"], 4)
              for s in (0, 1)]
    options = JobOptions(mode="rebuild_check", models=2)
    Job(tmp_path).write_inputs(models, options, JobData(x=x))
    job = Job(tmp_path)
    data = job.read_data()
    assert data.y is None and data.representative is None
    loaded = job.load_models(job.read_options())
    assert [m.exit_names for m in loaded] == [["exit_1", "final"]] * 2
    for a, b in zip(loaded[1].predict_exits(x), models[1].predict_exits(x)):
        np.testing.assert_array_equal(a, b)


def test_reports_round_trip_through_json(tmp_path):
    export = ExportReport(
        stages=[
            StageReport("stage_1.tflite", [], {"b1": 0.5}),
            StageReport("stage_2.tflite", ["DEQUANTIZE"], {"b2": 0.25,
                                                           "logits": 0.5}),
        ],
        history={"loss": [1.5, 0.75]},
        pruning_history=None,
        class_means_refit=True,
    )
    assert export.weight_sparsity == {"b1": 0.5, "b2": 0.25, "logits": 0.5}
    rebuild = RebuildReport(models=[RebuildCheck([0.0, 1e-7], ["image", "b1"])])
    job = Job(tmp_path)
    for report, mode in ((export, "export"), (rebuild, "rebuild_check")):
        job.write_report(report)
        assert job.read_report(JobOptions(mode=mode)) == report
    with open(job.path(Job.REPORT)) as f:
        assert json.load(f) == {"models": [{"max_abs_diff": [0.0, 1e-7],
                                            "layers": ["image", "b1"]}]}


def test_error_round_trips_and_is_absent_until_written(tmp_path):
    job = Job(tmp_path)
    assert job.read_error() is None
    job.write_error(KeyError("stage"))
    assert job.read_error() == JobError(type="KeyError", message="'stage'")


def test_options_refuse_an_unknown_mode():
    with pytest.raises(ValueError, match="argument `mode`.*Received: mode='train'"):
        JobOptions(mode="train")
    assert job_module.MODES == ("export", "rebuild_check")
    options = JobOptions(mode="rebuild_check", models=3)
    assert JobOptions.from_dict(json.loads(json.dumps(options.to_dict()))) == options
