"""keras_nachos: early-exit neural networks under hardware budgets.

The package reads as its architecture: `models` (the early-exit model, its
graph cuts and head factory), `heads`, `rules` (when a sample leaves),
`training` (exit losses, exit weights, callbacks, E2CM class means), `costs`
(MAC counting and exit costs), `inference` (the staged early-exit runner),
`calibration` (thresholds under constraints), `search` (the NACHOS
architecture search), `reporting` (reports, plots, results files), `datasets`.
"""

import keras as _keras

if _keras.backend.backend() != "tensorflow":
    raise ImportError(
        "keras_nachos needs Keras' TensorFlow backend, but Keras runs the "
        f"{_keras.backend.backend()!r} backend. Set the environment variable "
        "KERAS_BACKEND=tensorflow (or \"backend\" in ~/.keras/keras.json) "
        "before Keras is imported."
    )

from keras_nachos import calibration  # noqa: E402
from keras_nachos import costs  # noqa: E402
from keras_nachos import datasets  # noqa: E402
from keras_nachos import heads  # noqa: E402
from keras_nachos import rules  # noqa: E402
from keras_nachos import training  # noqa: E402
from keras_nachos.calibration import CalibrationResult  # noqa: E402
from keras_nachos.calibration import calibrate_thresholds  # noqa: E402
from keras_nachos.costs import ExitCosts  # noqa: E402
from keras_nachos.costs import MacReport  # noqa: E402
from keras_nachos.costs import count_macs  # noqa: E402
from keras_nachos.costs import mac_report  # noqa: E402
from keras_nachos.costs import register_mac_counter  # noqa: E402
from keras_nachos.heads import ClassMeansHead  # noqa: E402
from keras_nachos.heads import ConvHead  # noqa: E402
from keras_nachos.heads import ExitHead  # noqa: E402
from keras_nachos.heads import GlobalPoolHead  # noqa: E402
from keras_nachos.heads import MixedPoolHead  # noqa: E402
from keras_nachos.inference import EarlyExitResult  # noqa: E402
from keras_nachos.models import EarlyExitModel  # noqa: E402
from keras_nachos.reporting import EarlyExitReport  # noqa: E402
from keras_nachos.rules import CascadeConfidence  # noqa: E402
from keras_nachos.rules import ClassMeans  # noqa: E402
from keras_nachos.rules import Entropy  # noqa: E402
from keras_nachos.rules import ExitRule  # noqa: E402
from keras_nachos.rules import MaxProbability  # noqa: E402
from keras_nachos.rules import ScoreMargin  # noqa: E402
from keras_nachos.training import ConstantExitWeights  # noqa: E402
from keras_nachos.training import NachosLoss  # noqa: E402
from keras_nachos.training import SDNRamp  # noqa: E402
from keras_nachos.training import SupportSetCallback  # noqa: E402
from keras_nachos.training import split_support_set  # noqa: E402
from keras_nachos.version import __version__  # noqa: E402
