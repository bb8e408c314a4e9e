"""Reports, plots and results files of early-exit models and searches."""

from keras_nachos.reporting.early_exit_report import EarlyExitReport
