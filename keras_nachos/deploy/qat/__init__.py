"""Quantisation-aware training before an int8 export, with tfmot in a worker.

`export.py` holds the caller's side (`export_quantization_aware`), `job.py`
the files the caller and the worker hand each other, `worker_process.py`
starts the worker, `worker.py` is the worker (which alone imports tfmot,
`fine_tuning.py`, `int8_stages.py` and `tf_keras_rebuild.py`).
"""

from keras_nachos.deploy.qat.export import export_quantization_aware
from keras_nachos.deploy.qat.export import rebuild_differences
from keras_nachos.deploy.qat.worker_process import QuantizationAwareTrainingError
from keras_nachos.deploy.qat.worker_process import check_tfmot_installed
