"""Helpers shared by the tests of `keras_nachos.deploy.qat`.

The tfmot work runs in a worker process; tests that start it are skipped
when tfmot or tf_keras is not installed (`pip install
"keras-nachos[tfmot]"`), looked up without importing them: importing tfmot
here would switch this process to tf_keras.
"""

import importlib.util

import pytest

from keras_nachos.deploy.qat.worker_process import REQUIREMENTS

requires_tfmot = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in REQUIREMENTS),
    reason='needs pip install "keras-nachos[tfmot]"',
)
