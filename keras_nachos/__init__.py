"""keras_nachos: early-exit neural networks under hardware budgets."""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_nachos import calibration  # noqa: E402
from keras_nachos import callbacks  # noqa: E402
from keras_nachos import datasets  # noqa: E402
from keras_nachos import exit_rules  # noqa: E402
from keras_nachos import heads  # noqa: E402
from keras_nachos import losses  # noqa: E402
from keras_nachos.calibration import CalibrationResult  # noqa: E402
from keras_nachos.calibration import calibrate_thresholds  # noqa: E402
from keras_nachos.callbacks import SupportSetCallback  # noqa: E402
from keras_nachos.callbacks import split_support_set  # noqa: E402
from keras_nachos.early_exit_inference import EarlyExitResult  # noqa: E402
from keras_nachos.early_exit_model import EarlyExitModel  # noqa: E402
from keras_nachos.exit_rules import CascadeConfidence  # noqa: E402
from keras_nachos.exit_rules import ClassMeans  # noqa: E402
from keras_nachos.exit_rules import Entropy  # noqa: E402
from keras_nachos.exit_rules import ExitRule  # noqa: E402
from keras_nachos.exit_rules import MaxProbability  # noqa: E402
from keras_nachos.exit_rules import ScoreMargin  # noqa: E402
from keras_nachos.exit_weights import ConstantExitWeights  # noqa: E402
from keras_nachos.exit_weights import SDNRamp  # noqa: E402
from keras_nachos.heads import ClassMeansHead  # noqa: E402
from keras_nachos.heads import ConvHead  # noqa: E402
from keras_nachos.heads import ExitHead  # noqa: E402
from keras_nachos.heads import GlobalPoolHead  # noqa: E402
from keras_nachos.heads import MixedPoolHead  # noqa: E402
from keras_nachos.losses import NachosLoss  # noqa: E402
from keras_nachos.mac_counter import MacReport  # noqa: E402
from keras_nachos.mac_counter import count_macs  # noqa: E402
from keras_nachos.mac_counter import mac_report  # noqa: E402
from keras_nachos.mac_counter import register_mac_counter  # noqa: E402
from keras_nachos.version import __version__  # noqa: E402
