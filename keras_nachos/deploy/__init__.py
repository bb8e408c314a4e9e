"""Deployment: an EENN as LiteRT files with its early exit kept real."""

from keras_nachos.deploy.export import export_early_exit
from keras_nachos.deploy.export import stage_export_models
from keras_nachos.deploy.int8_conversion import ConversionError
from keras_nachos.deploy.manifest import Manifest
from keras_nachos.deploy.manifest import ManifestError
from keras_nachos.deploy.manifest import UnverifiedExportWarning
from keras_nachos.deploy.micro import prepare_for_micro
from keras_nachos.deploy.qat.export import export_quantization_aware
from keras_nachos.deploy.qat.worker_process import QuantizationAwareTrainingError
from keras_nachos.deploy.qat.worker_process import check_tfmot_installed
from keras_nachos.deploy.runtime import EarlyExitRuntime
from keras_nachos.deploy.runtime import load
