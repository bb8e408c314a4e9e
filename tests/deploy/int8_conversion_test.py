"""Tests of `keras_nachos.deploy.int8_conversion`: the int8 converter in a
worker process, whose crash is an error here."""

import json
import signal
import subprocess

import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos.deploy import int8_conversion
from keras_nachos.deploy.int8_conversion import ConversionError
from keras_nachos.deploy.int8_conversion import convert_int8_in_worker
from tests.testing_utils import small_cnn


def test_a_converter_crash_does_not_take_this_process_down(tmp_path):
    # NaN representative data crash TensorFlow's converter (a segmentation
    # fault: the export's checks refuse them first); in the worker, it is an
    # error here, naming the stage.
    model = EarlyExitModel.from_backbone(small_cnn(seed=2), ["p1", "p2"], 4)
    first_stage = model.stage_plan.export_models()[0]
    x = np.full((4, 16, 16, 1), np.nan, "float32")
    with pytest.raises(ConversionError, match=r"The int8 conversion of "
                       r"stage_1 crashed its worker process \(SIG\w+\); this "
                       "process goes on and nothing was written"):
        convert_int8_in_worker([first_stage], [x], str(tmp_path))


def test_failures_are_named_with_the_worker_error_or_its_signal(tmp_path):
    # (The int8 exports of the runtime tests run the worker's good path.)
    crashed = subprocess.CompletedProcess(
        [], -signal.SIGSEGV, "", "converting\nquantizing\n\n")
    message = int8_conversion._failure(str(tmp_path), "stage_2", crashed)
    assert message.startswith("The int8 conversion of stage_2 crashed its "
                              "worker process (SIGSEGV)")
    assert message.endswith("last lines: converting | quantizing")
    exited = subprocess.CompletedProcess([], 3, "", "")
    assert "ended its worker process with exit status 3" in (
        int8_conversion._failure(str(tmp_path), "stage_1", exited))
    (tmp_path / int8_conversion.ERROR).write_text(json.dumps(
        {"type": "ConverterError", "message": "no such op"}))
    assert int8_conversion._failure(str(tmp_path), "stage_1", exited) == (
        "The int8 conversion of stage_1 failed (in its worker process): "
        "ConverterError: no such op")
