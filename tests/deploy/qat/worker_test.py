"""Tests of `keras_nachos.deploy.qat.worker`: how the worker reports what
stops it. Its work (rebuild, QAT, int8 stages) is checked by running it:
tests/deploy/qat/export_test.py and tf_keras_rebuild_test.py."""

import json
import sys

from keras_nachos.deploy.qat import worker
from keras_nachos.deploy.qat.job import Job


def test_a_failing_job_writes_its_error_and_exits_with_1(tmp_path, capsys):
    job = Job(tmp_path)
    with open(job.path(Job.OPTIONS), "w") as f:
        json.dump({"mode": "train"}, f)
    assert worker.main(str(tmp_path)) == 1
    error = job.read_error()
    assert error.type == "ValueError"
    assert "Received: mode='train'" in error.message
    assert "Traceback" in capsys.readouterr().err  # for the caller's log
    assert not (tmp_path / Job.REPORT).exists()


def test_a_job_without_inputs_names_the_missing_file(tmp_path):
    assert worker.main(str(tmp_path)) == 1
    error = Job(tmp_path).read_error()
    assert error.type == "FileNotFoundError"
    assert Job.OPTIONS in error.message
    # Failing before any work, the worker never loaded tfmot here.
    assert "tensorflow_model_optimization" not in sys.modules
