"""Inference with a real early exit."""

from keras_nachos.inference.early_exit_result import EarlyExitResult
from keras_nachos.inference.staged_runner import StagedRunner
